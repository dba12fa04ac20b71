/** Chooses and builds the trade source a service runs, and says which one is live. */
import WebSocket from 'ws';
import { z } from 'zod';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/logger.ts';
import { readCandleCsv } from '../lib/candle-csv.ts';
import { replayCandles } from '../streams/sources/candle-replay.ts';
import { KrakenWsTradeSource } from '../streams/sources/kraken-ws.ts';
import { RecordingReplaySource, recordingPositionSchema } from '../streams/sources/recording.ts';
import { replayPosition } from '../streams/sources/replay-position.ts';
import { SIMULATED_MARKET, SimulatedMarket } from '../streams/sources/simulated.ts';
import type { MarketSink, TradeSource } from '../streams/sources/source.ts';

export type SourceChoice = 'auto' | 'kraken' | 'replay' | 'simulated';

export interface SourceOptions {
  readonly source: SourceChoice;
  readonly replay?: string | undefined;
  /** Pair a candle file holds (candle exports carry no pair column). */
  readonly pair: string;
  readonly speed: number;
  /** A candle file's first minutes sent as fast as possible before pacing at `speed` (candle-replay.ts). */
  readonly catchUpMinutes?: number | undefined;
  readonly from?: number | undefined;
  readonly to?: number | undefined;
  /** Ignore the replay's saved position and start from the file's first line. */
  readonly fromStart?: boolean | undefined;
  /**
   * Open time of the pair's newest stored (final) one-minute candle, null when none. An
   * in-process bus loses the candles processor's open window with the process, so a candle
   * replay resumes no later than after this minute: the minutes in that window are sent
   * again and close, instead of leaving a hole. On Kafka the re-sent trades are deduped.
   */
  readonly storedThrough?: ((pair: string) => Promise<number | null>) | undefined;
}

const candlePositionSchema = z.object({ lastMinute: z.number() });

/**
 * Replays a Kraken one-minute candle export (CSV) or a tickcast recording (JSON Lines),
 * continuing after the position a previous run saved (replay-position.ts).
 */
export class FileReplaySource implements TradeSource {
  readonly name = 'replay-candles' as const;
  constructor(
    private readonly path: string,
    private readonly options: SourceOptions,
    private readonly config: Config,
    private readonly logger: Logger,
  ) {}

  async start(sink: MarketSink, signal: AbortSignal): Promise<void> {
    const { from, to, pair, speed, fromStart = false } = this.options;
    const path = this.path;
    if (/\.jsonl(\.gz)?$/.test(path)) {
      const position = replayPosition(this.config, 'recording', path, [], recordingPositionSchema);
      const resumeFrom = fromStart ? null : await position.load();
      if (resumeFrom) this.logger.info({ file: path, events: resumeFrom.events }, 'recording replay resumes');
      try {
        await new RecordingReplaySource(path, speed, {
          resumeFrom,
          onAcknowledged: (p) => position.acknowledged(p),
        }).start(sink, signal);
      } finally {
        await position.flush();
      }
      return;
    }
    const position = replayPosition(
      this.config,
      'candles',
      path,
      [pair, from ?? null, to ?? null],
      candlePositionSchema,
    );
    const saved = fromStart ? null : await position.load();
    const stored = saved && this.options.storedThrough ? await this.options.storedThrough(pair) : undefined;
    // Nothing stored yet (stopped before a minute closed): start over, as the store has nothing to continue.
    const resumeAfter = saved === null || stored === null ? undefined : Math.min(saved.lastMinute, stored ?? Infinity);
    if (resumeAfter !== undefined)
      this.logger.info({ file: path, after: new Date(resumeAfter).toISOString() }, 'candle replay resumes');
    const rows = (async function* () {
      for await (const row of readCandleCsv(path)) {
        if (from !== undefined && row.time < from) continue;
        if (to !== undefined && row.time >= to) break;
        yield row;
      }
    })();
    try {
      const summary = await replayCandles(rows, sink, {
        pair,
        speed,
        catchUpMinutes: this.options.catchUpMinutes ?? 0,
        signal,
        ...(resumeAfter === undefined ? {} : { resumeAfter }),
        onAcknowledged: (lastMinute) => position.acknowledged({ lastMinute }),
      });
      this.logger.info({ ...summary, file: path }, signal.aborted ? 'replay stopped' : 'replay finished');
    } finally {
      await position.flush();
    }
  }
}

/** Resolves true when a WebSocket handshake with `url` succeeds within the timeout. */
export async function canReach(url: string, timeoutMs: number): Promise<{ ok: boolean; reason?: string }> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url, { handshakeTimeout: timeoutMs });
    socket.once('open', () => {
      socket.close();
      resolve({ ok: true });
    });
    socket.once('error', (error) => resolve({ ok: false, reason: error.message }));
  });
}

export async function chooseSource(config: Config, options: SourceOptions, logger: Logger): Promise<TradeSource> {
  const kraken = (): TradeSource => new KrakenWsTradeSource({ pairs: config.PAIRS, url: config.KRAKEN_WS_URL, logger });
  const replay = (path: string): TradeSource => new FileReplaySource(path, options, config, logger);
  const simulated = (): TradeSource => {
    logger.warn('SIMULATED MARKET: prices are a random walk, not real market data');
    return new SimulatedMarket({
      pairs: config.PAIRS,
      ...SIMULATED_MARKET,
      seed: Date.now(),
      // Four hours of simulated past first: the indicators are warm at the first live minute.
      warmUp: { minutes: 240, storedThrough: options.storedThrough },
    });
  };

  switch (options.source) {
    case 'kraken':
      return kraken();
    case 'simulated':
      return simulated();
    case 'replay':
      if (!options.replay)
        throw new Error('--source replay needs --replay FILE (a Kraken candle CSV or a .jsonl recording)');
      return replay(options.replay);
    case 'auto': {
      const probe = await canReach(config.KRAKEN_WS_URL, 5_000);
      if (probe.ok) {
        logger.info({ url: config.KRAKEN_WS_URL }, 'live source: Kraken WebSocket');
        return kraken();
      }
      const fallback = options.replay ? `replay of ${options.replay}` : 'the SIMULATED market';
      logger.warn(
        { url: config.KRAKEN_WS_URL, reason: probe.reason },
        `Kraken cannot be reached (${probe.reason ?? 'no answer'}); falling back to ${fallback}`,
      );
      return options.replay ? replay(options.replay) : simulated();
    }
  }
}
