/**
 * For the outage tests (services stopped and started with ./service-control.ts): supervising
 * `tickcast stream` processes the way Kubernetes does (a process that exits is started
 * again, its exit recorded). Ports and state dirs come from the environment
 * `scripts/services env` exports, so a test can run against an instance of its own.
 */
import { once } from 'node:events';
import type pg from 'pg';
import { freePort } from './ports.ts';
import { startService, type Service } from './processes.ts';
import type { Isolation } from './services.ts';

export interface Supervised {
  service: Service;
  /** Settles once the run's output streams are closed ('exit' may come before its last output). */
  closed: Promise<unknown>;
  readonly port: number;
  /** Exit codes of the runs that ended on their own. */
  readonly exits: (number | NodeJS.Signals | null)[];
  /** The last output of each of those runs. */
  readonly outputs: string[];
}

/** `tickcast stream <name>` with the isolation's environment and `extraEnv`, its ops server on a port of its own. */
export async function startSupervised(
  iso: Isolation,
  name: string,
  extraEnv: Record<string, string>,
): Promise<Supervised> {
  const port = await freePort();
  const service = startService(name, ['stream', name], { ...iso.env, ...extraEnv, METRICS_PORT: String(port) });
  return { service, closed: once(service.child, 'close'), port, exits: [], outputs: [] };
}

/** What a supervisor does: a process that has exited is started again, and its exit is recorded. */
export async function restartExited(
  iso: Isolation,
  name: string,
  s: Supervised,
  extraEnv: Record<string, string>,
): Promise<void> {
  if (!hasExited(s)) return;
  s.exits.push(await s.service.exited);
  await s.closed;
  s.outputs.push(s.service.output());
  s.service = startService(name, ['stream', name], { ...iso.env, ...extraEnv, METRICS_PORT: String(s.port) });
  s.closed = once(s.service.child, 'close');
}

/** A process's /ready answer; undefined while nothing listens. */
export async function ready(port: number): Promise<{ status: number; body: string } | undefined> {
  const response = await fetch(`http://127.0.0.1:${port}/ready`).catch(() => undefined);
  return response && { status: response.status, body: await response.text() };
}

export const hasExited = (s: Supervised): boolean =>
  s.service.child.exitCode !== null || s.service.child.signalCode !== null;

/** A pool whose idle connections die with the server: without a listener that would crash the test. */
export function tolerant(pool: pg.Pool): pg.Pool {
  pool.on('error', () => undefined);
  return pool;
}
