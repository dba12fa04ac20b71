/**
 * `tickcast stream` processors as separate processes on one isolation, SIGKILLed at random
 * moments, each kill counted as landed (its input still pending right after it) or late
 * (it had consumed everything): a crash test asserts on landed kills, so a run whose kills
 * all came after the input ran out cannot pass.
 */
import { groupState, inputStillFlowing, waitForSoleMember } from './kafka-lag.ts';
import { kill9, startService, stopGracefully, type Service } from './processes.ts';
import { waitFor, type Isolation } from './services.ts';

export interface KillCount {
  landed: number;
  late: number;
}

/** Resolves after a uniformly random 0 to `maxMs` milliseconds: where in the work a kill lands. */
export const randomDelay = (maxMs: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * maxMs)));

/**
 * A killed member leaves its consumer group only after its session timeout, and its partitions
 * wait for that: short for the processes killed here, so a restart gets them within seconds.
 */
const FAST_REJOIN = { KAFKA_SESSION_TIMEOUT_MS: '6000', KAFKA_HEARTBEAT_INTERVAL_MS: '1000' };

export class StreamProcesses {
  private readonly services = new Map<string, Service>();
  readonly kills: Record<string, KillCount> = {};

  /** `inputOf`: the topic (logical name) whose pending records say a processor's kill landed. */
  constructor(
    private readonly iso: Isolation,
    private readonly inputOf: Readonly<Record<string, string>>,
  ) {}

  /** Starts `tickcast stream <name>`, replacing the (dead) process of that name. */
  start(name: string): void {
    this.services.set(name, startService(name, ['stream', name], { ...this.iso.env, ...FAST_REJOIN }));
  }

  /** SIGKILLs `name` and counts the kill; it stays down. Dead, its committed offsets cannot move. */
  async kill(name: string): Promise<void> {
    const service = this.services.get(name);
    const input = this.inputOf[name];
    if (!service || !input) throw new Error(`no running ${name} with a known input to kill`);
    await kill9(service);
    const count = (this.kills[name] ??= { landed: 0, late: 0 });
    if (await inputStillFlowing(this.iso, name, input)) count.landed += 1;
    else count.late += 1;
  }

  /** True once each of `names` has had at least `count` kills that landed. */
  landedAtLeast(names: readonly string[], count: number): boolean {
    return names.every((name) => (this.kills[name]?.landed ?? 0) >= count);
  }

  async killAndRestart(name: string): Promise<void> {
    await this.kill(name);
    this.start(name);
  }

  /**
   * For a processor that gets through its input in a few transactions, so that a kill at a
   * random moment would mostly come too early or too late: held down (killed by the caller)
   * while input piles up, it is started once its group has dropped the killed member, and
   * killed at a random moment up to `maxDelayMs` after it joined the group, while it works
   * through the pile; then started again.
   */
  async restartAndKillWhileBusy(name: string, maxDelayMs: number): Promise<void> {
    const input = this.inputOf[name] ?? '';
    await waitFor(`input waiting for ${name}`, () => inputStillFlowing(this.iso, name, input), 60_000, 50);
    await waitFor(
      `${name}'s group to drop the killed member (KAFKA_SESSION_TIMEOUT_MS)`,
      async () => (await groupState(this.iso, name)).members === 0,
      60_000,
      100,
    );
    this.start(name);
    await waitForSoleMember(this.iso, name, 60_000);
    await randomDelay(maxDelayMs);
    await this.killAndRestart(name);
  }

  /** SIGTERM to every process, one by one; how each exited (0 is a clean shutdown). */
  async stopAll(): Promise<Record<string, unknown>> {
    const exits: Record<string, unknown> = {};
    for (const [name, service] of this.services) exits[name] = await stopGracefully(service);
    return exits;
  }

  /** The tail of every process's output, for a failure message. */
  logs(chars = 3_000): string {
    return [...this.services].map(([name, service]) => `--- ${name}\n${service.output().slice(-chars)}`).join('\n');
  }
}
