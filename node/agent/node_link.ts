/**
 * The secondary's link to the leader: it registers the node (`NodeRegister`
 * with its cpu, memory, address and labels), then sends a heartbeat every
 * `intervalMs` carrying what the node saw happen to its allocs (restarts,
 * exits) and which containers it runs. Reports are kept until a heartbeat
 * carrying them is accepted. A heartbeat refused because the leader does
 * not know the node makes it register again.
 */
import type { AllocReport, NodeRegisterCommand } from "../../raft/mod.ts";
import type { HeartbeatMessage } from "./leader.ts";

/** Heartbeat period; well under the leader's 15 s timeout. */
export const HEARTBEAT_INTERVAL_MS_DEFAULT = 2_000;
/** Reports kept for the next heartbeat; past it the oldest go. */
export const PENDING_REPORTS_MAX = 4_096;

/** How messages reach the leader (in-process or over the peer port). */
export interface LeaderChannel {
  register(command: Omit<NodeRegisterCommand, "type" | "atMs">): Promise<void>;
  heartbeat(message: HeartbeatMessage): Promise<void>;
}

export interface NodeLinkOptions {
  readonly registration: Omit<NodeRegisterCommand, "type" | "atMs">;
  readonly channel: LeaderChannel;
  /** The allocs whose containers run here now. */
  readonly running: () => Promise<readonly string[]>;
  readonly intervalMs?: number;
  readonly log: (message: string) => void;
}

export class NodeLink {
  readonly #options: NodeLinkOptions;
  #pending: AllocReport[] = [];
  #registered = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = false;
  #beating: Promise<void> = Promise.resolve();
  #lastError = "";
  readonly #firstRegistration = Promise.withResolvers<void>();

  constructor(options: NodeLinkOptions) {
    this.#options = options;
  }

  /** Settles once the node registered for the first time. */
  get registered(): Promise<void> {
    return this.#firstRegistration.promise;
  }

  /** Queues a report for the next heartbeat. */
  report(report: AllocReport): void {
    this.#pending.push(report);
    if (this.#pending.length > PENDING_REPORTS_MAX) this.#pending.shift();
  }

  /** Starts beating at once (the first beat registers). */
  start(): void {
    this.#schedule(0);
  }

  /** Sends a heartbeat now (tests, and after a restart to report fast). */
  beatNow(): Promise<void> {
    this.#beating = this.#beating.then(() => this.#beat());
    return this.#beating;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#beating;
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    // Runs until stop(): one heartbeat per period.
    this.#timer = setTimeout(() => {
      void this.beatNow().finally(() =>
        this.#schedule(
          this.#options.intervalMs ?? HEARTBEAT_INTERVAL_MS_DEFAULT,
        )
      );
    }, delayMs);
  }

  async #beat(): Promise<void> {
    if (this.#stopped) return;
    try {
      if (!this.#registered) {
        await this.#options.channel.register(this.#options.registration);
        this.#registered = true;
        this.#firstRegistration.resolve();
        this.#options.log("registered with the leader");
      }
      const sent = this.#pending;
      this.#pending = [];
      const message: HeartbeatMessage = {
        nodeId: this.#options.registration.nodeId,
        statuses: sent,
        running: [...await this.#options.running()],
      };
      try {
        await this.#options.channel.heartbeat(message);
      } catch (error) {
        this.#pending = [...sent, ...this.#pending];
        throw error;
      }
      this.#lastError = "";
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (code === "node.unknown") this.#registered = false;
      const text = String(error);
      // The shell boundary: logged once per distinct failure, retried next beat.
      if (text !== this.#lastError) this.#options.log(`heartbeat: ${text}`);
      this.#lastError = text;
    }
  }
}
