/**
 * `tickcast news` as the Kubernetes Deployment runs it, against real Kafka: one configured
 * feed that refuses (404) stops alone while the other keeps publishing; the command fails
 * only when every source has stopped.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { newsItemSchema } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import type { Bus } from '../../streams/bus/bus.ts';
import { createBus } from '../../streams/runtime.ts';
import { freePort } from '../support/ports.ts';
import { startService, stopGracefully } from '../support/processes.ts';
import { isolate, testLogger, waitFor, type Isolation } from '../support/services.ts';

const RSS = `<?xml version="1.0"?><rss version="2.0"><channel><title>Test outlet</title>
<item><title>Bitcoin climbs past a round number</title><link>https://news.example/btc-climbs</link>
<pubDate>Tue, 04 Apr 2023 12:00:00 GMT</pubDate></item>
<item><title>Ether upgrade ships on time</title><link>https://news.example/eth-upgrade</link>
<pubDate>Tue, 04 Apr 2023 12:05:00 GMT</pubDate></item>
</channel></rss>`;

describe('tickcast news with one feed that refuses', () => {
  let iso: Isolation;
  let bus: Bus;
  let feeds: Server;
  let base: string;

  before(async () => {
    feeds = createServer((req, res) => {
      if (req.url === '/rss') res.writeHead(200, { 'content-type': 'application/rss+xml' }).end(RSS);
      else res.writeHead(404).end('no such feed');
    });
    await new Promise<void>((resolve) => feeds.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(feeds.address() as AddressInfo).port}`;
    iso = await isolate('news');
    bus = await createBus(iso.config, testLogger);
  });

  after(async () => {
    await bus?.close();
    await iso?.close();
    await new Promise((resolve) => feeds?.close(resolve));
  });

  it('keeps publishing the good feed after the other one stopped', async () => {
    const published: string[] = [];
    const reader = await bus.consume({
      groupId: 'test-news-reader',
      topics: [TOPICS.news.name],
      fromBeginning: true,
      handler: async (records) => {
        for (const r of records) published.push(newsItemSchema.parse(JSON.parse(r.value!.toString())).title);
      },
    });
    const metrics = await freePort();
    const news = startService('news', ['news', '--source', 'rss'], {
      ...iso.env,
      METRICS_PORT: String(metrics),
      NEWS_RSS_FEEDS: `${base}/gone,${base}/rss`,
      NEWS_POLL_INTERVAL_MS: '10000',
    });
    try {
      await waitFor('both headlines on the news topic', async () => published.length >= 2, 60_000).catch(
        (error: Error) => {
          throw new Error(`${error.message}\n${news.output()}`);
        },
      );
      assert.deepEqual(published.sort(), ['Bitcoin climbs past a round number', 'Ether upgrade ships on time']);
      assert.equal(news.child.exitCode, null, `still running:\n${news.output()}`);
      await waitFor(
        'the refused feed reported',
        async () => /news source stopped; the others go on/.test(news.output()),
        30_000,
      );
    } finally {
      assert.equal(await stopGracefully(news), 0, news.output());
      await reader.stop();
    }
  });
});
