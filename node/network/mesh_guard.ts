/**
 * On a node that is on the mesh without a container network (a
 * primary-only node): its own nftables table with the container network's
 * mesh rule, so that through the mesh only nodes (each at the first address
 * of its /24) reach the agent's ports, never another node's containers.
 * Made whole at start (repairing a table deleted by hand), removed at stop.
 */
import {
  type CommandRunner,
  deleteTableScript,
  localRunner,
  meshGuardScript,
  NetworkNames,
  runChecked,
} from "../../net/containers/mod.ts";

export interface MeshGuardOptions {
  readonly meshInterface: string;
  /** The agent's TCP ports (peer, API), asked at start. */
  agentPorts(): readonly number[];
  /** The container network's prefix: the table is named as its would be. */
  readonly netnsPrefix?: string;
  readonly run?: CommandRunner;
  readonly log: (level: "info" | "warn" | "error", message: string) => void;
}

export class MeshGuard {
  readonly name = "mesh-guard";
  readonly #options: MeshGuardOptions;
  readonly #table: string;
  readonly #run: CommandRunner;

  constructor(options: MeshGuardOptions) {
    this.#options = options;
    this.#table = new NetworkNames(options.netnsPrefix ?? "mill").table;
    this.#run = options.run ?? localRunner();
  }

  async start(): Promise<void> {
    await runChecked(
      this.#run,
      ["nft", "-f", "-"],
      meshGuardScript({
        table: this.#table,
        meshInterface: this.#options.meshInterface,
        agentPorts: this.#options.agentPorts(),
      }),
    );
    this.#options.log(
      "info",
      `mesh guard: nft table inet ${this.#table} lets only nodes reach the agent through ${this.#options.meshInterface}`,
    );
  }

  async stop(): Promise<void> {
    await runChecked(
      this.#run,
      ["nft", "-f", "-"],
      deleteTableScript(this.#table),
    )
      .catch((error) => this.#options.log("warn", `mesh guard: ${error}`));
  }
}
