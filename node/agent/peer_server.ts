/**
 * The peer port: one HTTPS listener on the node's peer address for Raft,
 * the secondary RPC, node messages and the state watch, on the same frame
 * as the API (node/api: listener limits, router, per-route scopes, JSON
 * errors). It serves the node's own certificate and asks every caller for
 * one signed by the cluster CA: a member node is known by its certificate's
 * common name (its node id), established in one place, the frame's
 * authenticator. Each part of the node mounts its routes when it starts and
 * removes them when it stops.
 */
import {
  type ApiServer,
  CertificateAuthenticator,
  type ListenerTls,
  Router,
  startApiServer,
} from "../api/mod.ts";
import type { Service } from "./supervisor.ts";

export interface PeerServerOptions {
  readonly listen: { readonly hostname: string; readonly port: number };
  /** The host others reach this node on; default the listen host. */
  readonly advertiseHost?: string;
  /** The node's certificate, key and the CA of callers (asked at start: read from the data dir). */
  tls(): ListenerTls;
  /** True for a node id whose certificate no longer opens the port (a removed node). */
  revoked?(nodeId: string): boolean;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

export class PeerServer implements Service {
  readonly name = "peer-server";
  readonly router = new Router();
  readonly #options: PeerServerOptions;
  #server: ApiServer | null = null;
  /** Listeners on further addresses of this node (its mesh address). */
  readonly #also = new Map<string, ApiServer>();

  constructor(options: PeerServerOptions) {
    this.#options = options;
  }

  /** The bound port (valid once started). */
  get port(): number {
    if (this.#server === null) throw new Error("the peer port is not bound");
    return this.#server.port;
  }

  /** `host:port` other nodes reach this one on. */
  get endpoint(): string {
    return `${advertiseHostOf(this.#options)}:${this.port}`;
  }

  async start(): Promise<void> {
    this.#server = await this.#listen(
      this.#options.listen.hostname,
      this.#options.listen.port,
    );
  }

  /**
   * Serves the same routes on `hostname` too, on the same port (the mesh
   * address, when the peer port listens on one address only). Idempotent.
   */
  async serveAlso(hostname: string): Promise<void> {
    if (this.#covers(hostname) || this.#also.has(hostname)) return;
    this.#also.set(hostname, await this.#listen(hostname, this.port));
  }

  /** True when the peer port answers on `hostname`. */
  servesOn(hostname: string): boolean {
    return this.#server !== null &&
      (this.#covers(hostname) || this.#also.has(hostname));
  }

  /** New connections on every listener get the node's current certificate. */
  reloadTls(): void {
    const tls = this.#options.tls();
    for (const server of [this.#server, ...this.#also.values()]) {
      server?.setTls(tls);
    }
  }

  async stop(): Promise<void> {
    const servers = [this.#server, ...this.#also.values()];
    this.#server = null;
    this.#also.clear();
    await Promise.all(servers.map((server) => server?.shutdown()));
  }

  #covers(hostname: string): boolean {
    const listen = this.#options.listen.hostname;
    return listen === hostname || ["0.0.0.0", "::"].includes(listen);
  }

  #listen(hostname: string, port: number): Promise<ApiServer> {
    return startApiServer({
      hostname,
      port,
      tls: this.#options.tls(),
      router: this.router,
      authenticator: new CertificateAuthenticator(
        (id) => this.#options.revoked?.(id) ?? false,
      ),
      onError: (error, request) =>
        this.#options.log(
          "error",
          `peer ${request?.method ?? ""} ${request?.url ?? ""}: ${error}`,
        ),
    });
  }
}

/** The host others reach a node on: the advertised one, else the listen host. */
export function advertiseHostOf(
  options: Pick<PeerServerOptions, "listen" | "advertiseHost">,
): string {
  return options.advertiseHost ??
    (["0.0.0.0", "::"].includes(options.listen.hostname)
      ? "127.0.0.1"
      : options.listen.hostname);
}
