/**
 * How the gateway talks to one subgraph: the URL from configuration (the supergraph's
 * URLs are placeholders), a per-subgraph timeout through an AbortSignal-aware fetch, the
 * caller's verified id and scopes and a request id, signed with the internal secret
 * (lib/internal-signature.ts), and failures turned into a clear SUBGRAPH_UNAVAILABLE error
 * naming the subgraph and, for an entity fetch, the path of the fields it could not fetch.
 * The gateway keeps the data the other subgraphs returned (partial results).
 */
import { randomUUID } from 'node:crypto';
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
import type { GatewayContext } from './context.ts';
import { gatewayError } from './errors.ts';
import { gatewayMetrics } from './metrics.ts';

type Fetcher = RemoteGraphQLDataSource['fetcher'];
type FetcherResponse = Awaited<ReturnType<Fetcher>>;

/**
 * Node's fetch with a deadline per request (covering the response body too). With a
 * secret, it signs the claims `willSendRequest` put in the headers together with the
 * exact body (built after willSendRequest, and different per APQ attempt), so it is here
 * that every byte the subgraph will verify is known.
 */
export function fetchWithTimeout(timeoutMs: number, signingSecret?: string): Fetcher {
  return async (url, init) => {
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = init?.signal instanceof AbortSignal ? AbortSignal.any([init.signal, deadline]) : deadline;
    const method = init?.method ?? 'GET';
    const headers = { ...init?.headers };
    delete headers[SIGNATURE_HEADER];
    if (signingSecret) {
      const target = new URL(url);
      const signed = signHttpRequest(
        signingSecret,
        { method, path: `${target.pathname}${target.search}`, body: init?.body ?? '' },
        {
          principal: headers[PRINCIPAL_HEADER] ?? '',
          scopes: (headers[SCOPES_HEADER] ?? '').split(',').filter((s) => s.length > 0),
          requestId: headers[REQUEST_ID_HEADER] ?? '',
        },
      );
      Object.assign(headers, signed);
    }
    const response = await fetch(url, {
      method,
      headers,
      ...(init?.body !== undefined ? { body: init.body } : {}),
      signal,
    });
    return response as unknown as FetcherResponse;
  };
}

export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  private readonly subgraph: string;
  private readonly timeoutMs: number;

  constructor(options: { name: string; url: string; timeoutMs: number; signingSecret?: string }) {
    super({ url: options.url, fetcher: fetchWithTimeout(options.timeoutMs, options.signingSecret) });
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
    const reason = timedOut ? 'timeout' : typeof status === 'number' ? `http_${status}` : 'unreachable';
    gatewayMetrics.subgraphErrors.inc({ subgraph: this.subgraph, reason });
    const message = timedOut
      ? `subgraph "${this.subgraph}" did not answer within ${this.timeoutMs} ms`
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
