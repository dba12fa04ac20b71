/**
 * Loaded into the soaked `tickcast start` with `node --import`: answers the soak
 * benchmark's memory requests over the IPC channel, after a full garbage collection when
 * node runs with `--expose-gc` (so heap growth means retained objects, not garbage not
 * yet collected). The service itself is unchanged.
 */
const gc = (globalThis as { gc?: () => void }).gc;

process.on('message', (message: unknown) => {
  if ((message as { type?: unknown } | null)?.type !== 'memory') return;
  gc?.();
  const usage = process.memoryUsage();
  process.send?.({
    type: 'memory',
    memory: { rss: usage.rss, heapUsed: usage.heapUsed, external: usage.external, afterGc: gc !== undefined },
  });
});
// The channel must not keep the service alive: after SIGTERM it exits once its work is done.
process.channel?.unref();
