# One image for every tickcast service: the CLI (`tickcast <command>`) starts any of them,
# and the Kubernetes manifests in k8s/ run it with `command: [tickcast]` and the service's
# arguments, e.g. `tickcast gateway`, `tickcast subgraph markets`, `tickcast stream candles`.
#
#   docker build -t tickcast:dev .
#   docker run --rm tickcast:dev --help
#
# TypeScript runs through the tsx loader (a production dependency), so there is no build
# step: the image is the sources plus production node_modules.

# Production dependencies only. .npmrc skips onnxruntime-node's CUDA download (its CPU
# binaries ship in the package).
FROM node:20-bookworm-slim AS dependencies
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    PATH=/app/bin:$PATH \
    TICKCAST_DATA_DIR=/tmp/tickcast
WORKDIR /app
COPY --from=dependencies /app/node_modules ./node_modules
COPY package.json tsconfig.json ./
COPY bin ./bin
COPY cli ./cli
COPY lib ./lib
COPY schema ./schema
COPY streams ./streams
COPY subgraphs ./subgraphs
COPY gateway ./gateway
COPY registry ./registry
COPY training ./training
# A fixed non-root uid (the manifests' runAsUser), owning nothing in /app: the code is
# read-only to the process; it writes only to /tmp (an emptyDir in Kubernetes).
USER 10001:10001
ENTRYPOINT ["tickcast"]
CMD ["--help"]
