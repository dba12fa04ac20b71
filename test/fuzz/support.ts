/**
 * Shared settings and helpers of the property-based fuzz suite (`test/fuzz/*.fuzz.ts`).
 *
 * In `npm test` every property runs its fixed CI number of cases from one fixed seed, so a
 * red CI run is reproducible as is. `npm run fuzz` picks a random seed (printed first) and
 * ten times the cases; `FUZZ_SEED=<seed> npm run fuzz` replays a run, `FUZZ_RUNS=<n>`
 * scales every property's case count by n. fast-check prints the seed and the shrunk
 * counterexample of any failing property.
 */
import fc from 'fast-check';
import { z } from 'zod';
import { ConfigError } from '../../lib/config.ts';
import { registry } from '../../lib/metrics.ts';

/** The seed `npm test` runs with: any fixed value, changed only deliberately. */
const CI_SEED = 20_261_203;

const fuzzEnvSchema = z.object({
  FUZZ_SEED: z.coerce.number().int().safe().default(CI_SEED),
  FUZZ_RUNS: z.coerce.number().positive().max(1_000).default(1),
});

function loadFuzzEnv(env: NodeJS.ProcessEnv): z.infer<typeof fuzzEnvSchema> {
  const parsed = fuzzEnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map(
        (i) =>
          `${i.path.join('.')}: ${i.message} (FUZZ_SEED is an integer seed, FUZZ_RUNS a positive multiple of the CI case count)`,
      ),
    );
  }
  return parsed.data;
}

const fuzzEnv = loadFuzzEnv(process.env);

/**
 * fast-check parameters for one property: `ciRuns` cases in CI, scaled by FUZZ_RUNS. Shrinking
 * a failure stops after `timeLimitMs` so a red property over the network cannot stall the suite
 * (the counterexample found so far is still reported).
 */
export function fuzzParams<T>(ciRuns: number, timeLimitMs = 60_000): fc.Parameters<T> {
  return {
    seed: fuzzEnv.FUZZ_SEED,
    numRuns: Math.max(1, Math.round(ciRuns * fuzzEnv.FUZZ_RUNS)),
    interruptAfterTimeLimit: timeLimitMs * fuzzEnv.FUZZ_RUNS,
    markInterruptAsFailure: false,
    // The failed assertion in the report itself: the test runner does not print an error's cause.
    includeErrorInReport: true,
  };
}

/** Sum of a counter over all its label sets (0 when never incremented). */
export async function counterTotal(name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))
    .reduce((sum, v) => sum + v.value, 0);
}

// ---------------------------------------------------------------------------------------------
// Hostile values, shared by the generators of every entry point.

/** Numbers and number-like strings a parser must not take for a sane positive value. */
export const hostileNumber: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    NaN,
    Infinity,
    -Infinity,
    0,
    -0,
    -1,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
    2 ** 53 + 1,
    1e308,
    'NaN',
    'Infinity',
    '-Infinity',
    '1e400',
    '0x1A',
    '1_000',
    ' 12 ',
    '',
    '-0.1',
    '0',
    '1e-400',
    null,
    true,
    [],
    {},
  ),
  fc.double(),
  fc.string({ maxLength: 12 }),
);

/** Timestamps as the wire might carry them, many absurd: far future, before the epoch, not dates. */
export const hostileTimestamp: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    '2100-01-01T00:00:00.000000Z',
    '9999-12-31T23:59:59.999999Z',
    '0000-01-01T00:00:00Z',
    '1969-12-31T23:59:59Z',
    '2022-02-30T00:00:00Z',
    '2022-12-25T24:00:00Z',
    '2022-12-25 09:30:59Z',
    '2022-12-25T09:30:59.123456+99:99',
    '+275760-09-13T00:00:00.000Z',
    'Thu, 01 Jan 1970 00:00:00 GMT',
    'yesterday',
    '',
    '1e400',
  ),
  fc.date({ noInvalidDate: false }).map((d) => (Number.isNaN(d.getTime()) ? 'Invalid Date' : d.toISOString())),
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 30 }),
);

/** Text a person or a hostile feed may send: any unicode, control characters, lone surrogates. */
export const hostileText: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.constantFrom('\u0000', '\uD800', '\u202E', '𝔹𝕋ℂ', '<script>alert(1)</script>', '%s%n', '../../etc/passwd'),
);

/**
 * Arbitrary JSON as text, sometimes very deeply nested (a parser must neither recurse without
 * bound nor throw). Text rather than values: fast-check's own reporting recurses into values.
 */
export const hostileJsonText: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 5_000 }).map((d) => `${'['.repeat(d)}${']'.repeat(d)}`) },
  { weight: 1, arbitrary: fc.integer({ min: 100, max: 5_000 }).map((d) => `${'{"a":'.repeat(d)}1${'}'.repeat(d)}`) },
);
