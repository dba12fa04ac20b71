/**
 * What the gateway tells a subgraph about the caller (principal id, scopes, request id) is
 * signed with a secret they share, and a subgraph believes only what verifies: a header is
 * a claim, a signature is a fact (the idea of Hive Gateway's HMAC signature plugin and of
 * RFC 9421 message signatures, cut down to the one sender and the fields we forward).
 *
 * HTTP: HMAC-SHA-256 over a canonical JSON array of a version tag, the timestamp, the
 * method, the path with its query, the claims and the SHA-256 of the exact body bytes, in
 * header `x-tickcast-signature: t=<unix seconds>,v1=<base64url>`; the claims travel in
 * their own headers. graphql-ws: the connection_init payload carries the claims, a
 * timestamp, a nonce and the signature over them (a different tag, so neither form can be
 * replayed as the other). A signature older or newer than `MAX_SKEW_MS` is stale, and with a
 * `ReplayGuard` one already used within that window is refused: a captured connection_init
 * would otherwise open further connections with its claims for a minute.
 *
 * Rotation: verifiers accept any of a list of secrets (current first, then previous ones);
 * the gateway signs with the first. Roll out `old,new` (everyone accepts the new one), then
 * `new,old` (the gateway signs with it), then `new` alone.
 */
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { z } from 'zod';

export const SIGNATURE_HEADER = 'x-tickcast-signature';
export const SCOPES_HEADER = 'x-tickcast-scopes';
export const PRINCIPAL_HEADER = 'x-tickcast-principal';
export const REQUEST_ID_HEADER = 'x-tickcast-request-id';

/** Clock skew (and transit time) a signature may show before it counts as stale. */
export const MAX_SKEW_MS = 60_000;
/** A secret shorter than this is guessable offline from one captured signature. */
export const MIN_SECRET_BYTES = 32;

const HTTP_TAG = 'tickcast-http-v1';
const WS_TAG = 'tickcast-ws-v1';
/** base64url of a SHA-256 HMAC: a signature of any other length is malformed, not compared. */
const SIGNATURE_LENGTH = 43;

/** What the gateway forwards about the caller. */
export interface Claims {
  /** The principal's id (API key id, `jwt:<sub>`); empty for the gateway's own requests. */
  readonly principal: string;
  readonly scopes: readonly string[];
  /** Names one request (HTTP) or one connection (graphql-ws, its nonce) in both sides' logs. */
  readonly requestId: string;
}

/** Why a claim was not believed: no signature at all, unreadable, too old or new, wrong, or used before. */
export type Rejection = 'unsigned' | 'malformed' | 'stale' | 'forged' | 'replayed';

export type Verification =
  { readonly ok: true; readonly claims: Claims } | { readonly ok: false; readonly reason: Rejection };

export interface HttpMessage {
  readonly method: string;
  /** Path and query as the subgraph sees them (`/graphql?x=1`). */
  readonly path: string;
  readonly body: string | Uint8Array;
}

function hmac(secret: string, canonical: unknown[]): string {
  return createHmac('sha256', secret).update(JSON.stringify(canonical)).digest('base64url');
}

function bodyDigest(body: string | Uint8Array): string {
  return createHash('sha256').update(body).digest('base64url');
}

function httpCanonical(timestamp: number, message: HttpMessage, claims: Claims): unknown[] {
  return [
    HTTP_TAG,
    timestamp,
    message.method.toUpperCase(),
    message.path,
    claims.principal,
    claims.scopes.join(','),
    claims.requestId,
    bodyDigest(message.body),
  ];
}

/** Equal in constant time, whichever secret of the list produced it. */
function matchesAny(secrets: readonly string[], signature: string, canonical: unknown[]): boolean {
  const given = Buffer.from(signature);
  let matched = false;
  for (const secret of secrets) {
    // Every secret is tried, so the time taken does not tell which one matched.
    if (timingSafeEqual(Buffer.from(hmac(secret, canonical)), given)) matched = true;
  }
  return matched;
}

/**
 * Signatures seen while they are fresh. The gateway signs every request and connection
 * anew (request id or nonce, timestamp), so a second use is a replay. Keyed by signature,
 * not request id: Apollo's APQ retry sends one request id with two bodies. Bounded: once
 * `max` signatures arrive within the window the oldest are forgotten, and per process, so
 * a replay to another replica is not caught.
 */
export class ReplayGuard {
  private readonly seen: LRUCache<string, true>;

  constructor(max = 100_000) {
    // Twice the skew: a signature stays fresh from MAX_SKEW_MS before its timestamp to MAX_SKEW_MS after.
    this.seen = new LRUCache<string, true>({ max, ttl: 2 * MAX_SKEW_MS, ttlAutopurge: false });
  }

  /** True the first time `signature` is offered. */
  firstUse(signature: string): boolean {
    if (this.seen.has(signature)) return false;
    this.seen.set(signature, true);
    return true;
  }
}

export interface VerifyOptions {
  /** Refuses a signature's second use; none: replays within the skew window verify. */
  readonly replays?: ReplayGuard | undefined;
  /** The verifier's clock (tests). */
  readonly nowMs?: number;
}

function fresh(timestampSeconds: number, nowMs: number): boolean {
  return Math.abs(nowMs - timestampSeconds * 1000) <= MAX_SKEW_MS;
}

function parseScopes(header: string): string[] {
  return header.split(',').filter((s) => s.length > 0);
}

/** The headers that carry `claims` and their signature for this exact message. */
export function signHttpRequest(
  secret: string,
  message: HttpMessage,
  claims: Claims,
  nowMs = Date.now(),
): Record<string, string> {
  const timestamp = Math.floor(nowMs / 1000);
  return {
    [PRINCIPAL_HEADER]: claims.principal,
    [SCOPES_HEADER]: claims.scopes.join(','),
    [REQUEST_ID_HEADER]: claims.requestId,
    [SIGNATURE_HEADER]: `t=${timestamp},v1=${hmac(secret, httpCanonical(timestamp, message, claims))}`,
  };
}

/** The claims of a request if its signature verifies with one of `secrets`, else why not. */
export function verifyHttpRequest(
  secrets: readonly string[],
  message: HttpMessage,
  header: (name: string) => string | undefined,
  { replays, nowMs = Date.now() }: VerifyOptions = {},
): Verification {
  const signature = header(SIGNATURE_HEADER);
  if (signature === undefined) return { ok: false, reason: 'unsigned' };
  const parts = /^t=(\d{1,12}),v1=([A-Za-z0-9_-]+)$/.exec(signature);
  if (!parts?.[1] || parts[2]?.length !== SIGNATURE_LENGTH) return { ok: false, reason: 'malformed' };
  const timestamp = Number(parts[1]);
  if (!fresh(timestamp, nowMs)) return { ok: false, reason: 'stale' };
  const claims: Claims = {
    principal: header(PRINCIPAL_HEADER) ?? '',
    scopes: parseScopes(header(SCOPES_HEADER) ?? ''),
    requestId: header(REQUEST_ID_HEADER) ?? '',
  };
  if (!matchesAny(secrets, parts[2], httpCanonical(timestamp, message, claims))) return { ok: false, reason: 'forged' };
  if (replays && !replays.firstUse(parts[2])) return { ok: false, reason: 'replayed' };
  return { ok: true, claims };
}

/** graphql-ws connection_init payload as the gateway sends it. */
const connectionParamsSchema = z.object({
  principal: z.string().max(256),
  scopes: z.string().max(256),
  timestamp: z.number().int().nonnegative(),
  nonce: z.string().min(1).max(64),
  signature: z.string().length(SIGNATURE_LENGTH),
});
export type SignedConnectionParams = z.infer<typeof connectionParamsSchema>;

function wsCanonical(params: Omit<SignedConnectionParams, 'signature'>): unknown[] {
  return [WS_TAG, params.timestamp, params.principal, params.scopes, params.nonce];
}

/** A connection_init payload carrying `claims` (its nonce a fresh UUID), signed. */
export function signConnectionParams(
  secret: string,
  claims: Omit<Claims, 'requestId'>,
  nowMs = Date.now(),
): SignedConnectionParams {
  const unsigned = {
    principal: claims.principal,
    scopes: claims.scopes.join(','),
    timestamp: Math.floor(nowMs / 1000),
    nonce: randomUUID(),
  };
  return { ...unsigned, signature: hmac(secret, wsCanonical(unsigned)) };
}

/** The claims of a connection_init payload if it verifies with one of `secrets`, else why not. */
export function verifyConnectionParams(
  secrets: readonly string[],
  params: Readonly<Record<string, unknown>> | undefined,
  { replays, nowMs = Date.now() }: VerifyOptions = {},
): Verification {
  if (params?.['signature'] === undefined) return { ok: false, reason: 'unsigned' };
  const parsed = connectionParamsSchema.safeParse(params);
  if (!parsed.success) return { ok: false, reason: 'malformed' };
  const { signature, ...signed } = parsed.data;
  if (!fresh(signed.timestamp, nowMs)) return { ok: false, reason: 'stale' };
  if (!matchesAny(secrets, signature, wsCanonical(signed))) return { ok: false, reason: 'forged' };
  if (replays && !replays.firstUse(signature)) return { ok: false, reason: 'replayed' };
  return {
    ok: true,
    claims: { principal: signed.principal, scopes: parseScopes(signed.scopes), requestId: signed.nonce },
  };
}
