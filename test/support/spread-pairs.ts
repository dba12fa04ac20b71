/** Pair names the bus's Kafka partitioner spreads evenly over a topic's partitions. */
import { Partitioners, type PartitionMetadata } from 'kafkajs';

/**
 * `count` pair names, `name(i)` for growing i, kept only while their partition (murmur2, as
 * the bus's producers use) has fewer than its share: names picked at random can all miss
 * the partitions one replica owns, and that replica then has nothing to do.
 */
export function spreadPairs(
  count: number,
  partitions: number,
  name: (i: number) => string = (i) => `S${i}/USD`,
): { pairs: string[]; tasks: number } {
  const partitioner = Partitioners.DefaultPartitioner();
  const partitionMetadata: PartitionMetadata[] = Array.from({ length: partitions }, (_, partitionId) => ({
    partitionErrorCode: 0,
    partitionId,
    leader: 0,
    replicas: [0],
    isr: [0],
  }));
  const perPartition = Math.ceil(count / partitions);
  const taken = new Array<number>(partitions).fill(0);
  const pairs: string[] = [];
  for (let i = 0; pairs.length < count; i++) {
    if (i > 100 * count + 1_000) throw new Error(`no ${count} pair names spread over ${partitions} partitions`);
    const pair = name(i);
    const partition = partitioner({ topic: 'market-events', partitionMetadata, message: { key: pair, value: null } });
    if (taken[partition]! >= perPartition) continue;
    taken[partition]! += 1;
    pairs.push(pair);
  }
  return { pairs, tasks: taken.filter((n) => n > 0).length };
}
