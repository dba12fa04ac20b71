import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AssignerProtocol } from 'kafkajs';
import fc from 'fast-check';
import {
  assignTasks,
  copartitionedCount,
  fixedAssigner,
  isFenced,
  resumeOffset,
  taskAssigner,
  tasksOf,
  taskTransactionalId,
} from './tasks.ts';

describe('stateful tasks on Kafka', () => {
  it('gives every task to exactly one member, with all of its topics, and spreads them evenly', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 7 }),
        fc.integer({ min: 1, max: 24 }),
        (members, partitions) => {
          const topics = ['predictions', 'candles'];
          const assignment = assignTasks(members, topics, partitions);
          assert.deepEqual([...assignment.keys()].sort(), [...members].sort());
          const owners = new Map<number, string>();
          for (const [member, byTopic] of assignment) {
            // Co-partitioned: a member holds the same partition numbers of every input.
            assert.deepEqual(byTopic['predictions'], byTopic['candles']);
            for (const task of tasksOf(byTopic)) {
              assert.equal(owners.has(task), false, `task ${task} given twice`);
              owners.set(task, member);
            }
          }
          assert.equal(owners.size, partitions);
          const sizes = [...assignment.values()].map((a) => a['candles']!.length);
          assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `uneven: ${sizes.join(',')}`);
        },
      ),
    );
  });

  it('assigns the same way whatever order the members come in (every member computes the same)', () => {
    const a = assignTasks(['b', 'a', 'c'], ['t'], 6);
    const b = assignTasks(['c', 'b', 'a'], ['t'], 6);
    assert.deepEqual(Object.fromEntries(a), Object.fromEntries(b));
    assert.deepEqual(a.get('a'), { t: [0, 3] });
  });

  it('encodes the assignment as kafkajs members decode it', async () => {
    const assigner = taskAssigner(3)({} as never);
    const out = await assigner.assign({
      members: [
        { memberId: 'm2', memberMetadata: Buffer.alloc(0) },
        { memberId: 'm1', memberMetadata: Buffer.alloc(0) },
      ],
      topics: ['x', 'y'],
    });
    const decoded = Object.fromEntries(
      out.map((o) => [o.memberId, AssignerProtocol.MemberAssignment.decode(o.memberAssignment)!.assignment]),
    );
    assert.deepEqual(decoded, { m1: { x: [0, 2], y: [0, 2] }, m2: { x: [1], y: [1] } });
    const fixed = await fixedAssigner(
      'log',
      [4, 1],
    )({} as never).assign({
      members: [{ memberId: 'only', memberMetadata: Buffer.alloc(0) }],
      topics: ['log'],
    });
    assert.deepEqual(AssignerProtocol.MemberAssignment.decode(fixed[0]!.memberAssignment)!.assignment, { log: [4, 1] });
  });

  it('names one transactional id per task, stable across replicas', () => {
    assert.equal(taskTransactionalId('p.', 'candles', 4), 'p.candles-tx-task-4');
    assert.notEqual(taskTransactionalId('p.', 'candles', 1), taskTransactionalId('p.', 'candles', 11));
  });

  it('refuses inputs that are not co-partitioned', () => {
    assert.equal(copartitionedCount({ a: 6, b: 6 }), 6);
    assert.throws(() => copartitionedCount({ a: 6, b: 3 }), /equally many partitions/);
  });

  it('resumes a task at its committed offset, or at the first offset when the group never committed', () => {
    assert.equal(resumeOffset('42', '7'), '42');
    assert.equal(resumeOffset('0', '7'), '0');
    assert.equal(resumeOffset('-1', '7'), '7');
    assert.equal(resumeOffset(undefined, '7'), '7');
  });

  it('recognises a fenced producer, also wrapped by kafkajs retries', () => {
    assert.equal(isFenced({ type: 'INVALID_PRODUCER_EPOCH' }), true);
    assert.equal(
      isFenced({ name: 'KafkaJSNumberOfRetriesExceeded', originalError: { type: 'PRODUCER_FENCED' } }),
      true,
    );
    assert.equal(isFenced({ type: 'REQUEST_TIMED_OUT' }), false);
    assert.equal(isFenced(new Error('x')), false);
  });
});
