// The dashboard: finds the API key, lists the markets, and for the chosen pair loads the
// history with queries and keeps it live with subscriptions, all through the gateway.
import { createApi, Unauthorized } from './api.js';
import { AlertsPanel } from './alerts.js';
import { CandleChart } from './chart.js';
import { dateTime, el, perFrame, percent, price } from './dom.js';
import { renderIndicators } from './indicators.js';
import { askForKey, forgetKey, initialKey } from './key.js';
import { renderPerformance } from './performance.js';
import { PredictionsPanel } from './predictions.js';
import * as Q from './queries.js';
import { renderSentiment } from './sentiment.js';

const CANDLES = 120;
const MINUTE = 60_000;
const REFRESH_MS = 15_000;

const $ = (testId) => document.querySelector(`[data-testid="${testId}"]`);

function showState({ state, detail }) {
  const badge = $('connection-state');
  badge.dataset.state = state;
  badge.textContent = detail ? `${state} ${detail}` : state;
}

function showError(error) {
  const box = $('error');
  box.hidden = !error;
  box.textContent = error ? String(error.message ?? error) : '';
}

const chart = new CandleChart($('candle-chart'));
const predictions = new PredictionsPanel((horizon) => chart.setHorizon(horizon));
const alerts = new AlertsPanel();
const renderPredictions = perFrame(() => predictions.render());
const renderIndicatorsSoon = perFrame(renderIndicators);

/** Everything that belongs to the pair on screen; replaced when the pair changes. */
let current = { stop: () => undefined };

function showMarketTime(candle) {
  $('market-time').textContent = `market time ${dateTime(candle.closeTime)}`;
  $('last-price').textContent = price(candle.close);
  predictions.setLastClose(candle.close);
}

async function showPair(api, pair) {
  current.stop();
  let active = true;
  const subscriptions = [];
  const timers = [];
  current = {
    stop: () => {
      active = false;
      subscriptions.forEach((dispose) => dispose());
      timers.forEach(clearInterval);
    },
  };
  chart.reset();
  predictions.reset();
  $('chart-title').textContent = `${pair} · 1m`;
  const guard = (fn) => (data) => active && fn(data);

  // Live first, so nothing falls between the history and the first event.
  subscriptions.push(
    api.subscribe(
      Q.CANDLE_UPDATED,
      { pair },
      guard(({ candleUpdated }) => {
        chart.upsertCandle(candleUpdated);
        showMarketTime(candleUpdated);
      }),
    ),
    api.subscribe(
      Q.PREDICTION_CREATED,
      { pair },
      guard(({ predictionCreated }) => {
        chart.addPredictions([predictionCreated]);
        predictions.add([predictionCreated]);
        renderPredictions();
      }),
    ),
    api.subscribe(
      Q.INDICATORS_UPDATED,
      { pair },
      guard(({ indicatorsUpdated }) => renderIndicatorsSoon(indicatorsUpdated)),
    ),
  );

  const { market } = await api.query(Q.MARKET, { pair });
  if (!active) return;
  renderIndicators(market?.latestFeatures ?? null);
  const ticker = market?.ticker;
  $('change-24h').textContent = ticker ? `24h ${percent(ticker.change24h, 2)}` : '';
  $('change-24h').className = ticker?.change24h >= 0 ? 'up' : 'down';

  const loads = [];
  if (ticker) {
    const from = new Date(Date.parse(ticker.asOf) - CANDLES * MINUTE).toISOString();
    loads.push(
      api.query(Q.CANDLES, { pair, from, first: CANDLES }).then(
        guard(({ market: m }) => {
          const candles = m?.candles.edges.map((e) => e.node) ?? [];
          chart.setCandles(candles);
          if (candles.length) showMarketTime(candles.at(-1));
        }),
      ),
    );
  } else {
    chart.setCandles([]);
  }
  loads.push(
    api.query(Q.PREDICTIONS, { pair, first: 150 }).then(
      guard(({ market: m }) => {
        const history = (m?.predictions ?? []).slice().reverse();
        chart.addPredictions(history);
        predictions.add(history);
        renderPredictions();
      }),
    ),
  );
  const refresh = () => {
    const coin = market?.base ?? pair.split('/')[0];
    return Promise.all([
      api.query(Q.SENTIMENT, { pair, coin }).then(guard((d) => renderSentiment(d.market, d.sentimentSignals))),
      api.query(Q.PERFORMANCE, { pair }).then(guard((d) => renderPerformance(pair, d.modelPerformance, d.models))),
    ]);
  };
  loads.push(refresh());
  // A failed refresh is retried by the next one; the connection badge tells why.
  timers.push(setInterval(() => refresh().catch((error) => console.warn('refresh failed:', error)), REFRESH_MS));
  await Promise.all(loads);
}

function report(error) {
  console.error('dashboard:', error);
  showError(error);
}

function start(api, markets) {
  const select = $('pair-select');
  select.replaceChildren(...markets.map((m) => el('option', { value: m.pair }, m.pair)));
  // The first market with data (a replay may fill only one of the configured pairs).
  select.value = (markets.find((m) => m.ticker) ?? markets[0])?.pair ?? '';
  select.onchange = () => showPair(api, select.value).catch(report);
  api.subscribe(Q.MODEL_ALERT, {}, ({ modelAlert }) => alerts.add(modelAlert));
  api.onReconnected(() => showPair(api, select.value).catch(report));
  api.onUnauthorized(() => {
    current.stop();
    api.dispose();
    forgetKey();
    main(true);
  });
  if (select.value) return showPair(api, select.value);
  showError(new Error('the gateway lists no markets'));
}

async function main(refused = false) {
  let key = refused ? undefined : initialKey();
  for (;;) {
    const api = createApi(key, showState);
    let markets;
    try {
      ({ markets } = await api.query(Q.MARKETS));
    } catch (error) {
      api.dispose();
      if (!(error instanceof Unauthorized)) {
        showState({ state: 'unavailable', detail: 'retrying in 5 s' });
        showError(error);
        await new Promise((resolve) => setTimeout(resolve, 5_000));
        continue;
      }
      forgetKey();
      showState({ state: 'signed out' });
      key = await askForKey(
        key || refused
          ? 'The gateway refused this key. Enter another one.'
          : 'This gateway needs an API key: `tickcast start` prints one for its session.',
      );
      continue;
    }
    showError(undefined);
    // A pair that fails to load says so; the key worked, so the page stays.
    await start(api, markets)?.catch(report);
    return;
  }
}

main().catch(report);
