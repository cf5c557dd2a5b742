/**
 * Puts a node's peer port on its mesh address, so that Raft, RPC and node
 * messages between nodes travel inside WireGuard. Once the node's mesh
 * interface is up:
 *
 * 1. its certificate is renewed to name the mesh address too (a primary
 *    signs its own; a secondary asks a primary, `mesh_certificate_route.ts`),
 *    and the peer port's listeners serve the new one;
 * 2. the peer port listens on the mesh address (unless it listens on every
 *    address already);
 * 3. the node registers again with `mesh.peer` = that `address:port`, and
 *    from then on other nodes with a mesh call it there (`peer_route.ts`).
 *
 * A failed step is retried with backoff; until it succeeds the node is
 * called on its registered address, as before.
 */
import type { NodeMesh } from "../network/node_mesh.ts";
import type { Credentials } from "./credentials.ts";
import { MESH_CERTIFICATE_PATH } from "./mesh_certificate_route.ts";
import type { PeerServer } from "./peer_server.ts";
import type { Service } from "./supervisor.ts";

const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;
const ISSUE_TIMEOUT_MS = 10_000;

export interface MeshPeerOptions {
  readonly mesh: NodeMesh;
  readonly credentials: Credentials;
  readonly peerServer: PeerServer;
  /** `host:port` of the primaries' peer ports, tried in order (a secondary's certificate). */
  primaries(): readonly string[];
  /** Called once the node serves on its mesh address: it registers again. */
  onServing(): void;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

export class MeshPeer implements Service {
  readonly name = "mesh-peer";
  readonly #options: MeshPeerOptions;
  #peer: string | null = null;
  #working = false;
  #retryMs = RETRY_FIRST_MS;
  #retry: ReturnType<typeof setTimeout> | undefined;
  #unsubscribe: (() => void) | null = null;
  #stopped = false;
  #done: Promise<void> = Promise.resolve();

  constructor(options: MeshPeerOptions) {
    this.#options = options;
  }

  /** `address:port` of the peer port through the mesh; null until it serves there. */
  get peer(): string | null {
    return this.#peer;
  }

  start(): Promise<void> {
    this.#unsubscribe = this.#options.mesh.onRouteChange(() => this.#poke());
    this.#poke();
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    this.#unsubscribe?.();
    await this.#done;
  }

  #poke(): void {
    const address = this.#options.mesh.address;
    if (this.#stopped || this.#working || address === null) return;
    if (this.#peer !== null && this.#peer.startsWith(`${address}:`)) return;
    this.#working = true;
    clearTimeout(this.#retry);
    this.#done = this.#serveOn(address).then(
      () => {
        this.#retryMs = RETRY_FIRST_MS;
        this.#options.onServing();
      },
      (error) => {
        this.#options.log(
          "warn",
          `mesh: cannot serve the peer port on ${address} yet (retrying in ${
            this.#retryMs / 1000
          } s): ${error instanceof Error ? error.message : error}`,
        );
        this.#retry = setTimeout(() => this.#poke(), this.#retryMs);
        this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
      },
    ).finally(() => {
      this.#working = false;
    });
  }

  async #serveOn(address: string): Promise<void> {
    const { credentials, peerServer } = this.#options;
    const renewed = await credentials.nameHost(
      address,
      (publicKeyPem) => this.#askPrimaries(publicKeyPem),
    );
    if (renewed) peerServer.reloadTls();
    await peerServer.serveAlso(address);
    if (this.#stopped) return;
    this.#peer = `${address}:${peerServer.port}`;
    this.#options.log(
      "info",
      `peer port on the mesh at ${this.#peer}${
        renewed ? " (certificate renewed to name it)" : ""
      }`,
    );
  }

  async #askPrimaries(publicKeyPem: string): Promise<string> {
    const failures: string[] = [];
    for (const primary of this.#options.primaries()) {
      try {
        const response = await fetch(
          `https://${primary}${MESH_CERTIFICATE_PATH}`,
          {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({ publicKeyPem }),
            client: this.#options.credentials.current.peerClient,
            signal: AbortSignal.timeout(ISSUE_TIMEOUT_MS),
          },
        );
        const body = await response.json().catch(() => null) as {
          nodeCertPem?: unknown;
          message?: unknown;
        } | null;
        if (response.ok && typeof body?.nodeCertPem === "string") {
          return body.nodeCertPem;
        }
        failures.push(
          `${primary}: HTTP ${response.status} ${body?.message ?? ""}`.trim(),
        );
      } catch (error) {
        failures.push(`${primary}: ${(error as Error).message}`);
      }
    }
    throw new Error(
      `no primary issued a certificate for the mesh address (${
        failures.join("; ") || "no primary known"
      })`,
    );
  }
}
