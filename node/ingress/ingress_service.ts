/**
 * The node's part of the ingress: mill's reverse proxy (proxy/) on the
 * node's public address, its route table recomputed from the node's own
 * view of the cluster state after every change and swapped whole when the
 * routes differ, so an alloc that turns healthy or is asked to stop gains
 * or loses traffic in the same step as the state says so.
 */
import type { ClusterState } from "../../raft/mod.ts";
import {
  type AccessLogEntry,
  formatAccessLog,
  type Proxy,
  type Route,
  startProxy,
} from "../../proxy/mod.ts";
import { ingressRoutesOf } from "./routes.ts";

export interface IngressOptions {
  /** Where plain HTTP is served (`:80` of the public address by default). */
  readonly http: { readonly hostname: string; readonly port: number };
  view(): {
    readonly state: ClusterState;
    subscribe(listener: (state: ClusterState) => void): () => void;
  };
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
  /** One line per request; the agent's log by default. */
  readonly accessLog?: (line: string) => void;
}

export class IngressService {
  readonly name = "ingress";
  readonly #options: IngressOptions;
  #proxy: Proxy | null = null;
  #unsubscribe: (() => void) | null = null;
  /** The routes last given to the proxy, as JSON: unchanged ones are not swapped. */
  #current = "";

  constructor(options: IngressOptions) {
    this.#options = options;
  }

  /** The bound HTTP port (valid once started). */
  get httpPort(): number {
    if (this.#proxy === null) throw new Error("the ingress is not started");
    return this.#proxy.httpPort;
  }

  async start(): Promise<void> {
    const { log } = this.#options;
    const accessLog = this.#options.accessLog ??
      ((line: string) => log("info", line));
    const view = this.#options.view();
    const proxy = await startProxy({
      httpListen: this.#options.http,
      accessLog: (entry: AccessLogEntry) => accessLog(formatAccessLog(entry)),
      log: (level, message) => {
        if (level !== "debug") log(level, `ingress: ${message}`);
      },
    });
    this.#proxy = proxy;
    this.#apply(view.state);
    this.#unsubscribe = view.subscribe((state) => this.#apply(state));
    log(
      "info",
      `ingress: serving HTTP on ${this.#options.http.hostname}:${proxy.httpPort}`,
    );
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    const proxy = this.#proxy;
    this.#proxy = null;
    await proxy?.close(2_000);
  }

  #apply(state: ClusterState): void {
    const proxy = this.#proxy;
    if (proxy === null) return;
    const routes: Route[] = ingressRoutesOf(state);
    const key = JSON.stringify(routes);
    if (key === this.#current) return;
    try {
      proxy.setRoutes(routes);
      this.#current = key;
    } catch (error) {
      // The old table keeps serving; the config's checks should make this rare.
      this.#options.log("error", `ingress: routes not taken: ${error}`);
    }
  }
}
