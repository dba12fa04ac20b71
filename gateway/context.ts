/** What the gateway knows about each request; plugins and subgraph data sources read it. */
import type { Principal } from './auth.ts';
import type { Outcome } from './metrics.ts';

export interface GatewayContext {
  /** Who is calling, verified by gateway/auth.ts. */
  readonly principal: Principal;
  /** Shared with the HTTP layer, which records the outcome in metrics. */
  readonly state: { outcome?: Outcome };
}
