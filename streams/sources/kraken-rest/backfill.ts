/** What the trades and the OHLC backfill share: what they need from the client, and their result. */
import type { Logger } from '../../../lib/logger.ts';
import { framesRejected } from '../metrics.ts';
import type { BackfillProgress } from '../progress.ts';
import type { KrakenPublicApi } from './public-api.ts';
import { KRAKEN_REST_SOURCE, type RejectReason } from './rows.ts';

export interface BackfillContext {
  api: KrakenPublicApi;
  /** The client's logger; each backfill adds its pair and endpoint. */
  log: Logger;
  now: () => number;
  /** A progress reporter over [startMs, endMs] (a bar or log lines, as the client is configured). */
  progress: (label: string, startMs: number, endMs: number, log: Logger) => BackfillProgress;
}

export interface BackfillResult {
  status: 'complete' | 'aborted';
  pages: number;
  /** Items delivered by this run (trades or candles). */
  emitted: number;
  duplicates: number;
  rejected: number;
  /** Cursor this run started from when it resumed a checkpoint, else null. */
  resumedFrom: string | null;
  /** Cursor after the last page (Trades: ns timestamp string; OHLC: seconds). */
  cursor: string;
}

/** Counts and logs a row Kraken sent that is not a usable trade or candle; the backfill goes on without it. */
export function rejectRow(
  result: BackfillResult,
  row: { reason: RejectReason; detail: string },
  kind: 'trade' | 'OHLC',
  log: Logger,
): void {
  result.rejected += 1;
  framesRejected.inc({ source: KRAKEN_REST_SOURCE, reason: row.reason });
  log.warn(
    { reason: row.reason, detail: row.detail },
    `rejected malformed Kraken ${kind} row (${row.reason}): ${row.detail}`,
  );
}
