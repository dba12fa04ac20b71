/**
 * Prints the Kafka topic table of docs/architecture.md from schema/topics.ts, so the
 * documentation cannot drift from the declarations (checked by schema/topics.test.ts).
 */
import { TOPICS, changelogTopic, type TopicSpec } from '../schema/topics.ts';

const DAY = 86_400_000;
const retention = (ms: number): string => (ms < 0 ? 'forever (compacted)' : `${ms / DAY} d`);

export function topicsTable(): string {
  const rows: TopicSpec[] = [
    ...Object.values(TOPICS),
    changelogTopic('candles'),
    changelogTopic('indicators'),
    changelogTopic('sentiment-extractor'),
    changelogTopic('sentiment-features'),
  ];
  const header = '| topic | key | value | partitions | retention | cleanup | producers | consumers |';
  const rule = '|---|---|---|---|---|---|---|---|';
  const cell = (text: string): string => text.replaceAll('|', '\\|');
  const lines = rows.map(
    (t) =>
      `| \`${t.name}\` | ${cell(t.key)} | ${cell(t.valueName)} | ${t.partitions} | ${retention(t.retentionMs)} | ${t.compacted ? 'compact' : 'delete'} | ${t.producers.join(', ')} | ${t.consumers.join(', ')} |`,
  );
  return [header, rule, ...lines].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(topicsTable());
