/**
 * The node's link to the leader: it registers the node (`NodeRegister`
 * with its cpu, memory, address and endpoints), then sends a heartbeat
 * every `intervalMs` carrying the outbox's reports (restarts, exits) and
 * which containers it runs. Reports go back to the outbox until a heartbeat
 * carrying them is accepted. A heartbeat refused because the leader does
 * not know the node makes it register again.
 */
import type { ReportOutbox } from "./report_outbox.ts";
import type {
  HeartbeatMessage,
  LeaderChannel,
  Registration,
} from "./channel.ts";
import type { Service } from "./supervisor.ts";

/** Heartbeat period; well under the leader's 15 s timeout. */
export const HEARTBEAT_INTERVAL_MS_DEFAULT = 2_000;

export interface NodeLinkOptions {
  /** Asked at start: the endpoints are known once the listeners are up. */
  registration(): Registration;
  readonly channel: LeaderChannel;
  readonly outbox: ReportOutbox;
  /** The allocs whose containers run here now. */
  readonly running: () => Promise<readonly string[]>;
  readonly intervalMs?: number;
  readonly log: (message: string) => void;
}

export class NodeLink implements Service {
  readonly name = "node-link";
  readonly #options: NodeLinkOptions;
  #registration: Registration | null = null;
  #registered = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #stopped = true;
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

  /** Starts beating at once (the first beat registers). */
  start(): Promise<void> {
    this.#registration = this.#options.registration();
    this.#stopped = false;
    this.#schedule(0);
    return Promise.resolve();
  }

  /**
   * Registers again with what `registration()` says now (the node's
   * endpoints changed: it serves on its mesh address), then beats.
   */
  reregister(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#registered = false;
    return this.beatNow();
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
    if (this.#stopped || this.#registration === null) return;
    // Each registration says what the node is now (its endpoints change).
    if (!this.#registered) this.#registration = this.#options.registration();
    const registration = this.#registration;
    try {
      if (!this.#registered) {
        await this.#options.channel.register(registration);
        this.#registered = true;
        this.#firstRegistration.resolve();
        this.#options.log("registered with the leader");
      }
      const running = [...await this.#options.running()];
      const sent = this.#options.outbox.take();
      const message: HeartbeatMessage = {
        nodeId: registration.nodeId,
        statuses: sent,
        running,
      };
      try {
        await this.#options.channel.heartbeat(message);
      } catch (error) {
        this.#options.outbox.putBack(sent);
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
