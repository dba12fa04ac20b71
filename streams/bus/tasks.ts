/**
 * Tasks of a stateful processor on Kafka, the Kafka Streams "EOS v1" scheme (kafkajs has no
 * KIP-447): a task is one partition number across the processor's input topics (they are
 * co-partitioned: keyed by pair, with equally many partitions), and each task has a
 * transactional producer of its own. Whoever takes a task initialises that producer's
 * transactional id, which fences the previous owner and aborts its open transaction; the
 * new owner then restores the task's state from the same partition of the changelog.
 * These are the pure parts: task ids, the co-partitioned group assignment, fencing errors.
 */
import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';

/** One transactional id per task: stable across replicas and restarts, so the next owner fences the last. */
export function taskTransactionalId(groupPrefix: string, processor: string, task: number): string {
  return `${groupPrefix}${processor}-tx-task-${task}`;
}

/** The tasks (partition numbers) an assignment of topic partitions covers. */
export function tasksOf(assignment: Readonly<Record<string, readonly number[]>>): Set<number> {
  return new Set(Object.values(assignment).flat());
}

/**
 * The partition count the processor's input topics share. Tasks span the topics by partition
 * number, so topics with different counts would put one pair's records in two tasks.
 */
export function copartitionedCount(counts: Readonly<Record<string, number>>): number {
  const distinct = new Set(Object.values(counts));
  if (distinct.size !== 1) {
    throw new Error(
      `input topics must have equally many partitions (co-partitioned by pair): ${JSON.stringify(counts)}`,
    );
  }
  return [...distinct][0]!;
}

/**
 * Deals tasks 0..partitions-1 round robin over the sorted members; each member gets every
 * topic's partition of each of its tasks. kafkajs' round-robin assigner deals topic partitions
 * one by one, which splits a task's topics between members when there are several inputs.
 */
export function assignTasks(
  memberIds: readonly string[],
  topics: readonly string[],
  partitions: number,
): Map<string, Record<string, number[]>> {
  const members = [...memberIds].sort();
  const assignment = new Map<string, Record<string, number[]>>(
    members.map((m) => [m, Object.fromEntries(topics.map((t) => [t, [] as number[]]))]),
  );
  if (members.length === 0) return assignment;
  for (let task = 0; task < partitions; task++) {
    const owner = assignment.get(members[task % members.length]!)!;
    for (const topic of topics) owner[topic]!.push(task);
  }
  return assignment;
}

function assigner(
  name: string,
  assign: (memberIds: string[], topics: string[]) => Map<string, Record<string, number[]>>,
): PartitionAssigner {
  return () => ({
    name,
    version: 0,
    assign: ({ members, topics }) =>
      Promise.resolve(
        [
          ...assign(
            members.map((m) => m.memberId),
            topics,
          ),
        ].map(([memberId, assignment]) => ({
          memberId,
          memberAssignment: AssignerProtocol.MemberAssignment.encode({
            version: 0,
            assignment,
            userData: Buffer.alloc(0),
          }),
        })),
      ),
    protocol: ({ topics }) => ({
      name,
      metadata: AssignerProtocol.MemberMetadata.encode({ version: 0, topics, userData: Buffer.alloc(0) }),
    }),
  });
}

/** The group assigner of a stateful processor: whole tasks per member (assignTasks). */
export function taskAssigner(partitions: number): PartitionAssigner {
  return assigner('TickcastTaskAssigner', (memberIds, topics) => assignTasks(memberIds, topics, partitions));
}

/**
 * For a restore reader (a group of its own, one member): exactly the changelog partitions of
 * the tasks being restored, so a replica reads its own tasks' state and no other.
 */
export function fixedAssigner(topic: string, partitions: readonly number[]): PartitionAssigner {
  return assigner(
    'TickcastFixedAssigner',
    (memberIds) => new Map(memberIds.slice(0, 1).map((m) => [m, { [topic]: [...partitions] }])),
  );
}

/**
 * Where a task's input partition resumes: the offset its group committed (with the restored
 * state), or the partition's first offset (`low`) when none was committed ("-1"): stateful
 * inputs are read from the beginning.
 */
export function resumeOffset(committed: string | undefined, low: string): string {
  return committed !== undefined && BigInt(committed) >= 0n ? committed : low;
}

/** Broker answers that say another producer has taken this transactional id: the task moved. */
const FENCED_TYPES: ReadonlySet<string> = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED']);

/** Whether `error` (or the error kafkajs wrapped in it after its retries) means this producer was fenced. */
export function isFenced(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; typeof e === 'object' && e !== null && depth < 5; depth++) {
    const { type, originalError, cause } = e as { type?: unknown; originalError?: unknown; cause?: unknown };
    if (typeof type === 'string' && FENCED_TYPES.has(type)) return true;
    e = originalError ?? cause;
  }
  return false;
}
