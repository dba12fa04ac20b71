/**
 * `npm run bench -- <name>`: benchmarks print rates next to a peer measured in the same
 * run, and the ratio, so a number means something on any machine.
 */
const BENCHES: Record<string, () => Promise<void>> = {
  streams: async () => (await import('./streams.ts')).run(),
  inference: async () => (await import('./inference.ts')).run(),
  gateway: async () => (await import('./gateway.ts')).run(),
};

const names = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const selected = names.length > 0 ? names : Object.keys(BENCHES);
for (const name of selected) {
  const bench = BENCHES[name];
  if (!bench) {
    process.stderr.write(`unknown benchmark "${name}"; available: ${Object.keys(BENCHES).join(', ')}\n`);
    process.exit(2);
  }
  await bench();
}
