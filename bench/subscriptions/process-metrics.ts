/**
 * What the benchmarks read of their children from outside: memory and CPU time from /proc,
 * and the Prometheus counters a tickcast process serves on /metrics.
 */
import { readFile } from 'node:fs/promises';

export async function procStatus(pid: number): Promise<{ rssMb: number; hwmMb: number }> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  return { rssMb: kb('VmRSS') / 1024, hwmMb: kb('VmHWM') / 1024 };
}

/** CPU seconds (user + system) the process has used. */
export function cpuSeconds(pid: number): Promise<number> {
  return statCpuSeconds(`/proc/${pid}/stat`);
}

/**
 * CPU seconds of the process's main thread alone: JavaScript, and whatever else runs on the event
 * loop; the rest of cpuSeconds is V8's helper threads (concurrent GC, optimising compiler),
 * libuv's pool and the tsx loader's thread.
 */
export function mainThreadCpuSeconds(pid: number): Promise<number> {
  return statCpuSeconds(`/proc/${pid}/task/${pid}/stat`);
}

async function statCpuSeconds(path: string): Promise<number> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

/** Sums of the samples of each metric named, over labels (a label filter may follow the name: `name{reason="x"}`). */
export async function scrapeMetrics(port: number): Promise<Map<string, number>> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) })
    .then((r) => r.text())
    .catch(() => '');
  const sums = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.length === 0) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!match) continue;
    const [, name, labels, value] = match;
    for (const key of new Set([name!, `${name}${labels ?? ''}`])) sums.set(key, (sums.get(key) ?? 0) + Number(value));
  }
  return sums;
}
