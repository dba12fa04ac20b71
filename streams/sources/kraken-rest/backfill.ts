/** What the trades and the OHLC backfill share: what they need from the client, and their result. */
import type { Logger } from '../../../lib/logger.ts';
import type { BackfillProgress } from '../progress.ts';
import type { KrakenPublicApi } from './public-api.ts';

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
