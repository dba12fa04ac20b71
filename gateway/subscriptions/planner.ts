/**
 * Federated subscriptions on top of Apollo's query planner and executor.
 *
 * `@apollo/gateway` refuses to execute subscription plans, but its planner builds them: a
 * `SubscriptionNode` whose `primary` fetch is the subscription on the subgraph that owns the
 * root field, and whose optional `rest` resolves the entity fields other subgraphs own. We
 * run `primary` ourselves (upstream.ts) and, per event, run `[primary, rest]` through the
 * gateway's `executeQueryPlan` with the primary's data source answering the event itself,
 * so `rest` fetches exactly what a query plan would and the response takes the client's
 * shape (aliases, fragments, __typename, null propagation).
 *
 * `executeQueryPlan`, `buildOperationContext` and the planner's node types are exported
 * but internal-feeling APIs: package.json pins @apollo/gateway, @apollo/query-planner and
 * @apollo/federation-internals to one version, and planner.test.ts covers them.
 */
import { buildOperationContext, executeQueryPlan, type ServiceMap } from '@apollo/gateway';
import { operationFromDocument, Supergraph, type Schema } from '@apollo/federation-internals';
import { QueryPlanner, type PlanNode, type QueryPlan } from '@apollo/query-planner';
import type { GatewayGraphQLRequestContext } from '@apollo/server-gateway-interface';
import type { DocumentNode, ExecutionResult, FormattedExecutionResult, GraphQLSchema } from 'graphql';
import type { Logger } from '../../lib/logger.ts';

/** What the owning subgraph is asked to stream: shared by every client whose primary fetch is the same. */
export interface UpstreamOperation {
  readonly subgraph: string;
  readonly query: string;
  readonly variables: Readonly<Record<string, unknown>>;
}

export interface SubscriptionPlan {
  readonly upstream: UpstreamOperation;
  /** Turns one upstream event into the client's response (runs `rest` when there is one). */
  resolve(event: FormattedExecutionResult, context: unknown): Promise<ExecutionResult>;
  /** Whether other subgraphs are consulted per event. */
  readonly federated: boolean;
}

export class NotASubscription extends Error {}

export class SubscriptionPlanner {
  /** The API schema clients validate against. */
  readonly schema: GraphQLSchema;
  private readonly apiSchema: Schema;
  private readonly supergraphSchema: GraphQLSchema;
  private readonly planner: QueryPlanner;

  constructor(
    supergraphSdl: string,
    private readonly services: ServiceMap,
    private readonly logger: Logger,
  ) {
    const supergraph = Supergraph.build(supergraphSdl);
    this.apiSchema = supergraph.apiSchema();
    this.schema = this.apiSchema.toGraphQLJSSchema();
    this.supergraphSchema = supergraph.schema.toGraphQLJSSchema();
    this.planner = new QueryPlanner(supergraph);
  }

  /** Plans a validated subscription document. */
  plan(
    document: DocumentNode,
    operationName: string | undefined,
    variables: Record<string, unknown>,
  ): SubscriptionPlan {
    const operation = operationFromDocument(this.apiSchema, document, operationName ? { operationName } : {});
    const queryPlan: QueryPlan = this.planner.buildQueryPlan(operation);
    const node = queryPlan.node;
    if (node?.kind !== 'Subscription') throw new NotASubscription('the operation is not a subscription');
    const { primary, rest } = node;
    const upstream: UpstreamOperation = {
      subgraph: primary.serviceName,
      query: primary.operation,
      variables: Object.fromEntries(
        (primary.variableUsages ?? []).filter((name) => name in variables).map((name) => [name, variables[name]]),
      ),
    };
    const perEvent: QueryPlan = {
      kind: 'QueryPlan',
      node: { kind: 'Sequence', nodes: [primary, ...(rest ? [rest] : [])] satisfies PlanNode[] },
    };
    const operationContext = buildOperationContext({
      schema: this.schema,
      operationDocument: document,
      ...(operationName ? { operationName } : {}),
    });
    return {
      upstream,
      federated: rest !== undefined,
      resolve: async (event, context) => {
        const services: ServiceMap = { ...this.services, [primary.serviceName]: eventSource(event) };
        const requestContext = {
          request: { query: '', variables, ...(operationName ? { operationName } : {}) },
          context,
          logger: this.logger,
          metrics: {},
          cache: undefined,
        } as unknown as GatewayGraphQLRequestContext;
        const result = await executeQueryPlan(
          perEvent,
          services,
          requestContext,
          operationContext,
          this.supergraphSchema,
          this.apiSchema,
        );
        return {
          ...(result.data !== undefined ? { data: result.data } : {}),
          ...(result.errors?.length ? { errors: result.errors } : {}),
        } as ExecutionResult;
      },
    };
  }
}

/** A data source for the primary fetch that answers with the event the subgraph streamed. */
function eventSource(event: FormattedExecutionResult): ServiceMap[string] {
  return {
    process: async () => ({
      ...(event.data !== undefined ? { data: event.data as Record<string, unknown> } : {}),
      ...(event.errors?.length ? { errors: event.errors } : {}),
    }),
  };
}
