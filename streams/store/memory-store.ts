/** An embedded PGlite store in memory with every migration applied: one per unit test that needs SQL. */
import type { Logger } from '../../lib/logger.ts';
import { openDatabase, type Database } from './database.ts';
import { migrate } from './migrate.ts';

export async function openMigratedMemoryStore(logger: Logger): Promise<Database> {
  const database = await openDatabase(
    {
      url: undefined,
      embeddedDataDir: 'memory://',
      poolSize: 2,
      connectTimeoutMs: 5_000,
      idleTimeoutMs: 30_000,
      statementTimeoutMs: 30_000,
      queryTimeoutMs: 35_000,
    },
    logger,
  );
  await migrate(database.pool, logger);
  return database;
}
