/**
 * Key-to-partition mapping for the memory bus. Kafka uses its own (murmur2 in
 * kafkajs' default partitioner); the memory bus only needs the same guarantee: one
 * key, one partition, so per-key order holds.
 */
export function partitionFor(key: string, partitions: number): number {
  let hash = 2166136261;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 16777619);
  }
  return (hash >>> 0) % partitions;
}
