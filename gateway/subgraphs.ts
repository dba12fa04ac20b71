/**
 * How the gateway talks to one subgraph: the URL from configuration (the supergraph's
 * URLs are placeholders), kept-alive node:http connections, a per-subgraph timeout, identical
 * in-flight queries of one auth context sent once, the caller's verified id and scopes and a
 * request id, signed with the internal secret
 * (lib/internal-signature.ts), and failures turned into a clear SUBGRAPH_UNAVAILABLE error
 * naming the subgraph and, for an entity fetch, the path of the fields it could not fetch.
 * The gateway keeps the data the other subgraphs returned (partial results).
 */
import { randomUUID } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import type { GatewayGraphQLResponse } from '@apollo/server-gateway-interface';
import { GraphQLError, Kind, parse, type DocumentNode, type SelectionSetNode } from 'graphql';
import {
  PRINCIPAL_HEADER,
  REQUEST_ID_HEADER,
  SCOPES_HEADER,
  SIGNATURE_HEADER,
  signHttpRequest,
} from '../lib/internal-signature.ts';
import { scopesHeader } from './auth.ts';
import type { SubgraphConfig } from './config.ts';
import type { GatewayContext } from './context.ts';
import { gatewayError } from './errors.ts';
import { gatewayMetrics } from './metrics.ts';

type Fetcher = RemoteGraphQLDataSource['fetcher'];
type FetcherResponse = Awaited<ReturnType<Fetcher>>;

/**
 * Set by `willSendRequest` on a fetch of a client's query: one that may share an identical
 * fetch in flight, and may be sent again when a kept-alive connection turns out closed.
 * Removed by the fetcher before anything is signed or sent. Client headers are never copied
 * to subgraph requests, so only the gateway can set it.
 */
const QUERY_HEADER = 'x-tickcast-gateway-query';

/**
 * Open connections per subgraph. Past it, fetches wait in the agent for a free connection
 * (still under their deadline) instead of opening sockets without end.
 */
const MAX_SOCKETS_PER_SUBGRAPH = 256;

/**
 * An answer the gateway reads at most. The query limits bound what a client may ask for
 * (a list's page size, cost), so a legitimate answer is far smaller; past this a subgraph
 * is broken or compromised, and reading on would hold its bytes in this process.
 */
export const DEFAULT_MAX_SUBGRAPH_RESPONSE_BYTES = 32 * 1024 * 1024;

/** The answer passed the size bound: the fetch fails instead of reading it to the end. */
export class ResponseTooLargeError extends Error {
  override readonly name = 'ResponseTooLargeError';
}

/** A subgraph's answer read to the end: several callers can each build their own response from it. */
interface Answer {
  readonly url: string;
  readonly status: number;
  readonly statusText: string;
  /** Name/value pairs as received (IncomingMessage.rawHeaders). */
  readonly rawHeaders: readonly string[];
  readonly text: string;
}

/** The part of fetch's Response that RemoteGraphQLDataSource reads, over an answer already in memory. */
class AnswerResponse implements FetcherResponse {
  readonly redirected = false;
  readonly headers = new Headers();
  bodyUsed = false;

  constructor(private readonly answer: Answer) {
    const raw = answer.rawHeaders;
    for (let i = 0; i + 1 < raw.length; i += 2) this.headers.append(raw[i]!, raw[i + 1]!);
  }

  get url(): string {
    return this.answer.url;
  }
  get status(): number {
    return this.answer.status;
  }
  get statusText(): string {
    return this.answer.statusText;
  }
  get ok(): boolean {
    return this.answer.status >= 200 && this.answer.status < 300;
  }
  async text(): Promise<string> {
    this.bodyUsed = true;
    return this.answer.text;
  }
  async json(): Promise<unknown> {
    // Parsed per caller: callers that shared one subgraph request never share objects.
    return JSON.parse(await this.text());
  }
  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = Buffer.from(await this.text(), 'utf8');
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  }
  clone(): FetcherResponse {
    return new AnswerResponse(this.answer);
  }
}

export interface SubgraphFetcher extends Fetcher {
  /** Closes the kept-alive connections. */
  close(): void;
}

/**
 * The subgraph client: node:http over kept-alive connections (Node's fetch costs several times
 * the CPU per request in streams, abort signals and promise machinery, which the gateway's
 * profile showed as its largest item), a deadline per request covering the response body too,
 * identical in-flight fetches deduplicated (below), and a query sent again when the kept-alive
 * connection it went out on had been closed by the subgraph (once, on a new connection).
 *
 * With a secret, it signs the claims `willSendRequest` put in the headers together with the
 * exact body (built after willSendRequest, and different per APQ attempt), so it is here that
 * every byte the subgraph will verify is known.
 *
 * Deduplication, as Hive Gateway does by default: a fetch marked by `willSendRequest` that is
 * identical to one in flight waits for that one's answer instead of sending its own. Identical
 * means the same URL, method, body (query, variables, operation name, extensions) and every
 * header but the per-fetch request id, so the caller's principal and scopes are part of it:
 * callers with different auth contexts never share an answer. The key is that text itself,
 * not a digest of it, so two different requests cannot collide. Each caller parses the
 * answer itself, and entries leave the map when their request settles, so the map holds at
 * most the fetches in flight.
 */
export function subgraphFetcher(
  timeoutMs: number,
  signingSecret?: string,
  dedupe = true,
  maxResponseBytes = DEFAULT_MAX_SUBGRAPH_RESPONSE_BYTES,
): SubgraphFetcher {
  const agentOptions = { keepAlive: true, maxSockets: MAX_SOCKETS_PER_SUBGRAPH };
  const agents = { http: new HttpAgent(agentOptions), https: new HttpsAgent(agentOptions) };
  const inFlight = new Map<string, Promise<Answer>>();

  const send = (
    url: string,
    method: string,
    headers: Record<string, string>,
    body: string | Buffer,
    repeatable: boolean,
    signal?: AbortSignal,
  ) =>
    new Promise<Answer>((resolve, reject) => {
      const target = new URL(url);
      const secure = target.protocol === 'https:';
      let settled = false;
      const finish = (error: Error | undefined, answer?: Answer) => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        if (error) reject(error);
        else resolve(answer!);
      };
      const onResponse = (response: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let bytes = 0;
        response.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (bytes > maxResponseBytes) {
            finish(new ResponseTooLargeError(`the answer passed ${maxResponseBytes} bytes`));
            response.destroy();
            return;
          }
          chunks.push(chunk);
        });
        response.on('error', (error) => finish(error));
        response.on('end', () =>
          finish(undefined, {
            url,
            status: response.statusCode ?? 0,
            statusText: response.statusMessage ?? '',
            rawHeaders: response.rawHeaders,
            text: Buffer.concat(chunks, bytes).toString('utf8'),
          }),
        );
      };
      const options = {
        method,
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        agent: secure ? agents.https : agents.http,
        ...(signal ? { signal } : {}),
      };
      let request: ClientRequest;
      const attempt = (pooled: boolean) => {
        let answered = false;
        const respond = (response: IncomingMessage) => {
          answered = true;
          onResponse(response);
        };
        // The second attempt on a connection of its own: the pool may hold more closed ones.
        const attemptOptions = pooled ? options : { ...options, agent: false };
        const sent = secure
          ? httpsRequest(target, attemptOptions, respond)
          : httpRequest(target, attemptOptions, respond);
        request = sent;
        sent.on('error', (error: NodeJS.ErrnoException) => {
          // A kept-alive connection the subgraph closed while it sat idle (its keep-alive timeout
          // passed while this process was too busy to expire it first): reset before any answer,
          // the request never reached the subgraph.
          const stale = sent.reusedSocket && !answered && error.code === 'ECONNRESET';
          if (stale && repeatable && pooled && !settled) attempt(false);
          else finish(error);
        });
        sent.end(body);
      };
      // One deadline over every attempt. Named as AbortSignal.timeout's error is: didEncounterError
      // reports it as a timeout.
      const deadline = setTimeout(() => {
        finish(new DOMException(`no answer within ${timeoutMs} ms`, 'TimeoutError'));
        request.destroy();
      }, timeoutMs);
      attempt(true);
    });

  const fetcher = async (url: string, init?: Parameters<Fetcher>[1]): Promise<FetcherResponse> => {
    const method = init?.method ?? 'GET';
    const body = init?.body ?? '';
    const headers = { ...init?.headers };
    delete headers[SIGNATURE_HEADER];
    const query = headers[QUERY_HEADER] === '1';
    delete headers[QUERY_HEADER];
    const key = query && dedupe && !init?.signal ? dedupeKey(url, method, headers, body) : undefined;
    const shared = key === undefined ? undefined : inFlight.get(key);
    if (shared) return new AnswerResponse(await shared);

    if (signingSecret) {
      const target = new URL(url);
      const signed = signHttpRequest(
        signingSecret,
        { method, path: `${target.pathname}${target.search}`, body },
        {
          principal: headers[PRINCIPAL_HEADER] ?? '',
          scopes: (headers[SCOPES_HEADER] ?? '').split(',').filter((s) => s.length > 0),
          requestId: headers[REQUEST_ID_HEADER] ?? '',
        },
      );
      Object.assign(headers, signed);
    }
    const signal = init?.signal instanceof AbortSignal ? init.signal : undefined;
    const answer = send(url, method, headers, body, query, signal);
    if (key !== undefined) {
      inFlight.set(key, answer);
      const forget = () => inFlight.delete(key);
      answer.then(forget, forget);
    }
    return new AnswerResponse(await answer);
  };
  return Object.assign(fetcher, {
    close: () => {
      agents.http.destroy();
      agents.https.destroy();
    },
  });
}

/** Everything the subgraph sees of a request, but the per-fetch request id (see subgraphFetcher). */
function dedupeKey(url: string, method: string, headers: Record<string, string>, body: string | Buffer): string {
  const names = Object.keys(headers)
    .filter((name) => name !== REQUEST_ID_HEADER)
    .sort();
  return JSON.stringify([url, method, names.map((name) => [name, headers[name]]), body.toString()]);
}

export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  private readonly subgraph: string;
  private readonly timeoutMs: number;
  private readonly client: SubgraphFetcher;

  constructor(options: { name: string } & SubgraphConfig) {
    const client = subgraphFetcher(
      options.timeoutMs,
      options.signingSecret,
      options.dedupe ?? true,
      options.maxResponseBytes ?? DEFAULT_MAX_SUBGRAPH_RESPONSE_BYTES,
    );
    super({ url: options.url, fetcher: client });
    this.client = client;
    this.subgraph = options.name;
    this.timeoutMs = options.timeoutMs;
  }

  override willSendRequest(options: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    // Only the gateway sets these headers (never copied from the client); the fetcher signs
    // them. Without a principal (IntrospectAndCompose, health checks) they are signed empty.
    const headers = options.request.http?.headers;
    if (!headers) return;
    const principal = (options.context as Partial<GatewayContext>).principal;
    // Percent-encoded: a JWT subject may hold characters a header value cannot.
    headers.set(PRINCIPAL_HEADER, encodeURIComponent(principal?.id ?? ''));
    headers.set(SCOPES_HEADER, principal ? scopesHeader(principal) : '');
    headers.set(REQUEST_ID_HEADER, randomUUID());
    // Only a client's query may share a fetch or be sent again: never a mutation (nor the entity
    // fetches after one), and not a subscription event's fetches or schema loads, whose operation
    // is not known here.
    if ('incomingRequestContext' in options && options.incomingRequestContext.operation?.operation === 'query') {
      headers.set(QUERY_HEADER, '1');
    }
  }

  /** Closes the kept-alive connections to the subgraph. */
  close(): void {
    this.client.close();
  }

  /**
   * A failed entity fetch: its SUBGRAPH_UNAVAILABLE error gets the path of what is missing in
   * the client's answer, as Apollo Router and Hive Gateway locate theirs (@apollo/gateway
   * leaves it out). The path is where the entities sit (`pathInIncomingRequest`), cut before
   * the first list (`@`: every element is missing alike), plus the field when the fetch asked
   * for one only. A root fetch's error keeps no path: its fields are null at the root.
   */
  override async process(options: GraphQLDataSourceProcessOptions<GatewayContext>): Promise<GatewayGraphQLResponse> {
    try {
      return await super.process(options);
    } catch (error) {
      // Only operations the gateway runs for a client carry these (not health checks or schema loads).
      const path =
        'pathInIncomingRequest' in options
          ? missingPath(options.pathInIncomingRequest, options.document ?? parseQuery(options.request.query))
          : undefined;
      if (!(error instanceof GraphQLError) || error.path || !path) throw error;
      throw new GraphQLError(error.message, {
        path,
        extensions: error.extensions,
        ...(error.originalError ? { originalError: error.originalError } : {}),
      });
    }
  }

  override didEncounterError(error: Error): void {
    const status =
      error instanceof GraphQLError ? (error.extensions['response'] as { status?: unknown })?.status : undefined;
    const timedOut = error.name === 'TimeoutError' || (error.name === 'AbortError' && !status);
    const tooLarge = error.name === 'ResponseTooLargeError';
    const reason = timedOut
      ? 'timeout'
      : tooLarge
        ? 'too_large'
        : typeof status === 'number'
          ? `http_${status}`
          : 'unreachable';
    gatewayMetrics.subgraphErrors.inc({ subgraph: this.subgraph, reason });
    const message = timedOut
      ? `subgraph "${this.subgraph}" did not answer within ${this.timeoutMs} ms`
      : tooLarge
        ? `subgraph "${this.subgraph}" answered more than the gateway reads`
        : typeof status === 'number'
          ? `subgraph "${this.subgraph}" answered HTTP ${status}`
          : `subgraph "${this.subgraph}" is unavailable`;
    throw gatewayError('SUBGRAPH_UNAVAILABLE', message, {
      extensions: { serviceName: this.subgraph, reason },
      cause: error,
    });
  }
}

/** Where an entity fetch's fields go in the response, or undefined for a root fetch. */
export function missingPath(
  entities: readonly (string | number)[] | undefined,
  document: DocumentNode | undefined,
): (string | number)[] | undefined {
  if (!entities || entities.length === 0) return undefined;
  const list = entities.indexOf('@');
  const path = list === -1 ? [...entities] : entities.slice(0, list);
  if (list !== -1) return path.length > 0 ? path : undefined;
  const fields = document ? entityFields(document) : [];
  return fields.length === 1 ? [...path, fields[0]!] : path;
}

/** Response names of the fields an `_entities` fetch selects on its entities (not __typename). */
function entityFields(document: DocumentNode): string[] {
  const names = new Set<string>();
  const collect = (set: SelectionSetNode | undefined): void => {
    for (const selection of set?.selections ?? []) {
      if (selection.kind === Kind.INLINE_FRAGMENT) collect(selection.selectionSet);
      else if (selection.kind === Kind.FIELD && selection.name.value !== '__typename')
        names.add(selection.alias?.value ?? selection.name.value);
    }
  };
  for (const definition of document.definitions) {
    if (definition.kind !== Kind.OPERATION_DEFINITION) continue;
    for (const root of definition.selectionSet.selections)
      if (root.kind === Kind.FIELD && root.name.value === '_entities') collect(root.selectionSet);
  }
  return [...names];
}

/** The fetch's operation (the executor passes its document only when it kept one); only read after a failure. */
function parseQuery(query: string | undefined): DocumentNode | undefined {
  try {
    return query === undefined ? undefined : parse(query);
  } catch {
    return undefined;
  }
}
