/**
 * How the gateway talks to one subgraph: the URL from configuration (the supergraph's
 * URLs are placeholders), a per-subgraph timeout through an AbortSignal-aware fetch, the
 * caller's verified scopes in header x-tickcast-scopes, and failures turned into a clear
 * SUBGRAPH_UNAVAILABLE error naming the subgraph. The gateway keeps the data the other
 * subgraphs returned (partial results).
 */
import { RemoteGraphQLDataSource, type GraphQLDataSourceProcessOptions } from '@apollo/gateway';
import { GraphQLError } from 'graphql';
import { scopesHeader } from './auth.ts';
import type { GatewayContext } from './context.ts';
import { gatewayError } from './errors.ts';
import { gatewayMetrics } from './metrics.ts';

type Fetcher = RemoteGraphQLDataSource['fetcher'];
type FetcherResponse = Awaited<ReturnType<Fetcher>>;

/** Node's fetch with a deadline per request (covering the response body too). */
export function fetchWithTimeout(timeoutMs: number): Fetcher {
  return async (url, init) => {
    const deadline = AbortSignal.timeout(timeoutMs);
    const signal = init?.signal instanceof AbortSignal ? AbortSignal.any([init.signal, deadline]) : deadline;
    const response = await fetch(url, {
      ...(init?.method ? { method: init.method } : {}),
      ...(init?.headers ? { headers: init.headers } : {}),
      ...(init?.body !== undefined ? { body: init.body } : {}),
      signal,
    });
    return response as unknown as FetcherResponse;
  };
}

export class SubgraphDataSource extends RemoteGraphQLDataSource<GatewayContext> {
  private readonly subgraph: string;
  private readonly timeoutMs: number;

  constructor(options: { name: string; url: string; timeoutMs: number }) {
    super({ url: options.url, fetcher: fetchWithTimeout(options.timeoutMs) });
    this.subgraph = options.name;
    this.timeoutMs = options.timeoutMs;
  }

  override willSendRequest(options: GraphQLDataSourceProcessOptions<GatewayContext>): void {
    // Only the gateway sets this header: subgraphs trust it, so it is never copied from the client.
    const principal = (options.context as Partial<GatewayContext>).principal;
    if (principal) options.request.http?.headers.set('x-tickcast-scopes', scopesHeader(principal));
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
