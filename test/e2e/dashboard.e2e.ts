/**
 * The live dashboard in a real browser (Debian's chromium through playwright-core) on the
 * embedded default, as `npm start` runs it: replayed real candles, the first model trained
 * in the background, everything through the gateway. Waits for a live prediction, checks
 * the chart has candles, saves test-results/dashboard.png, and fails on any console error.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { BTC_CANDLES, repoRoot, requireData } from '../support/data.ts';
import { freePort } from '../support/ports.ts';
import { startService, stopGracefully, type Service } from '../support/processes.ts';
import { waitFor } from '../support/services.ts';

const CHROMIUM = '/usr/bin/chromium';
/** Without the background-networking flags Chromium fails on a closed network. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SCREENSHOT = join(repoRoot, 'test-results/dashboard.png');
/** Training the first models takes 30–90 s on a shared 2-core machine before predictions flow. */
const FIRST_PREDICTION_MS = 240_000;

const byTestId = (id: string) => `[data-testid="${id}"]`;

describe('the live dashboard (embedded default, real browser)', () => {
  const temporary: string[] = [];
  let service: Service;
  let browser: BrowserContext;
  let base: string;
  let key: string;

  before(async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tickcast-dashboard-'));
    const profile = await mkdtemp(join(tmpdir(), 'tickcast-chromium-'));
    temporary.push(dataDir, profile);
    const gatewayPort = await freePort();
    service = startService(
      'start',
      ['start', '--replay', requireData(BTC_CANDLES), '--speed', '120'],
      {
        GATEWAY_PORT: String(gatewayPort),
        METRICS_PORT: String(await freePort()),
        TICKCAST_DATA_DIR: dataDir,
        PAIRS: 'BTC/USD',
        PREDICTION_HORIZONS: '1,5',
        CHAMPION_POLL_MS: '1000',
        KRAKEN_WS_URL: `ws://127.0.0.1:${await freePort()}`,
      },
      { embedded: true },
    );
    base = `http://127.0.0.1:${gatewayPort}`;
    try {
      await waitFor(
        'the session key and a ready gateway',
        async () =>
          /this session's admin key is /.test(service.output()) &&
          (await fetch(`${base}/ready`)
            .then((r) => r.ok)
            .catch(() => false)),
        180_000,
      );
    } catch (error) {
      throw new Error(`${String(error)}\n--- tickcast start:\n${service.output().slice(-3000)}`, { cause: error });
    }
    key = /this session's admin key is (tck_session_\S+)/.exec(service.output())?.[1] ?? '';
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      viewport: { width: 1440, height: 900 },
    });
  });

  after(async () => {
    await browser?.close();
    if (service) await stopGracefully(service);
    for (const dir of temporary) await rm(dir, { recursive: true, force: true });
  });

  /** A new tab that records console errors and uncaught page errors. */
  async function open(path: string): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(`console: ${message.text()} (${message.location().url})`);
    });
    page.on('pageerror', (error) => errors.push(`page: ${error.message}`));
    await page.goto(`${base}${path}`);
    return { page, errors };
  }

  it('serves the page and its scripts from the gateway only, with a same-origin CSP', async () => {
    const page = await fetch(`${base}/dashboard`);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    // 'self' alone: the page's live subscriptions (below, in Chromium) show it covers ws: to the same host.
    const csp = page.headers.get('content-security-policy') ?? '';
    assert.match(csp, /connect-src 'self';/);
    assert.ok(!csp.includes(new URL(base).hostname), `nothing of the request's Host in ${csp}`);
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self';/);
    const html = await page.text();
    assert.doesNotMatch(html, /https?:\/\//, 'the page loads nothing from another origin');

    const client = await fetch(`${base}/dashboard/vendor/graphql-ws/client.js`);
    assert.equal(client.headers.get('content-type'), 'text/javascript; charset=utf-8');
    assert.match(await client.text(), /function createClient/);
    const again = await fetch(`${base}/dashboard/app.js`, {
      headers: { 'if-none-match': page.headers.get('etag') ?? '' },
    });
    assert.equal(again.status, 200, 'another file has another ETag');
    const etag = again.headers.get('etag') ?? '';
    assert.equal((await fetch(`${base}/dashboard/app.js`, { headers: { 'if-none-match': etag } })).status, 304);
    assert.equal((await fetch(`${base}/dashboard/../package.json`)).status, 404);
    assert.equal((await fetch(`${base}/dashboard/vendor/graphql-ws/index.js`)).status, 404);
  });

  it('asks for the API key when the gateway needs one, then connects with it', async () => {
    const { page, errors } = await open('/dashboard');
    await page.locator(byTestId('key-form')).waitFor({ state: 'visible' });
    await page.fill(byTestId('key-input'), key);
    await page.click(`${byTestId('key-form')} button`);
    await page.locator(byTestId('key-form')).waitFor({ state: 'hidden' });
    await page
      .locator(byTestId('connection-state'))
      .filter({ hasText: /^live$/ })
      .waitFor();
    assert.equal(await page.evaluate('sessionStorage.getItem("tickcast.apiKey")'), key);
    // The only error is the browser's own log line for the first, keyless request (401).
    assert.deepEqual(
      errors.filter((e) => !/status of 401/.test(e)),
      [],
    );
    await page.close();
  });

  it('shows live candles, a live prediction with its interval, indicators, performance and sentiment', async () => {
    await mkdir(join(repoRoot, 'test-results'), { recursive: true });
    const { page, errors } = await open(`/dashboard?key=${encodeURIComponent(key)}`);
    try {
      assert.equal(new URL(page.url()).search, '', 'the key is taken out of the address bar');

      const prediction = page.locator(byTestId('latest-prediction'));
      await prediction.waitFor({ timeout: FIRST_PREDICTION_MS });
      const first = { price: await prediction.textContent(), madeAt: await prediction.getAttribute('data-made-at') };
      assert.match(first.price ?? '', /^\d{1,3}(,\d{3})*\.\d+$/, `a price, not ${first.price}`);
      assert.ok(Number((first.price ?? '').replaceAll(',', '')) > 1_000, 'a BTC/USD price');
      // Live: a newer prediction replaces it without reloading the page.
      await page
        .locator(`${byTestId('latest-prediction')}:not([data-made-at="${first.madeAt}"])`)
        .waitFor({ timeout: 120_000 });

      const candles = Number(await page.getAttribute(byTestId('candle-chart'), 'data-candles'));
      assert.ok(candles >= 10, `the chart has candles (${candles})`);
      assert.ok((await page.locator(`${byTestId('candle-chart')} ${byTestId('candle')}`).count()) >= 10);
      await page.locator(byTestId('chart-prediction')).waitFor();
      assert.equal(await page.textContent(byTestId('connection-state')), 'live');
      assert.match((await page.textContent(byTestId('indicator-rsi_14'))) ?? '', /^\d+\.\d/);
      // Scored predictions reach the performance panel (it refreshes every 15 s).
      await page.locator(`${byTestId('model-performance')} table`).waitFor({ timeout: 60_000 });
      assert.match((await page.textContent(byTestId('performance-mae-1'))) ?? '', /^\d+\.\d{2}$/);
      // The sentiment pipeline may have scored nothing: the panel says so instead of failing.
      await page
        .locator(`${byTestId('sentiment-empty')}, ${byTestId('sentiment')} .windows`)
        .first()
        .waitFor();
      assert.equal(await page.isVisible(byTestId('error')), false);
      // A few predictions in, so the screenshot shows their interval band over the candles.
      await page.locator(`${byTestId('chart-prediction-band')} polygon`).waitFor({ timeout: 60_000 });

      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      assert.deepEqual(errors, []);
    } catch (error) {
      // What the page and the service looked like when it failed.
      await page.screenshot({ path: join(repoRoot, 'test-results/dashboard-failure.png'), fullPage: true });
      throw new Error(
        `${String(error)}\npage errors: ${errors.join('\n')}\n--- tickcast start:\n${service.output().slice(-3000)}`,
        {
          cause: error,
        },
      );
    } finally {
      await page.close();
    }
  });
});
