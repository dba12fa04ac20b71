/** What the gateway knows about each request; plugins and subgraph data sources read it. */
import type { DocumentNode } from 'graphql';
import type { Principal } from './auth.ts';
import type { Outcome } from './metrics.ts';

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

/** A subscription that passed every stage, handed from Apollo's pipeline to the WebSocket transport. */
export interface AcceptedSubscription {
  readonly document: DocumentNode;
  readonly operationName: string | null;
  readonly variables: Record<string, unknown>;
  /** Frees the principal's subscription slot; idempotent. */
  readonly release: () => void;
}
