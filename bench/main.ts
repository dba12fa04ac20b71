/**
 * `npm run bench -- <name> [flags]`: benchmarks print rates next to a peer measured in the
 * same run, and the ratio, so a number means something on any machine.
 */
import { parseArgs } from 'node:util';

const { values: flags, positionals: names } = parseArgs({
  allowPositionals: true,
  options: {
    // subscriptions: client counts, timed seconds per run, events/s, operation (federated|primary)
    clients: { type: 'string' },
    seconds: { type: 'string' },
    rate: { type: 'string' },
    operation: { type: 'string' },
    // soak: embedded|distributed|both, run length in minutes, seconds between samples (clients: the subscriber count)
    system: { type: 'string' },
    minutes: { type: 'string' },
    'sample-seconds': { type: 'string' },
  },
});

const BENCHES: Record<string, () => Promise<void>> = {
  streams: async () => (await import('./streams.ts')).run(),
  inference: async () => (await import('./inference.ts')).run(),
  gateway: async () => (await import('./gateway.ts')).run(),
  subscriptions: async () => (await import('./subscriptions.ts')).run(flags),
  soak: async () => (await import('./soak.ts')).run(flags),
  e2e: async () => (await import('./e2e.ts')).run(),
  'cold-start': async () => (await import('./cold-start.ts')).run(),
  scale: async () => (await import('./scale.ts')).run(),
};

// The soak runs for half an hour by default: only when named.
const selected = names.length > 0 ? names : Object.keys(BENCHES).filter((name) => name !== 'soak');
for (const name of selected) {
  const bench = BENCHES[name];
  if (!bench) {
    process.stderr.write(`unknown benchmark "${name}"; available: ${Object.keys(BENCHES).join(', ')}\n`);
    process.exit(2);
  }
  await bench();
}
