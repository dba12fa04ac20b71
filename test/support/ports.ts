import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * Ports are picked below the kernel's ephemeral range: a port the kernel hands out with
 * `listen(0)` is also one it may give an outgoing connection (a Kafka or PostgreSQL client)
 * between this check and the service's own listen, which then fails with EADDRINUSE.
 */
function listenRange(): readonly [number, number] {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low !== undefined && low > 11_000) return [10_000, low];
  } catch {
    // not Linux: the usual default
  }
  return [10_000, 32_768];
}

/** Ports this process handed out, never handed out twice. */
const handedOut = new Set<number>();

function canListen(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '0.0.0.0', () => server.close(() => resolve(true)));
  });
}

/** A port nothing listens on right now (bound then released), outside the ephemeral range. */
export async function freePort(): Promise<number> {
  const [low, high] = listenRange();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = low + Math.floor(Math.random() * (high - low));
    if (handedOut.has(port) || !(await canListen(port))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error(`no free port between ${low} and ${high}`);
}

/** The value of a Prometheus sample in a /metrics page, 0 when absent. */
export async function scrape(port: number, sample: string): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`).catch(() => undefined);
  if (!response?.ok) return 0;
  const line = (await response.text()).split('\n').find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}

/** An address of this machine other than loopback, if it has one: a server bound to 127.0.0.1 refuses it. */
export function nonLoopbackAddress(): string | undefined {
  return Object.values(networkInterfaces())
    .flat()
    .find((i) => i && !i.internal && i.family === 'IPv4')?.address;
}
