/**
 * The gateway's one request pipeline. HTTP requests and graphql-ws operations run the same
 * ordered chain, cheapest checks first:
 *
 *   1. failed-auth throttle    per client address, before any key is hashed or token verified
 *   2. authentication          once per HTTP request; once per WebSocket connection (+ JWT expiry)
 *   3. rate limit              per principal, one token per operation
 *   4. parse (token limit), validation (suggestions hidden and introspection refused unless
 *      GATEWAY_INTROSPECTION), automatic persisted queries: Apollo Server's own pipeline,
 *      which both transports enter (HTTP: executeHTTPGraphQLRequest; WebSocket: executeOperation)
 *   5. operation stages        `RequestPipeline.plugin()` below, in Apollo's didResolveOperation:
 *      operation resolved (400 when operationName is missing or unknown) → transport rules
 *      (subscriptions only over WebSocket) → variables coerced against the API schema (400
 *      BAD_USER_INPUT, custom scalars included) → scope → depth/alias/cost limits (introspection
 *      priced) → per-key subscription slot, checked and taken in one step so it cannot be raced
 *      (in this process synchronously; across replicas under a lock in PostgreSQL)
 *   6. execution: queries and mutations by Apollo Gateway; subscriptions by the hub
 *   7. masking: Apollo's formatError (errors.ts) for every result on both transports
 *
 * Stages 1–3 run at the transport edge (before Apollo sees the request) and stages 4–7 inside
 * Apollo Server, so no check exists twice and none can drift between transports.
 */
import { HeaderMap, type ApolloServerPlugin } from '@apollo/server';
import type { DocumentNode, OperationDefinitionNode } from 'graphql';
import { getVariableValues } from 'graphql/execution/values.js';
import type { RateLimiterRes } from 'rate-limiter-flexible';
import type { Logger } from '../lib/logger.ts';
import { authorize, type Authenticator, type Credentials, type Principal } from './auth.ts';
import type { GatewayConfig } from './config.ts';
import type { GatewayContext } from './context.ts';
import { apolloUncodedRequestCode, gatewayError, rejectionReason } from './errors.ts';
import { checkLimits, MeasureCache } from './limits.ts';
import { gatewayMetrics } from './metrics.ts';
import { throwIfRefused } from './rate-limit.ts';
import type { LimitsStore, Slots } from './shared-limits.ts';

export interface RequestPipelineDeps {
  readonly config: GatewayConfig;
  readonly authenticator: Authenticator;
  /** The rate limit, failed-auth throttle and caps: per replica or shared (shared-limits.ts). */
  readonly limits: LimitsStore;
  readonly logger: Logger;
}

export class RequestPipeline {
  /** Open subscriptions per principal, over all its connections and gateway transports. */
  readonly subscriptionSlots: Slots;
  /** Open WebSocket connections per principal. */
  readonly connectionSlots: Slots;
  private readonly config: GatewayConfig;
  private readonly authenticator: Authenticator;
  private readonly limits: LimitsStore;

  constructor(deps: RequestPipelineDeps) {
    this.config = deps.config;
    this.authenticator = deps.authenticator;
    this.limits = deps.limits;
    this.subscriptionSlots = deps.limits.subscriptionSlots;
    this.connectionSlots = deps.limits.connectionSlots;
  }

  /**
   * Stages 1 and 2. An address with too many recent failures is refused before its
   * credentials are looked at (429 RATE_LIMITED); a failed attempt counts against it.
   */
  async authenticate(credentials: Credentials, clientAddress: string): Promise<Principal> {
    if (this.authenticator.disabled) return this.authenticator.authenticate(credentials, clientAddress);
    const failures = await this.limits.authFailures.get(clientAddress);
    if (failures && failures.consumedPoints >= this.config.authFailures.perWindow) {
      throw authThrottled(failures);
    }
    try {
      return await this.authenticator.authenticate(credentials, clientAddress);
    } catch (error) {
      if ((error as { extensions?: { code?: unknown } }).extensions?.code === 'UNAUTHENTICATED') {
        await this.limits.authFailures.penalty(clientAddress);
      }
      throw error;
    }
  }

  /** Stage 3: one token from the principal's bucket (429 RATE_LIMITED when empty). */
  async admit(principal: Principal): Promise<void> {
    throwIfRefused(await this.limits.take(principal.id));
  }

  /** Stages 5–6 inside Apollo Server's pipeline, for both transports. */
  plugin(): ApolloServerPlugin<GatewayContext> {
    const { limits } = this.config;
    const slots = this.subscriptionSlots;
    const measures = new MeasureCache(limits.defaultListSize);
    return {
      async requestDidStart() {
        return {
          async didResolveOperation({ contextValue, operation, document, request, schema, queryHash }) {
            if (!operation) throw unresolvedOperation(document, request.operationName);
            if (operation.operation === 'subscription' && contextValue.transport !== 'ws') {
              throw gatewayError(
                'BAD_REQUEST',
                'subscriptions are served over WebSocket (graphql-transport-ws) on this same path',
              );
            }
            const coerced = getVariableValues(schema, operation.variableDefinitions ?? [], request.variables ?? {}, {
              maxErrors: 5,
            });
            if (coerced.errors) {
              throw gatewayError('BAD_USER_INPUT', coerced.errors.map((e) => e.message).join('; '));
            }
            authorize(contextValue.principal, operation.operation);
            checkLimits(schema, document, operation, coerced.coerced, limits, {
              cache: measures,
              documentKey: `${queryHash}\u0000${request.operationName ?? ''}`,
            });
            if (operation.operation === 'subscription') {
              const release = await slots.tryAcquire(contextValue.principal.id);
              if (!release) {
                throw gatewayError('TOO_MANY_SUBSCRIPTIONS', `at most ${slots.limit} open subscriptions per key`, {
                  extensions: { limit: slots.limit },
                });
              }
              contextValue.state.subscription = {
                document,
                operationName: request.operationName ?? null,
                variables: coerced.coerced,
                release,
              };
            }
          },
          // A subscription is not executed here: the WebSocket transport hands it to the hub.
          async responseForOperation({ contextValue }) {
            if (!contextValue.state.subscription) return null;
            return { http: { headers: new HeaderMap() }, body: { kind: 'single', singleResult: {} } };
          },
          async didEncounterErrors({ errors, contextValue }) {
            for (const error of errors) {
              const reason = rejectionFor(error);
              if (reason) {
                gatewayMetrics.rejected.inc({ reason });
                contextValue.state.outcome = 'rejected';
              }
            }
          },
          async willSendResponse({ response, contextValue }) {
            if (contextValue.state.outcome || response.body.kind !== 'single') return;
            const { data, errors } = response.body.singleResult;
            contextValue.state.outcome = !errors?.length ? 'ok' : data ? 'partial' : 'error';
          },
        };
      },
    };
  }
}

function authThrottled(failures: RateLimiterRes): Error {
  const seconds = Math.max(1, Math.ceil(failures.msBeforeNext / 1000));
  return gatewayError('AUTH_THROTTLED', `too many failed authentication attempts; retry after ${seconds} s`, {
    headers: { 'retry-after': String(seconds) },
    extensions: { retryAfterSeconds: seconds },
  });
}

function unresolvedOperation(document: DocumentNode, operationName: string | null | undefined): Error {
  const operations = document.definitions.filter(
    (d): d is OperationDefinitionNode => d.kind === 'OperationDefinition',
  ).length;
  const message =
    operationName != null
      ? 'the document has no operation with the given operationName'
      : operations > 1
        ? 'the document has several operations: name the one to run in operationName'
        : 'the document has no operation to run';
  return gatewayError('OPERATION_RESOLUTION_FAILURE', message);
}

function rejectionFor(error: { message: string; extensions: Record<string, unknown> }): string | undefined {
  const code = error.extensions['code'] ?? apolloUncodedRequestCode(error.message);
  // graphql-js says "more that N tokens" (sic); match either spelling.
  if (code === 'GRAPHQL_PARSE_FAILED' && /contains more \w+ \d+ tokens/.test(error.message)) return 'too_many_tokens';
  return rejectionReason(code);
}
