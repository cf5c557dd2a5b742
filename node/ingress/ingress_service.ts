/**
 * The node's part of the ingress: mill's reverse proxy (proxy/) on the
 * node's public address, its route table recomputed from the node's own
 * view of the cluster state after every change and swapped whole when the
 * routes differ, so an alloc that turns healthy or is asked to stop gains
 * or loses traffic in the same step as the state says so. HTTPS serves the
 * certificates the state holds (a host without one is served on HTTP
 * only; one with one is redirected to HTTPS), and every node answers the
 * HTTP-01 challenges the state lists, whichever node the CA reaches.
 */
import type { ClusterState } from "../../raft/mod.ts";
import {
  type AccessLogEntry,
  type CertificateMap,
  formatAccessLog,
  type Proxy,
  type Route,
  startProxy,
} from "../../proxy/mod.ts";
import { certificatesVersion } from "./certificate_keys.ts";
import { ingressRoutesOf } from "./routes.ts";

/** The wait before certificates that failed to load are asked again. */
const CERTIFICATES_RETRY_MS = 5_000;
/** The wait before a port that was taken is tried again. */
const LISTEN_RETRY_MS = 5_000;

export interface IngressOptions {
  /** Where plain HTTP is served (`:80` of the public address by default). */
  readonly http: { readonly hostname: string; readonly port: number };
  /** Where HTTPS is served (`:443` of the public address by default). */
  readonly https: { readonly hostname: string; readonly port: number };
  /** The served certificates with their keys (decrypted here or asked of a primary). */
  certificates(state: ClusterState): Promise<CertificateMap>;
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
  /** The certificates' version the proxy serves, and one being loaded. */
  #certificates = "";
  #loading: Promise<void> | null = null;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #stopped = true;
  /** The last listen failure said, so a retry that fails alike is quiet. */
  #listenError = "";
  #state: ClusterState | null = null;

  constructor(options: IngressOptions) {
    this.#options = options;
  }

  /**
   * Serves at once, or, when a port is taken (another web server on the
   * machine), says so and tries again every few seconds: the node's other
   * parts run either way.
   */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.#listen();
  }

  async #listen(): Promise<void> {
    const { log } = this.#options;
    const accessLog = this.#options.accessLog ??
      ((line: string) => log("info", line));
    let proxy: Proxy;
    try {
      proxy = await startProxy({
        httpListen: this.#options.http,
        httpsListen: this.#options.https,
        challenges: (token) =>
          this.#state?.acme.challenges.find((c) => c.token === token)
            ?.keyAuthorization,
        accessLog: (entry: AccessLogEntry) => accessLog(formatAccessLog(entry)),
        log: (level, message) => {
          if (level !== "debug") log(level, `ingress: ${message}`);
        },
      });
    } catch (error) {
      if (this.#stopped) return;
      if (this.#listenError !== String(error)) {
        log(
          "error",
          `ingress: cannot listen on ${this.#options.http.hostname}:${this.#options.http.port} and :${this.#options.https.port} (${error}); trying again every ${
            LISTEN_RETRY_MS / 1000
          } s (--ingress off turns the proxy off on this node)`,
        );
      }
      this.#listenError = String(error);
      this.#retry = setTimeout(() => void this.#listen(), LISTEN_RETRY_MS);
      return;
    }
    if (this.#stopped) {
      await proxy.close(0);
      return;
    }
    this.#listenError = "";
    this.#proxy = proxy;
    const view = this.#options.view();
    this.#apply(view.state);
    this.#unsubscribe = view.subscribe((state) => this.#apply(state));
    log(
      "info",
      `ingress: serving HTTP on ${this.#options.http.hostname}:${proxy.httpPort}, HTTPS on ${this.#options.https.hostname}:${proxy.httpsPort}`,
    );
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    clearTimeout(this.#retry);
    await this.#loading;
    const proxy = this.#proxy;
    this.#proxy = null;
    await proxy?.close(2_000);
  }

  #apply(state: ClusterState): void {
    const proxy = this.#proxy;
    if (proxy === null) return;
    this.#state = state;
    this.#loadCertificates();
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

  /** Loads the certificates once their version changed; one load at a time. */
  #loadCertificates(): void {
    const state = this.#state;
    if (state === null || this.#loading !== null) return;
    const version = certificatesVersion(state);
    if (version === this.#certificates) return;
    this.#loading = (async () => {
      try {
        const certificates = await this.#options.certificates(state);
        this.#proxy?.setCertificates(certificates);
        this.#certificates = version;
        const hosts = Object.keys(certificates);
        this.#options.log(
          "info",
          `ingress: serving certificates for ${hosts.join(", ") || "no host"}`,
        );
        return true;
      } catch (error) {
        this.#options.log("warn", `ingress: certificates not loaded: ${error}`);
        return false;
      }
    })().then((loaded) => {
      this.#loading = null;
      if (this.#proxy === null) return;
      // A newer version may have come meanwhile; a failure is retried later.
      if (loaded) this.#loadCertificates();
      else {
        this.#retry = setTimeout(
          () => this.#loadCertificates(),
          CERTIFICATES_RETRY_MS,
        );
      }
    });
  }
}
