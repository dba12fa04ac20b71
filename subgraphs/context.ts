/**
 * What every subgraph resolver receives. Loaders are created per request so DataLoader
 * batches within one request and never caches across requests.
 */
import type pg from 'pg';
import type { Logger } from '../lib/logger.ts';
import type { LiveFeed } from './live.ts';

export interface SubgraphContext {
  readonly pool: pg.Pool;
  readonly logger: Logger;
  /** Live bus events for subscription resolvers. */
  readonly live: LiveFeed;
  /** Per-request DataLoaders, created by the subgraph's own `createLoaders`. */
  readonly loaders: Record<string, unknown>;
  /**
   * Scopes the gateway verified for the caller, e.g. ["read", "admin"]: only from claims whose
   * signature verified (subgraphs/server.ts), else none (public scope).
   */
  readonly scopes: readonly string[];
}
