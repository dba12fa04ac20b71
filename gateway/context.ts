/** What the gateway knows about each request; plugins and subgraph data sources read it. */
import type { Principal } from './auth.ts';
import type { Outcome } from './metrics.ts';
import type { AcceptedSubscription } from './pipeline.ts';

export interface GatewayContext {
  /** Who is calling, verified by gateway/auth.ts. */
  readonly principal: Principal;
  /** Which transport the operation came over: subscriptions run only over WebSocket. */
  readonly transport: 'http' | 'ws';
  /** Written by the pipeline's stages, read by the transport that runs the operation. */
  readonly state: {
    /** Recorded in the request metrics. */
    outcome?: Outcome;
    /** A subscription that passed every stage, for the WebSocket transport to start. */
    subscription?: AcceptedSubscription;
  };
}
