/**
 * Subgraph replicas behind a load balancer: each replica's live feed is its own consumer
 * group on real Kafka, so every replica sees every event (a subscription can land on any
 * of them), and a feed starts at the end of the topic (no history replayed as "live").
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Prediction } from '../../schema/events.ts';
import { TOPICS } from '../../schema/topics.ts';
import type { Bus } from '../../streams/bus/bus.ts';
import { createBus } from '../../streams/runtime.ts';
import { startLiveFeed, type LiveFeed } from '../../subgraphs/live.ts';
import { samplePrediction } from '../support/events.ts';
import { isolate, testLogger, waitFor, type Isolation } from '../support/services.ts';

const PAIR = 'LIVE/USD';

const prediction = (minute: number): Prediction => samplePrediction(PAIR, minute);

async function collect(iterator: AsyncIterableIterator<Prediction>, into: Prediction[]): Promise<void> {
  for await (const event of iterator) into.push(event);
}

describe('live feeds of subgraph replicas', () => {
  let iso: Isolation;
  let buses: Bus[] = [];
  let feeds: LiveFeed[] = [];

  before(async () => {
    iso = await isolate('live');
    buses = [await createBus(iso.config, testLogger), await createBus(iso.config, testLogger)];
    // Published before any replica runs: not live any more.
    await buses[0]!.publish([{ topic: TOPICS.predictions.name, key: PAIR, value: prediction(0) }]);
    feeds = await Promise.all(
      buses.map((bus) =>
        startLiveFeed({ bus, subgraph: 'predictions', topics: [TOPICS.predictions], logger: testLogger }),
      ),
    );
  });

  after(async () => {
    for (const feed of feeds) await feed.stop();
    for (const bus of buses) await bus.close();
    await iso?.close();
  });

  it('delivers every new event to every replica, nothing from before it started', async () => {
    const received: Prediction[][] = [[], []];
    const reading = feeds.map((feed, i) =>
      collect(
        feed.subscribe([TOPICS.predictions], (event) => event.pair === PAIR),
        received[i]!,
      ),
    );
    const sent = [1, 2, 3, 4, 5].map(prediction);
    await buses[0]!.publish(sent.map((value) => ({ topic: TOPICS.predictions.name, key: PAIR, value })));
    await waitFor('both replicas to see 5 events', async () => received.every((r) => r.length >= 5), 30_000);
    for (const replica of received) assert.deepEqual(replica.map((p) => p.id).sort(), sent.map((p) => p.id).sort());
    for (const feed of feeds) await feed.stop();
    await Promise.all(reading);
  });
});
