/**
 * A secondary's container runtime: the containerd client, image service
 * and runner behind `ContainerdRuntime`, which re-attaches to the
 * containers a previous agent left running. Its reports go to the outbox
 * from the first moment (an exit found while re-attaching is not lost), and
 * it serves the leader's RPC on the peer port (`/rpc/v1/…`, rpc scope).
 */
import {
  ContainerdClient,
  ContainerRunner,
  detectHostFacts,
  ImageService,
} from "../../containerd/mod.ts";
import { ApiError, type Router } from "../api/mod.ts";
import { createRpcHandler } from "../rpc/mod.ts";
import { ContainerdRuntime } from "../secondary/runtime.ts";
import type { AllocNetworking } from "../secondary/alloc_network.ts";
import type { ClusterView } from "./fsm_machine.ts";
import type { ReportOutbox } from "./report_outbox.ts";
import type { Service } from "./supervisor.ts";

/** How long the heartbeat's "what runs here" question may take. */
const RUNNING_QUERY_TIMEOUT_MS = 5_000;
/** How often the kept lines of purged allocs are looked for. */
export const ENDED_LOGS_SWEEP_MS = 60_000;

export interface ContainerdOptions {
  readonly socketPath: string;
  readonly namespace?: string;
  /** runc state root of our containers (a private containerd's, in tests). */
  readonly runcRoot?: string;
  /** cgroup parent of our containers (default `/mill`). */
  readonly cgroupParent?: string;
  /** Registries reached over plain HTTP (e.g. a local test registry). */
  readonly insecureRegistries?: readonly string[];
}

export interface RuntimeServiceOptions {
  readonly dataDir: string;
  readonly containerd: ContainerdOptions;
  readonly outbox: ReportOutbox;
  readonly peerRouter: Router;
  /** The cluster state: ended allocs' kept lines go once they are purged. */
  readonly view: ClusterView;
  /** Namespaces for allocs with an address (bridge networking). */
  readonly network?: AllocNetworking;
  /** Whether node `nodeId` may tell this one what to run. */
  mayCall(nodeId: string): boolean;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

export class RuntimeService implements Service {
  readonly name = "runtime";
  readonly #options: RuntimeServiceOptions;
  #client: ContainerdClient | null = null;
  #runtime: ContainerdRuntime | null = null;
  #unmount: (() => void) | null = null;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;

  constructor(options: RuntimeServiceOptions) {
    this.#options = options;
  }

  /** The runtime (null until started). */
  get runtime(): ContainerdRuntime | null {
    return this.#runtime;
  }

  /** The allocs whose containers run here now. */
  async running(): Promise<string[]> {
    const runtime = this.#runtime;
    if (runtime === null) return [];
    const status = await runtime.status(
      {},
      AbortSignal.timeout(RUNNING_QUERY_TIMEOUT_MS),
    );
    return status.allocs.filter((a) => a.state === "running").map((a) =>
      a.allocId
    );
  }

  async start(): Promise<void> {
    const { containerd: settings, dataDir, log } = this.#options;
    const client = new ContainerdClient(settings.socketPath, {
      ...(settings.namespace === undefined
        ? {}
        : { namespace: settings.namespace }),
    });
    const images = new ImageService(client, {
      insecure: [...(settings.insecureRegistries ?? [])],
    });
    const fifoDir = `${dataDir}/fifo`;
    const runner = new ContainerRunner(client, images, {
      fifoDir,
      ...(settings.runcRoot === undefined
        ? {}
        : { runcRoot: settings.runcRoot }),
      host: detectHostFacts(settings.cgroupParent ?? "/mill"),
    });
    try {
      this.#runtime = await ContainerdRuntime.open({
        client,
        images,
        runner,
        fifoDir,
        stateDir: `${dataDir}/allocs`,
        secretsDir: `${dataDir}/secrets`,
        volumesDir: `${dataDir}/volumes`,
        // Not under volumes/: its sweep removes what no alloc there owns.
        persistentVolumesRoot: `${dataDir}/persistent`,
        endedLogsDir: `${dataDir}/ended-logs`,
        onReport: (report) => this.#options.outbox.push(report),
        ...(this.#options.network === undefined
          ? {}
          : { network: this.#options.network }),
        log: (message) => log("info", message),
      });
    } catch (error) {
      client.close();
      throw error;
    }
    this.#client = client;
    this.#sweepTimer = setInterval(
      () => void this.#sweep(),
      ENDED_LOGS_SWEEP_MS,
    );
    Deno.unrefTimer(this.#sweepTimer);
    const handler = createRpcHandler({
      runtime: this.#runtime,
      onError: (error) => log("error", `rpc: ${error}`),
    });
    this.#unmount = this.#options.peerRouter.mount(
      "POST",
      "/rpc/v1/:method",
      (request, context) => {
        const caller = context.caller?.nodeId ?? null;
        if (caller === null || !this.#options.mayCall(caller)) {
          throw new ApiError(
            403,
            "api.forbidden",
            "Only a primary of the cluster may call this node's runtime",
          );
        }
        return handler(request);
      },
      { scope: "rpc" },
    );
  }

  /** Forgets the kept lines of ended allocs the cluster purged. */
  async #sweep(): Promise<void> {
    const { view, log } = this.#options;
    // An empty view (a replica not synced yet) knows no alloc at all.
    if (view.index === 0 || this.#runtime === null) return;
    try {
      const gone = await this.#runtime.sweepEndedLogs((allocId) =>
        view.state.allocs.has(allocId)
      );
      if (gone.length > 0) {
        log("info", `dropped the kept lines of ${gone.length} purged allocs`);
      }
    } catch (error) {
      log("warn", `cannot sweep the kept lines of ended allocs: ${error}`);
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#sweepTimer);
    this.#unmount?.();
    this.#unmount = null;
    const runtime = this.#runtime;
    const client = this.#client;
    this.#runtime = null;
    this.#client = null;
    await runtime?.close();
    client?.close();
  }
}
