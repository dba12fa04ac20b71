/**
 * A subgraph's live events: one bus consumer per subgraph process (a group of its own, so
 * every replica behind a load balancer sees every event) fanned out to the process's
 * GraphQL subscriptions. Each subscription gets a bounded channel: a subscriber that falls
 * `capacity` events behind is ended with an error rather than buffering without limit.
 */
import { z } from 'zod';
import type { Logger } from '../lib/logger.ts';
import { Channel } from '../lib/channel.ts';
import { counter, gauge } from '../lib/metrics.ts';
import type { Bus, RunningTask } from '../streams/bus/bus.ts';
import { decodeValue } from '../streams/bus/codec.ts';
import type { TopicSpec } from '../schema/topics.ts';

const activeSubscriptions = gauge('tickcast_subgraph_subscriptions_active', 'Open GraphQL subscriptions', ['subgraph']);
const eventsDelivered = counter(
  'tickcast_subgraph_subscription_events_total',
  'Events handed to subscriptions (one per event per matching subscription)',
  ['subgraph', 'topic'],
);
const eventsRejected = counter(
  'tickcast_subgraph_live_events_rejected_total',
  'Bus records a subgraph could not decode for its subscriptions',
  ['subgraph', 'topic'],
);

/** The live topics a subgraph follows, with the schema of their values. */
export type LiveTopics = readonly TopicSpec[];

export interface LiveFeed {
  /** Events of `topics` that pass `filter`, from now on, until the subscriber leaves. */
  subscribe<T>(
    topics: readonly (TopicSpec & { value: z.ZodType<T> })[],
    filter: (event: T) => boolean,
  ): AsyncIterableIterator<T>;
  stop(): Promise<void>;
}

interface Subscriber {
  readonly filter: (event: unknown) => boolean;
  readonly channel: Channel<unknown>;
}

/** Events one subscription may have waiting: room for a Kafka batch burst (the gateway reads them at once). */
export const LIVE_BUFFER = 10_000;

export async function startLiveFeed(options: {
  bus: Bus;
  subgraph: string;
  topics: LiveTopics;
  logger: Logger;
  capacity?: number;
}): Promise<LiveFeed> {
  const { subgraph, logger } = options;
  const capacity = options.capacity ?? LIVE_BUFFER;
  const subscribers = new Map<string, Set<Subscriber>>(options.topics.map((topic) => [topic.name, new Set()]));
  const schemas = new Map(options.topics.flatMap((topic) => (topic.value ? [[topic.name, topic.value] as const] : [])));

  let task: RunningTask | undefined;
  if (options.topics.length > 0) {
    await options.bus.ensureTopics(options.topics);
    task = await options.bus.consume({
      groupId: `subgraph-${subgraph}-live`,
      topics: options.topics.map((topic) => topic.name),
      fromBeginning: false,
      live: true,
      handler: async (records) => {
        for (const record of records) {
          const listeners = subscribers.get(record.topic);
          if (!listeners || listeners.size === 0) continue;
          let event: unknown;
          try {
            event = decodeValue(schemas.get(record.topic) ?? z.unknown(), record);
          } catch (error) {
            // The processors dead-letter bad records; a subscription just never sees them.
            eventsRejected.inc({ subgraph, topic: record.topic });
            logger.debug({ err: error }, 'live event rejected');
            continue;
          }
          for (const listener of listeners) {
            if (!listener.filter(event)) continue;
            if (listener.channel.push(event)) eventsDelivered.inc({ subgraph, topic: record.topic });
          }
        }
      },
    });
  }
  logger.info({ topics: options.topics.map((t) => t.name) }, 'live feed following the bus');

  return {
    subscribe<T>(topics: readonly (TopicSpec & { value: z.ZodType<T> })[], filter: (event: T) => boolean) {
      const names = topics.map((topic) => topic.name);
      const sets = names.map((name) => {
        const listeners = subscribers.get(name);
        if (!listeners) throw new Error(`subgraph ${subgraph} does not follow ${name}`);
        return listeners;
      });
      const subscriber: Subscriber = {
        filter: filter as (event: unknown) => boolean,
        channel: new Channel<unknown>(capacity, () => {
          for (const listeners of sets) listeners.delete(subscriber);
          activeSubscriptions.dec({ subgraph });
        }),
      };
      for (const listeners of sets) listeners.add(subscriber);
      activeSubscriptions.inc({ subgraph });
      return subscriber.channel as Channel<T>;
    },
    async stop() {
      await task?.stop();
      for (const listeners of subscribers.values()) for (const listener of listeners) listener.channel.close();
    },
  };
}
