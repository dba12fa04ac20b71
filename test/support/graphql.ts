/** GraphQL over HTTP as the e2e tests speak it to a subgraph or the gateway. */
import assert from 'node:assert/strict';

/** An answer as the tests read it. */
export interface GraphQLResponse<T = Record<string, unknown>> {
  data?: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: { code?: string } }[];
}

export interface PostOptions {
  /** Extra headers, from the body about to be sent (a signature covers it). */
  readonly headers?: (body: string) => Record<string, string>;
  /** The HTTP status the answer must have; any when absent. */
  readonly status?: number;
}

/** POSTs `query` with `variables` to `url` and reads the JSON answer. */
export async function postGraphql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables: Record<string, unknown> = {},
  options: PostOptions = {},
): Promise<GraphQLResponse<T>> {
  const body = JSON.stringify({ query, variables });
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...options.headers?.(body) },
    body,
  });
  if (options.status !== undefined) assert.equal(response.status, options.status, `HTTP ${response.status}`);
  return (await response.json()) as GraphQLResponse<T>;
}

/** The data of an answer that must have no errors. */
export function dataOf<T>(response: GraphQLResponse<T>): T {
  assert.equal(response.errors, undefined, JSON.stringify(response.errors));
  assert.ok(response.data, `no data: ${JSON.stringify(response)}`);
  return response.data;
}

/** The error codes of an answer that must fail ('none' for an error without one). */
export function errorCodesOf(response: GraphQLResponse<unknown>): string[] {
  assert.ok(response.errors?.length, `expected errors, got ${JSON.stringify(response)}`);
  return response.errors.map((e) => e.extensions?.code ?? 'none');
}
