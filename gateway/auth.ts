/**
 * Who is calling, and what they may do. Two kinds of credentials:
 *
 * - API keys, stored hashed only: `id:hash:scopes` entries where hash is `sha256:<hex>` of
 *   the key (keys are 256-bit random, so a fast hash suffices) or `scrypt:<salt hex>:<hash
 *   hex>` (for keys chosen by people; the key must then carry its id: `tck_<id>_<secret>`).
 *   Sent as `x-api-key: <key>` or `authorization: Bearer <key>`.
 * - JWTs from an identity provider, verified against its JWKS (jose), with issuer and
 *   audience pinned; scopes come from the `scope` (space-separated) or `scp` claim.
 *   Sent as `authorization: Bearer <jwt>`.
 *
 * Scopes are `read` (queries, subscriptions) and `admin` (mutations; includes read).
 * Transport-agnostic: HTTP passes headers, graphql-ws will pass connection_init params.
 */
import { createHash, randomBytes, scrypt as scryptCallback, timingSafeEqual, type BinaryLike } from 'node:crypto';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { z } from 'zod';
import { ConfigError } from '../lib/config.ts';
import type { Logger } from '../lib/logger.ts';
import type { AuthConfig, JwtConfig } from './config.ts';
import { gatewayError } from './errors.ts';

export const SCOPES = ['read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface Principal {
  readonly kind: 'api-key' | 'jwt' | 'anonymous';
  /** Stable per caller: the key id, `jwt:<sub>`, or the client address when auth is disabled. Names its rate-limit bucket. */
  readonly id: string;
  readonly scopes: ReadonlySet<Scope>;
}

export interface Credentials {
  readonly apiKey?: string | undefined;
  readonly bearer?: string | undefined;
}

/** `admin` includes `read`. Unknown scopes are dropped. */
export function effectiveScopes(scopes: Iterable<string>): ReadonlySet<Scope> {
  const result = new Set<Scope>();
  for (const scope of scopes) {
    if (scope === 'admin') result.add('admin').add('read');
    else if (scope === 'read') result.add('read');
  }
  return result;
}

/** Mutations need `admin`; queries and subscriptions need `read`. */
export function requiredScope(operation: 'query' | 'mutation' | 'subscription'): Scope {
  return operation === 'mutation' ? 'admin' : 'read';
}

/** Throws FORBIDDEN unless the principal may run this kind of operation. */
export function authorize(principal: Principal, operation: 'query' | 'mutation' | 'subscription'): void {
  const needed = requiredScope(operation);
  if (!principal.scopes.has(needed)) {
    throw gatewayError('FORBIDDEN', `this ${operation} needs the "${needed}" scope`, {
      extensions: { requiredScope: needed },
    });
  }
}

/** The value of header x-tickcast-scopes that subgraphs read. */
export function scopesHeader(principal: Principal): string {
  return SCOPES.filter((s) => principal.scopes.has(s)).join(',');
}

export function credentialsFromHeaders(header: (name: string) => string | undefined): Credentials {
  const apiKey = header('x-api-key')?.trim();
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header('authorization') ?? '');
  return { apiKey: apiKey || undefined, bearer: match?.[1] };
}

// ---- API keys ----

const ID = /^[A-Za-z0-9-]{1,64}$/;
const SHA256 = /^sha256:[0-9a-f]{64}$/;
const SCRYPT = /^scrypt:[0-9a-f]{32}:[0-9a-f]{64}$/;
const SCRYPT_PARAMS = { N: 16_384, r: 8, p: 1 } as const;
const MAX_KEY_LENGTH = 512;

export const apiKeyEntrySchema = z.object({
  id: z.string().regex(ID, 'key ids are 1-64 letters, digits or "-"'),
  hash: z
    .string()
    .refine((h) => SHA256.test(h) || SCRYPT.test(h), 'hash must be sha256:<64 hex> or scrypt:<32 hex>:<64 hex>'),
  scopes: z.array(z.enum(SCOPES)).min(1),
});
export type ApiKeyEntry = z.infer<typeof apiKeyEntrySchema>;

/** Parses `id:hash:scopes` entries separated by commas or whitespace; scopes joined with `+`. */
export function parseApiKeyEntries(text: string): ApiKeyEntry[] {
  const problems: string[] = [];
  const entries: ApiKeyEntry[] = [];
  for (const raw of text.split(/[\s,]+/).filter((s) => s.length > 0)) {
    const first = raw.indexOf(':');
    const last = raw.lastIndexOf(':');
    const id = raw.slice(0, Math.max(first, 0));
    const parsed = apiKeyEntrySchema.safeParse({
      id,
      hash: first < last ? raw.slice(first + 1, last) : '',
      scopes: raw.slice(last + 1).split('+'),
    });
    if (parsed.success) entries.push(parsed.data);
    else
      problems.push(`GATEWAY_API_KEYS entry "${id || '?'}": ${parsed.error.issues.map((i) => i.message).join('; ')}`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return entries;
}

const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

function scrypt(key: BinaryLike, salt: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scryptCallback(key, salt, 32, SCRYPT_PARAMS, (error, derived) => (error ? reject(error) : resolve(derived))),
  );
}

/** The stored form of a key. */
export async function hashApiKey(key: string, algorithm: 'sha256' | 'scrypt' = 'sha256'): Promise<string> {
  if (algorithm === 'sha256') return `sha256:${sha256Hex(key)}`;
  const salt = randomBytes(16);
  return `scrypt:${salt.toString('hex')}:${(await scrypt(key, salt)).toString('hex')}`;
}

/** A fresh key (shown once) and the entry to configure. */
export async function generateApiKey(
  id: string,
  scopes: readonly Scope[],
  algorithm: 'sha256' | 'scrypt' = 'sha256',
): Promise<{ key: string; entry: string }> {
  if (!ID.test(id)) throw new Error('key ids are 1-64 letters, digits or "-"');
  const key = `tck_${id}_${randomBytes(32).toString('base64url')}`;
  return { key, entry: `${id}:${await hashApiKey(key, algorithm)}:${scopes.join('+')}` };
}

class ApiKeyStore {
  private readonly bySha256 = new Map<string, ApiKeyEntry>();
  private readonly scryptById = new Map<string, { entry: ApiKeyEntry; salt: Buffer; hash: Buffer }>();
  /** sha256 of scrypt keys already verified, so scrypt runs once per key, not per request. */
  private readonly verified = new Map<string, ApiKeyEntry>();

  constructor(entries: readonly ApiKeyEntry[]) {
    const ids = new Set<string>();
    for (const entry of entries) {
      if (ids.has(entry.id)) throw new ConfigError([`API key id "${entry.id}" is configured twice`]);
      ids.add(entry.id);
      const [algorithm, a, b] = entry.hash.split(':') as [string, string, string | undefined];
      if (algorithm === 'sha256') this.bySha256.set(a, entry);
      else this.scryptById.set(entry.id, { entry, salt: Buffer.from(a, 'hex'), hash: Buffer.from(b ?? '', 'hex') });
    }
  }

  get size(): number {
    return this.bySha256.size + this.scryptById.size;
  }

  async verify(key: string): Promise<ApiKeyEntry | undefined> {
    if (key.length > MAX_KEY_LENGTH) return undefined;
    // A lookup by digest: timing reveals nothing useful about stored digests of 256-bit keys.
    const digest = sha256Hex(key);
    const known = this.bySha256.get(digest) ?? this.verified.get(digest);
    if (known) return known;
    const id = /^tck_([A-Za-z0-9-]{1,64})_/.exec(key)?.[1];
    const stored = id === undefined ? undefined : this.scryptById.get(id);
    if (!stored) return undefined;
    const derived = await scrypt(key, stored.salt);
    if (derived.length !== stored.hash.length || !timingSafeEqual(derived, stored.hash)) return undefined;
    if (this.verified.size >= 1_000) this.verified.clear();
    this.verified.set(digest, stored.entry);
    return stored.entry;
  }
}

// ---- JWT ----

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function jwtScopes(payload: JWTPayload): string[] {
  const scopes: string[] = [];
  for (const claim of [payload['scope'], payload['scp']]) {
    if (typeof claim === 'string') scopes.push(...claim.split(/\s+/));
    else if (Array.isArray(claim)) scopes.push(...claim.filter((s): s is string => typeof s === 'string'));
  }
  return scopes;
}

function createJwtVerifier(config: JwtConfig): (token: string) => Promise<Principal> {
  const jwks = createRemoteJWKSet(new URL(config.jwksUrl), {
    timeoutDuration: config.jwksTimeoutMs,
    cooldownDuration: 30_000,
    cacheMaxAge: 10 * 60_000,
  });
  return async (token) => {
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer: config.issuer,
        audience: config.audience,
        algorithms: [...config.algorithms],
        clockTolerance: 5,
        requiredClaims: ['exp', 'sub'],
      });
      return { kind: 'jwt', id: `jwt:${payload.sub}`, scopes: effectiveScopes(jwtScopes(payload)) };
    } catch (error) {
      // The identity provider could not be asked (timeout, refused, not 200, not JSON): not the caller's fault.
      const unavailable =
        !(error instanceof joseErrors.JOSEError) ||
        error instanceof joseErrors.JWKSTimeout ||
        error.code === joseErrors.JOSEError.code;
      if (unavailable) {
        throw gatewayError('AUTH_UNAVAILABLE', 'the identity provider could not be reached; try again', {
          cause: error,
        });
      }
      throw gatewayError('UNAUTHENTICATED', `invalid token: ${error.message}`, { headers: WWW_AUTHENTICATE });
    }
  };
}

// ---- authenticator ----

const WWW_AUTHENTICATE = { 'www-authenticate': 'Bearer realm="tickcast"' };

export interface Authenticator {
  readonly disabled: boolean;
  /** `anonymousId` names the caller when authentication is disabled (e.g. its address). */
  authenticate(credentials: Credentials, anonymousId: string): Promise<Principal>;
}

export function createAuthenticator(config: AuthConfig, logger: Logger): Authenticator {
  if (config.mode === 'disabled') {
    logger.warn(
      '!!! AUTHENTICATION IS DISABLED (GATEWAY_AUTH=disabled): every caller gets the read and admin scopes. ' +
        'For local development only; never expose this gateway. !!!',
    );
    return {
      disabled: true,
      authenticate: async (_credentials, anonymousId) => ({
        kind: 'anonymous',
        id: `anonymous:${anonymousId}`,
        scopes: effectiveScopes(SCOPES),
      }),
    };
  }
  const keys = new ApiKeyStore(config.apiKeys);
  if (keys.size === 0 && !config.jwt) {
    throw new ConfigError([
      'GATEWAY_AUTH is enabled but no credentials are configured: set GATEWAY_API_KEYS, GATEWAY_API_KEYS_FILE ' +
        'or GATEWAY_JWKS_URL (or GATEWAY_AUTH=disabled for local development)',
    ]);
  }
  const verifyJwt = config.jwt ? createJwtVerifier(config.jwt) : undefined;
  logger.info({ apiKeys: keys.size, jwt: config.jwt ? config.jwt.issuer : false }, 'gateway authentication enabled');

  return {
    disabled: false,
    async authenticate(credentials) {
      const { apiKey, bearer } = credentials;
      if (bearer !== undefined && apiKey === undefined && JWT_SHAPE.test(bearer)) {
        if (!verifyJwt) {
          throw gatewayError('UNAUTHENTICATED', 'JWT authentication is not configured; use an API key', {
            headers: WWW_AUTHENTICATE,
          });
        }
        return verifyJwt(bearer);
      }
      const key = apiKey ?? bearer;
      if (key === undefined) {
        throw gatewayError('UNAUTHENTICATED', 'authentication required: send x-api-key or authorization: Bearer', {
          headers: WWW_AUTHENTICATE,
        });
      }
      const entry = await keys.verify(key);
      if (!entry) throw gatewayError('UNAUTHENTICATED', 'invalid API key', { headers: WWW_AUTHENTICATE });
      return { kind: 'api-key', id: `key:${entry.id}`, scopes: effectiveScopes(entry.scopes) };
    },
  };
}
