/** Chooses and builds the trade source a service runs, and says which one is live. */
import WebSocket from 'ws';
import type { Config } from '../lib/config.ts';
import type { Logger } from '../lib/logger.ts';
import { readCandleCsv } from '../streams/sources/candle-csv.ts';
import { replayCandles } from '../streams/sources/candle-replay.ts';
import { KrakenWsTradeSource } from '../streams/sources/kraken-ws.ts';
import { RecordingReplaySource } from '../streams/sources/recording.ts';
import { SimulatedMarket } from '../streams/sources/simulated.ts';
import type { MarketSink, TradeSource } from '../streams/sources/source.ts';

export type SourceChoice = 'auto' | 'kraken' | 'replay' | 'simulated';

export interface SourceOptions {
  readonly source: SourceChoice;
  readonly replay?: string | undefined;
  /** Pair a candle file holds (candle exports carry no pair column). */
  readonly pair: string;
  readonly speed: number;
  readonly from?: number | undefined;
  readonly to?: number | undefined;
}

/** Replays a Kraken one-minute candle export (CSV) or a tickcast recording (JSON Lines). */
export class FileReplaySource implements TradeSource {
  readonly name = 'replay-candles' as const;
  constructor(
    private readonly path: string,
    private readonly options: SourceOptions,
    private readonly logger: Logger,
  ) {}

  async start(sink: MarketSink, signal: AbortSignal): Promise<void> {
    if (/\.jsonl(\.gz)?$/.test(this.path)) {
      await new RecordingReplaySource(this.path, this.options.speed).start(sink, signal);
      return;
    }
    const { from, to } = this.options;
    const path = this.path;
    const rows = (async function* () {
      for await (const row of readCandleCsv(path)) {
        if (from !== undefined && row.time < from) continue;
        if (to !== undefined && row.time >= to) break;
        yield row;
      }
    })();
    const summary = await replayCandles(rows, sink, { pair: this.options.pair, speed: this.options.speed, signal });
    this.logger.info({ ...summary, file: this.path }, 'replay finished');
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
  const replay = (path: string): TradeSource => new FileReplaySource(path, options, logger);
  const simulated = (): TradeSource => {
    logger.warn('SIMULATED MARKET: prices are a random walk, not real market data');
    return new SimulatedMarket({ pairs: config.PAIRS, tradesPerSecond: 4, volatility: 0.0005, seed: Date.now() });
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
