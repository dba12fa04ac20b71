/** Stream processors of `tickcast start`, in this test process, on one isolation's Kafka and PostgreSQL. */
import type { Bus, RunningTask } from '../../streams/bus/bus.ts';
import { createBus, PROCESSORS, startProcessor, type ProcessorName } from '../../streams/runtime.ts';
import { testLogger, type Isolation } from './services.ts';

/** Starts `names` on `bus`; the isolation owns the pool: the processors use it and leave closing to iso.close(). */
export async function startProcessors(
  iso: Isolation,
  bus: Bus,
  names: readonly ProcessorName[],
): Promise<RunningTask[]> {
  const database = {
    pool: iso.pool,
    kind: 'postgres' as const,
    url: iso.env['DATABASE_URL'] ?? '',
    close: async () => {},
  };
  const tasks: RunningTask[] = [];
  for (const name of names)
    tasks.push(await startProcessor(name, { config: iso.config, logger: testLogger, bus, database }));
  return tasks;
}

/** Every processor, on a new bus of the isolation. */
export async function startAllProcessors(iso: Isolation): Promise<{ bus: Bus; tasks: RunningTask[] }> {
  const bus = await createBus(iso.config, testLogger);
  return { bus, tasks: await startProcessors(iso, bus, PROCESSORS) };
}
