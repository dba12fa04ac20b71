/** How much of its input a stream processor has not committed yet: to tell a kill mid-stream from one after the end. */
import { Kafka, logLevel } from 'kafkajs';
import { retryingRetriable } from '../../streams/bus/kafka-retry.ts';
import { requireServices, type Isolation } from './services.ts';

/**
 * Records on `topic` (the isolation's) beyond the offsets `processor`'s consumer group has
 * committed, summed over partitions; a partition it never committed counts from its start.
 * Topics written in Kafka transactions end with a commit marker the consumer never reads,
 * so a fully consumed topic can show up to one pending offset per partition: callers compare
 * with `partitions`.
 */
export function pendingInput(
  iso: Isolation,
  processor: string,
  topic: string,
): Promise<{ pending: number; partitions: number }> {
  return retryingRetriable(() => pendingInputOnce(iso, processor, topic));
}

async function pendingInputOnce(
  iso: Isolation,
  processor: string,
  topic: string,
): Promise<{ pending: number; partitions: number }> {
  const kafka = new Kafka({ brokers: requireServices().brokers, clientId: 'lag-probe', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const fullTopic = `${iso.env['KAFKA_TOPIC_PREFIX'] ?? ''}${topic}`;
    const ends = await admin.fetchTopicOffsets(fullTopic);
    const [committed] = await admin.fetchOffsets({
      groupId: `${iso.env['TICKCAST_GROUP_PREFIX'] ?? ''}${processor}`,
      topics: [fullTopic],
    });
    let pending = 0;
    for (const end of ends) {
      const offset = Number(committed?.partitions.find((p) => p.partition === end.partition)?.offset ?? -1);
      pending += Math.max(0, Number(end.high) - (offset >= 0 ? offset : Number(end.low)));
    }
    return { pending, partitions: ends.length };
  } finally {
    await admin.disconnect();
  }
}

/** True when `processor` still had input to commit: more pending offsets than trailing transaction markers. */
export async function inputStillFlowing(iso: Isolation, processor: string, topic: string): Promise<boolean> {
  const { pending, partitions } = await pendingInput(iso, processor, topic);
  return pending > partitions;
}

/** The state of `processor`'s consumer group ('Empty', 'PreparingRebalance', 'Stable', ...) and its member count. */
export async function groupState(iso: Isolation, processor: string): Promise<{ state: string; members: number }> {
  const kafka = new Kafka({ brokers: requireServices().brokers, clientId: 'group-probe', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const {
      groups: [group],
    } = await admin.describeGroups([`${iso.env['TICKCAST_GROUP_PREFIX'] ?? ''}${processor}`]);
    return { state: group?.state ?? 'Dead', members: group?.members.length ?? 0 };
  } finally {
    await admin.disconnect();
  }
}

/**
 * Resolves as soon as `processor`'s group is Stable with exactly one member, polling on one
 * connection (a fresh client per probe would add its connect time to the moment a caller
 * acts on, e.g. a kill meant to land while the member works through its first batches).
 */
export async function waitForSoleMember(iso: Isolation, processor: string, timeoutMs: number): Promise<void> {
  const kafka = new Kafka({ brokers: requireServices().brokers, clientId: 'group-probe', logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  const groupId = `${iso.env['TICKCAST_GROUP_PREFIX'] ?? ''}${processor}`;
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const {
        groups: [group],
      } = await admin.describeGroups([groupId]);
      if (group?.state === 'Stable' && group.members.length === 1) return;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${processor} to join`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  } finally {
    await admin.disconnect();
  }
}
