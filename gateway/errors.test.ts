import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { pino } from 'pino';
import { createErrorMasker, gatewayError, rejectionReason } from './errors.ts';

const logged: unknown[] = [];
const logger = pino({ level: 'error' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
const mask = createErrorMasker(logger);

describe('error masking', () => {
  it('replaces an unexpected error with a generic one, keeping the path, and logs the original', () => {
    logged.length = 0;
    const formatted: GraphQLFormattedError = {
      message: 'connect ECONNREFUSED postgres://admin:hunter2@10.0.0.5',
      path: ['market', 'ticker'],
      extensions: { code: 'INTERNAL_SERVER_ERROR', stacktrace: ['at db.ts:1'] },
    };
    const masked = mask(formatted, new Error(formatted.message));
    const incidentId = masked.extensions?.['incidentId'];
    assert.match(String(incidentId), /^[0-9a-f]{16}$/);
    assert.deepEqual(masked, {
      message: 'Internal server error',
      path: ['market', 'ticker'],
      extensions: { code: 'INTERNAL_SERVER_ERROR', incidentId },
    });
    assert.equal(logged.length, 1, 'the original is logged');
    assert.equal((logged[0] as { incidentId?: unknown }).incidentId, incidentId, 'with the incident id the client got');
  });

  it('masks errors whose code is not one of ours, even if they set one', () => {
    assert.equal(
      mask({ message: 'secret', extensions: { code: 'SOMETHING_ELSE' } }, undefined).message,
      'Internal server error',
    );
    assert.equal(mask({ message: 'secret' }, undefined).message, 'Internal server error');
  });

  it("passes the gateway's own and Apollo Server's request errors", () => {
    for (const code of [
      'UNAUTHENTICATED',
      'RATE_LIMITED',
      'QUERY_TOO_DEEP',
      'GRAPHQL_VALIDATION_FAILED',
      'PERSISTED_QUERY_NOT_FOUND',
    ]) {
      const formatted = { message: `m ${code}`, extensions: { code, limit: 3, stacktrace: ['x'] } };
      assert.deepEqual(mask(formatted, undefined), { message: `m ${code}`, extensions: { code, limit: 3 } });
    }
  });

  it("passes a subgraph's deliberate error, and masks its internal ones but names the subgraph", () => {
    assert.deepEqual(
      mask(
        {
          message: 'no such prediction',
          path: ['prediction'],
          extensions: { code: 'NOT_FOUND', serviceName: 'predictions' },
        },
        undefined,
      ),
      {
        message: 'no such prediction',
        path: ['prediction'],
        extensions: { code: 'NOT_FOUND', serviceName: 'predictions' },
      },
    );
    for (const code of ['INTERNAL_SERVER_ERROR', 'DOWNSTREAM_SERVICE_ERROR', undefined]) {
      const masked = mask(
        { message: 'pg: password authentication failed', extensions: { code, serviceName: 'models' } },
        undefined,
      );
      assert.deepEqual(masked, {
        message: 'Internal error in subgraph "models"',
        extensions: {
          code: 'INTERNAL_SERVER_ERROR',
          serviceName: 'models',
          incidentId: masked.extensions?.['incidentId'],
        },
      });
    }
  });
});

describe('gateway errors', () => {
  it('carry their code and HTTP status; SUBGRAPH_UNAVAILABLE leaves the status alone (partial data)', () => {
    const error = gatewayError('FORBIDDEN', 'no');
    assert.ok(error instanceof GraphQLError);
    assert.equal(error.extensions['code'], 'FORBIDDEN');
    assert.equal((error.extensions['http'] as { status: number }).status, 403);
    assert.equal(gatewayError('SUBGRAPH_UNAVAILABLE', 'down').extensions['http'], undefined);
  });

  it('count as rejections only when refused before execution', () => {
    assert.equal(rejectionReason('RATE_LIMITED'), 'rate_limited');
    assert.equal(rejectionReason('TOO_MANY_ALIASES'), 'too_many_aliases');
    assert.equal(rejectionReason('SUBGRAPH_UNAVAILABLE'), undefined);
    assert.equal(rejectionReason('INTERNAL_SERVER_ERROR'), undefined);
  });
});
