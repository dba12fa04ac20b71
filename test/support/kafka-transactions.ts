/** Kafka transactions as the broker lists them, through Kafka's own TransactionsCommand. */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from './data.ts';
import { requireServices } from './services.ts';

/** States of a transaction that is over: nothing of it can still block a read-committed consumer. */
const SETTLED = new Set(['Empty', 'CompleteCommit', 'CompleteAbort', 'Dead']);

/**
 * Transactional ids starting with `prefix` whose transaction the broker still holds open
 * (Ongoing, PrepareCommit, PrepareAbort, ...), each as "id state".
 */
export async function openTransactions(prefix: string): Promise<string[]> {
  const { stdout } = await promisify(execFile)(
    join(repoRoot, 'scripts/services'),
    [
      'kafka-tool',
      'org.apache.kafka.tools.TransactionsCommand',
      '--bootstrap-server',
      requireServices().brokers.join(','),
      'list',
    ],
    { timeout: 90_000 },
  );
  const [header, ...rows] = stdout.trim().split('\n');
  const columns = header?.trim().split(/\s+/) ?? [];
  const id = columns.indexOf('TransactionalId');
  const state = columns.indexOf('TransactionState');
  if (id < 0 || state < 0) throw new Error(`unexpected TransactionsCommand output:\n${stdout}`);
  return rows
    .map((row) => row.trim().split(/\s+/))
    .filter((cells) => cells[id]?.startsWith(prefix) && !SETTLED.has(cells[state] ?? ''))
    .map((cells) => `${cells[id]} ${cells[state]}`);
}
