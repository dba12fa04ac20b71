/**
 * Who is calling, and what they may do. Two kinds of credentials:
 *
 * - API keys, stored hashed only: `id:hash:scopes` entries where hash is
 *   `hmac-sha256:<hex>`, keyed with GATEWAY_API_KEY_SECRET (a leaked key list then cannot
 *   be checked offline without the secret too), or the unkeyed `sha256:<hex>`. Keys are
 *   256-bit random tokens, so a fast hash is enough: a password KDF (scrypt) would only make
 *   every failed attempt cost the gateway CPU. Sent as `x-api-key: <key>` or
 *   `authorization: Bearer <key>`.
 * - JWTs from an identity provider, verified against its JWKS (jose), with issuer and
 *   audience pinned; scopes come from the `scope` (space-separated) or `scp` claim. The
 *   token's `exp` travels in the principal, so a WebSocket session ends with its token.
 *   Sent as `authorization: Bearer <jwt>`.
 *
 * Scopes are `read` (queries, subscriptions) and `admin` (mutations; includes read).
 * Transport-agnostic: HTTP passes headers, graphql-ws passes connection_init params.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { z } from 'zod';
import { ConfigError } from '../lib/config.ts';
import type { Logger } from '../lib/logger.ts';
import { gatewayError } from './errors.ts';

export const SCOPES = ['read', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface Principal {
  readonly kind: 'api-key' | 'jwt' | 'anonymous';
  /** Stable per caller: the key id, `jwt:<sub>`, or the client address when auth is disabled. Names its rate-limit bucket. */
  readonly id: string;
  readonly scopes: ReadonlySet<Scope>;
  /** When the credential stops being valid (JWT `exp`, epoch ms); API keys do not expire. */
  readonly expiresAt?: number;
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
const HMAC_SHA256 = /^hmac-sha256:[0-9a-f]{64}$/;
const MAX_KEY_LENGTH = 512;

export const apiKeyEntrySchema = z.object({
  id: z.string().regex(ID, 'key ids are 1-64 letters, digits or "-"'),
  hash: z
    .string()
    .refine(
      (h) => SHA256.test(h) || HMAC_SHA256.test(h),
      'hash must be hmac-sha256:<64 hex> or sha256:<64 hex> (scrypt entries are no longer read: issue a new key with `tickcast api-key`)',
    ),
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
const hmacHex = (secret: string, text: string) => createHmac('sha256', secret).update(text).digest('hex');

/** The stored form of a key: keyed with `secret` (GATEWAY_API_KEY_SECRET) when there is one. */
export function hashApiKey(key: string, secret?: string): string {
  return secret ? `hmac-sha256:${hmacHex(secret, key)}` : `sha256:${sha256Hex(key)}`;
}

/** A fresh key (shown once) and the entry to configure. */
export function generateApiKey(id: string, scopes: readonly Scope[], secret?: string): { key: string; entry: string } {
  if (!ID.test(id)) throw new Error('key ids are 1-64 letters, digits or "-"');
  const key = `tck_${id}_${randomBytes(32).toString('base64url')}`;
  return { key, entry: `${id}:${hashApiKey(key, secret)}:${scopes.join('+')}` };
}

class ApiKeyStore {
  private readonly byDigest = new Map<string, ApiKeyEntry>();
  private readonly hasHmac: boolean;
  private readonly hasSha256: boolean;

  constructor(
    entries: readonly ApiKeyEntry[],
    private readonly secret: string | undefined,
  ) {
    const ids = new Set<string>();
    for (const entry of entries) {
      if (ids.has(entry.id)) throw new ConfigError([`API key id "${entry.id}" is configured twice`]);
      ids.add(entry.id);
      if (HMAC_SHA256.test(entry.hash) && !secret) {
        throw new ConfigError([`API key "${entry.id}" is an hmac-sha256 entry: set GATEWAY_API_KEY_SECRET`]);
      }
      this.byDigest.set(entry.hash, entry);
    }
    this.hasHmac = entries.some((e) => HMAC_SHA256.test(e.hash));
    this.hasSha256 = entries.some((e) => SHA256.test(e.hash));
  }

  get size(): number {
    return this.byDigest.size;
  }

  /** One or two hashes and map lookups: the same small cost for a right and a wrong key. */
  verify(key: string): ApiKeyEntry | undefined {
    if (key.length > MAX_KEY_LENGTH) return undefined;
    // A lookup by digest: timing reveals nothing useful about stored digests of 256-bit keys.
    if (this.hasHmac && this.secret) {
      const entry = this.byDigest.get(`hmac-sha256:${hmacHex(this.secret, key)}`);
      if (entry) return entry;
    }
    return this.hasSha256 ? this.byDigest.get(`sha256:${sha256Hex(key)}`) : undefined;
  }
}

// ---- JWT ----

export interface JwtConfig {
  /** JSON Web Key Set of the identity provider, fetched and cached by jose. */
  readonly jwksUrl: string;
  readonly issuer: string;
  readonly audience: string;
  readonly algorithms: readonly string[];
  /** How long one JWKS fetch may take. */
  readonly jwksTimeoutMs: number;
}

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
      return {
        kind: 'jwt',
        id: `jwt:${payload.sub}`,
        scopes: effectiveScopes(jwtScopes(payload)),
        ...(typeof payload.exp === 'number' ? { expiresAt: payload.exp * 1000 } : {}),
      };
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

/** GATEWAY_AUTH and its keys, parsed by gatewayConfigFromEnv (config.ts). */
export type AuthConfig =
  | { readonly mode: 'disabled' }
  | {
      readonly mode: 'enabled';
      readonly apiKeys: readonly ApiKeyEntry[];
      /** Key of the hmac-sha256 API key entries. */
      readonly apiKeySecret?: string;
      readonly jwt?: JwtConfig;
    };

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
  const keys = new ApiKeyStore(config.apiKeys, config.apiKeySecret);
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
      const entry = keys.verify(key);
      if (!entry) throw gatewayError('UNAUTHENTICATED', 'invalid API key', { headers: WWW_AUTHENTICATE });
      return { kind: 'api-key', id: `key:${entry.id}`, scopes: effectiveScopes(entry.scopes) };
    },
  };
}
