import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../test/support/ports.ts';
import {
  request,
  runCleanups,
  serveRequests,
  startChild,
  startService,
  stopChild,
  type Child,
  type Cleanups,
} from './children.ts';

// This file is also the child the tests start: `serve` answers IPC requests, `http PORT`
// answers `{ __typename }` over HTTP, `crash` exits during start-up.
type Echo =
  | { type: 'ping'; n: number }
  | { type: 'later'; n: number }
  | { type: 'reject' }
  | { type: 'throw' }
  | { type: 'ignored' }
  | { type: 'exit' }
  | { type: 'pong'; n: number };

const SELF = fileURLToPath(import.meta.url);
const role = process.argv[2];

if (role === 'serve') {
  serveRequests<Echo>((message) => {
    if (message.type === 'ping') return { type: 'pong', n: message.n + 1 };
    if (message.type === 'later')
      return new Promise((resolve) => setTimeout(() => resolve({ type: 'pong', n: message.n + 2 }), 50));
    if (message.type === 'reject') return Promise.reject(new Error('rejected on purpose'));
    if (message.type === 'throw') throw new Error('thrown on purpose');
    if (message.type === 'exit') process.exit(3);
    return undefined;
  });
} else if (role === 'http') {
  const server = createServer((_, res) => res.end('{"data":{"__typename":"Query"}}'));
  server.listen(Number(process.argv[3]), '127.0.0.1');
  process.once('SIGTERM', () => server.close(() => process.exit(0)));
} else if (role === 'crash') {
  process.stderr.write('crashed on purpose\n');
  process.exit(4);
} else {
  const childEnv = (): NodeJS.ProcessEnv => {
    const env = { ...process.env };
    delete env['NODE_TEST_CONTEXT']; // the child is a plain script, not a test file
    return env;
  };
  const serving = (t: TestContext): Child => {
    const child = startChild('echo child', [SELF, 'serve'], childEnv(), { ipc: true });
    t.after(() => stopChild(child));
    return child;
  };

  describe('benchmark children', () => {
    it('answers a request with the reply its handler returns or resolves to', async (t) => {
      const child = serving(t);
      assert.deepEqual(await request<Echo, 'pong'>(child, { type: 'ping', n: 1 }, 'pong', 30_000), {
        type: 'pong',
        n: 2,
      });
      assert.deepEqual(await request<Echo, 'pong'>(child, { type: 'later', n: 1 }, 'pong', 30_000), {
        type: 'pong',
        n: 3,
      });
    });

    it('rejects a request whose handler rejects or throws with the child’s error, and keeps serving', async (t) => {
      const child = serving(t);
      await assert.rejects(
        request<Echo, 'pong'>(child, { type: 'reject' }, 'pong', 30_000),
        /echo child: .*rejected on purpose/,
      );
      await assert.rejects(
        request<Echo, 'pong'>(child, { type: 'throw' }, 'pong', 30_000),
        /echo child: .*thrown on purpose/,
      );
      assert.equal((await request<Echo, 'pong'>(child, { type: 'ping', n: 5 }, 'pong', 30_000)).n, 6);
    });

    it('sends no reply when the handler has none, and fails a request when the child exits', async (t) => {
      const child = serving(t);
      await assert.rejects(
        request<Echo, 'pong'>(child, { type: 'ignored' }, 'pong', 1_000),
        /no "pong" from echo child/,
      );
      await assert.rejects(request<Echo, 'pong'>(child, { type: 'exit' }, 'pong', 30_000), /echo child exited/);
      assert.equal(await child.exited, 3);
    });

    it('starts a service, waits until it answers, and stops it at clean-up', async (t) => {
      const port = await freePort();
      const cleanups: Cleanups = [];
      const service = await startService(
        'http child',
        [SELF, 'http', String(port)],
        childEnv(),
        `http://127.0.0.1:${port}/graphql`,
        cleanups,
      );
      t.after(() => stopChild(service)); // a no-op once the clean-up stopped it
      const answer = await fetch(`http://127.0.0.1:${port}/graphql`).then((r) => r.text());
      assert.match(answer, /Query/);
      assert.deepEqual(
        cleanups.map(([what]) => what),
        ['stopping http child'],
      );
      await runCleanups(cleanups, 'test');
      assert.equal(await service.exited, 0);
    });

    it('fails a service that exits during start-up, with its output', async () => {
      const port = await freePort();
      const cleanups: Cleanups = [];
      await assert.rejects(
        startService('crashing child', [SELF, 'crash'], childEnv(), `http://127.0.0.1:${port}/graphql`, cleanups),
        /crashing child exited during start-up:\n[^]*crashed on purpose/,
      );
      await runCleanups(cleanups, 'test');
    });

    it('runs the clean-ups last first, and every one even after a failure', async (t) => {
      const errors = t.mock.method(console, 'error', () => undefined);
      const ran: string[] = [];
      const cleanups: Cleanups = [
        ['first', async () => ran.push('first')],
        [
          'second',
          async () => {
            ran.push('second');
            throw new Error('second failed');
          },
        ],
        ['third', async () => ran.push('third')],
      ];
      await runCleanups(cleanups, 'test');
      assert.deepEqual(ran, ['third', 'second', 'first']);
      assert.equal(errors.mock.callCount(), 1);
      assert.equal(errors.mock.calls[0]!.arguments[0], 'test bench: second failed:');
    });
  });
}
