/** Every stream processor of `tickcast start`, in this test process, on one isolation's Kafka and PostgreSQL. */
import type { Bus, RunningTask } from '../../streams/bus/bus.ts';
import { createBus, PROCESSORS, startProcessor } from '../../streams/runtime.ts';
import { testLogger, type Isolation } from './services.ts';

export async function startAllProcessors(iso: Isolation): Promise<{ bus: Bus; tasks: RunningTask[] }> {
  const bus = await createBus(iso.config, testLogger);
  // The isolation owns the pool: the processors use it and leave closing to iso.close().
  const database = {
    pool: iso.pool,
    kind: 'postgres' as const,
    url: iso.env['DATABASE_URL'] ?? '',
    close: async () => {},
  };
  const tasks: RunningTask[] = [];
  for (const name of PROCESSORS)
    tasks.push(await startProcessor(name, { config: iso.config, logger: testLogger, bus, database }));
  return { bus, tasks };
}
