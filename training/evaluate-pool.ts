/**
 * Runs `tickcast evaluate`'s (pair, horizon) tasks on `jobs` threads: each task is CPU-bound
 * and independent (own dataset, own models), so on 2 cores two run at once. With one job the
 * tasks run in this thread, one after another (tests, and machines with one core).
 * Results come back in task order whatever order they finish in.
 */
import { Worker } from 'node:worker_threads';
import type { HorizonResult } from './evaluate.ts';
import { runTask, type EvaluationTask, type SeriesCache } from './evaluate-task.ts';
import type { WorkerReply } from './evaluate-worker.ts';

export interface PoolCallbacks {
  /** A progress line of task `index`. */
  readonly log: (index: number, line: string) => void;
  /** Task `index` finished. */
  readonly done: (index: number, result: HorizonResult) => void;
}

export async function runTasks(
  tasks: readonly EvaluationTask[],
  jobs: number,
  callbacks: PoolCallbacks,
  cache: SeriesCache = new Map(),
): Promise<HorizonResult[]> {
  const results = new Array<HorizonResult>(tasks.length);
  if (jobs <= 1 || tasks.length <= 1) {
    for (const [index, task] of tasks.entries()) {
      const result = await runTask(task, cache, (line) => callbacks.log(index, line));
      results[index] = result;
      callbacks.done(index, result);
    }
    return results;
  }
  const workers = Array.from(
    { length: Math.min(jobs, tasks.length) },
    () => new Worker(new URL('./evaluate-worker.mjs', import.meta.url)),
  );
  let next = 0;
  try {
    await Promise.all(
      workers.map(async (worker) => {
        for (let index = next++; index < tasks.length; index = next++) {
          const result = await runOn(worker, index, tasks[index]!, callbacks);
          results[index] = result;
          callbacks.done(index, result);
        }
      }),
    );
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
  return results;
}

function runOn(worker: Worker, id: number, task: EvaluationTask, callbacks: PoolCallbacks): Promise<HorizonResult> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: WorkerReply) => {
      if (reply.id !== id) return;
      if (reply.kind === 'log') return callbacks.log(id, reply.line);
      worker.off('message', onMessage).off('error', onError);
      if (reply.kind === 'result') resolve(reply.result as HorizonResult);
      else reject(new Error(`${task.pair} ${task.horizonMinutes}m: ${reply.message}`));
    };
    const onError = (error: Error) => {
      worker.off('message', onMessage);
      reject(error);
    };
    worker.on('message', onMessage).once('error', onError);
    worker.postMessage({ id, task });
  });
}
