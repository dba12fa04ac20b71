/** A worker thread of evaluate-pool.ts: runs the tasks it is sent, one at a time, and answers each. */
import { parentPort } from 'node:worker_threads';
import { runTask, type EvaluationTask, type SeriesCache } from './evaluate-task.ts';

export type WorkerRequest = { readonly id: number; readonly task: EvaluationTask };
export type WorkerReply =
  | { readonly id: number; readonly kind: 'log'; readonly line: string }
  | { readonly id: number; readonly kind: 'result'; readonly result: unknown }
  | { readonly id: number; readonly kind: 'error'; readonly message: string };

const port = parentPort;
if (port) {
  const cache: SeriesCache = new Map();
  port.on('message', ({ id, task }: WorkerRequest) => {
    const reply = (message: WorkerReply) => port.postMessage(message);
    runTask(task, cache, (line) => reply({ id, kind: 'log', line })).then(
      (result) => reply({ id, kind: 'result', result }),
      (error: unknown) => reply({ id, kind: 'error', message: error instanceof Error ? error.message : String(error) }),
    );
  });
}
