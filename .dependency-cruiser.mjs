// Which folder may import which, checked on resolved paths by `npm run check:deps` (a CI step).
// Layers, from the bottom up; a module imports its own folder and the layers below it:
//
//   schema/    contracts (event schemas, topics, SQL); imports nothing of ours
//   lib/       infrastructure, indicator math, the candle CSV format; imports schema/ only
//   registry/  the model registry; imports lib/ and schema/ only
//   training/  may import registry/'s SHARED modules, never its internals, never streams/
//   streams/   may import the SHARED modules of registry/ and training/, nothing else of them
//   subgraphs/, gateway/   subgraphs never import each other or the gateway; the gateway never
//              imports a subgraph's internals (subgraphs/<name>/)
//   cli/, bench/, k8s/, grafana/, scripts/   outermost: nothing imports them
//
// registry/, training/ and streams/ sit side by side (the predictor in streams/ serves what
// training/ trains and stores in registry/); naming the direction between them keeps the three
// free of cycles.
//
// Test code (TEST_CODE) may import anything; only test code imports it, and bench/, which shares
// test/support/ (the real data's paths, free ports, topic clean-up) with the e2e tests: both are
// harnesses run against the same data and services, and neither ships in the image.
//
// No import cycles anywhere, type-only imports included: a cycle through `import type` is
// erased at run time, but neither module can still be read or changed without the other.

/** Unit tests and the helpers only they import. */
const TEST_CODE = '^test/|\\.test\\.ts$|^lib/indicators/test-fixtures\\.ts$|^training/onnx/test-support\\.ts$';

/**
 * What registry/ and training/ offer the folders beside them. The registry: its interface and
 * the factory that picks MLflow or the local directory, and the names tickcast stores in it.
 * Training: the model's input (the feature vector and its sentiment and cross-asset parts,
 * computed the same way when training and when predicting) and the ONNX runtime that runs a trained model.
 */
const SHARED = {
  registry: '^registry/(index|registry|model-names)\\.ts$',
  training: '^training/(features|sentiment|cross-asset|onnx/session)\\.ts$',
};

const OUTERMOST = '^(cli|bench|k8s|grafana|scripts)/';

/**
 * A rule that the production modules of `folder` import, of ours, only their own folder and
 * `allowed` (npm packages and Node built-ins are not layers).
 */
const layer = (name, folder, allowed, comment) => ({
  name,
  severity: 'error',
  comment,
  from: { path: `^${folder}/`, pathNot: TEST_CODE },
  to: { dependencyTypes: ['local'], pathNot: [`^${folder}/`, ...allowed] },
});

export default {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle: break it by moving the piece both need below both.',
      from: {},
      to: { circular: true },
    },
    layer('schema-imports-nothing', 'schema', [], 'schema/ is the contract: it imports nothing of ours.'),
    layer('lib-imports-schema-only', 'lib', ['^schema/'], 'lib/ sits on schema/ alone: everything else builds on it.'),
    layer(
      'registry-imports-lib-only',
      'registry',
      ['^(lib|schema)/'],
      'registry/ is the lowest of registry/, training/ and streams/: it imports lib/ and schema/ only.',
    ),
    layer(
      'training-imports-registry-shared-only',
      'training',
      ['^(lib|schema)/', SHARED.registry],
      `training/ imports lib/, schema/ and registry/'s shared modules (${SHARED.registry}), never streams/.`,
    ),
    layer(
      'streams-imports-shared-only',
      'streams',
      ['^(lib|schema)/', SHARED.registry, SHARED.training],
      `streams/ imports lib/, schema/ and the shared modules of registry/ and training/ (${SHARED.registry}, ${SHARED.training}), nothing above.`,
    ),
    {
      name: 'subgraphs-not-each-other',
      severity: 'error',
      comment: 'Subgraphs never import each other: share through schema/, lib/ or subgraphs/*.ts.',
      from: { path: '^subgraphs/([^/]+)/', pathNot: TEST_CODE },
      to: { path: '^subgraphs/[^/]+/', pathNot: '^subgraphs/$1/' },
    },
    {
      name: 'subgraphs-not-gateway',
      severity: 'error',
      comment: 'Subgraphs do not import the gateway (it calls them over HTTP and graphql-ws).',
      from: { path: '^subgraphs/', pathNot: TEST_CODE },
      to: { path: '^gateway/' },
    },
    {
      name: 'gateway-not-subgraph-internals',
      severity: 'error',
      comment: "The gateway never imports a subgraph's internals: it reaches subgraphs over the network.",
      from: { path: '^gateway/', pathNot: TEST_CODE },
      to: { path: '^subgraphs/[^/]+/' },
    },
    {
      name: 'nothing-imports-outermost',
      severity: 'error',
      comment: 'cli/, bench/, k8s/, grafana/ and scripts/ are entry points and tooling: only test code imports them.',
      from: { path: '^([^/]+)/', pathNot: TEST_CODE },
      to: { path: OUTERMOST, pathNot: '^$1/' },
    },
    {
      name: 'nothing-imports-test-code',
      severity: 'error',
      comment: 'Only test code imports test code; bench/ may use test/support/ (data paths, free ports, clean-up).',
      from: { pathNot: [TEST_CODE, '^bench/'] },
      to: { path: TEST_CODE },
    },
    {
      name: 'bench-imports-test-support-only',
      severity: 'error',
      comment: 'bench/ shares test/support/ with the e2e tests, nothing else of test/.',
      from: { path: '^bench/', pathNot: TEST_CODE },
      to: { path: TEST_CODE, pathNot: '^test/support/' },
    },
  ],
  options: {
    exclude: { path: '^(node_modules|\\.git|\\.cache|\\.services|\\.tickcast|dist|coverage)/' },
    doNotFollow: { path: 'node_modules' },
    // Keep `import type` edges: they are part of the direction and of cycles.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      // package.json "exports" (e.g. graphql-ws/use/ws) as Node resolves them; "types" for the
      // type-only packages (@apollo/server-gateway-interface).
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
    },
  },
};
