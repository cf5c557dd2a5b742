/**
 * The start requests of the allocs a node runs, one JSON file each in the
 * state dir, so that a restarted agent re-attaches to its containers and can
 * restart them without the leader. They hold the plaintext `secretValues`
 * the leader sent for these allocs (the node has no key to decrypt with):
 * the directory is made 0700 and each file written 0600, so only root reads
 * them (node/README.md, Secrets).
 */
import { REQUEST_PARSERS, type StartRequest } from "../rpc/mod.ts";
import { ensureDir, writeFileAtomic } from "../cluster_init/mod.ts";

/** Most kept requests read back at start. */
export const ALLOC_FILES_MAX = 10_000;

export class AllocStore {
  readonly #dir: string;

  constructor(dir: string) {
    this.#dir = dir;
  }

  async open(): Promise<void> {
    await ensureDir(this.#dir, 0o700);
  }

  async save(request: StartRequest): Promise<void> {
    await writeFileAtomic(
      this.#path(request.allocId),
      JSON.stringify(request),
      { mode: 0o600 },
    );
  }

  async remove(allocId: string): Promise<void> {
    await Deno.remove(this.#path(allocId)).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }

  /** Every kept request; a file that does not parse is skipped and named. */
  async list(
    onBadFile: (name: string, error: unknown) => void = () => {},
  ): Promise<StartRequest[]> {
    const requests: StartRequest[] = [];
    for await (const entry of Deno.readDir(this.#dir)) {
      if (!entry.isFile || !entry.name.endsWith(".json")) continue;
      if (requests.length >= ALLOC_FILES_MAX) break;
      try {
        const text = await Deno.readTextFile(`${this.#dir}/${entry.name}`);
        requests.push(
          REQUEST_PARSERS.start(upgradeKept(JSON.parse(text)), entry.name),
        );
      } catch (error) {
        onBadFile(entry.name, error);
      }
    }
    return requests.sort((a, b) => a.allocId < b.allocId ? -1 : 1);
  }

  #path(allocId: string): string {
    return `${this.#dir}/${encodeURIComponent(allocId)}.json`;
  }
}

/**
 * A request kept before the leader sent secret values carries encrypted
 * `secrets` instead, which this node cannot decrypt: it is read with no
 * values, so its running container is re-attached, and a restart that needs
 * a secret fails with `secret.missing` until the leader starts it anew.
 */
function upgradeKept(value: unknown): unknown {
  if (
    typeof value !== "object" || value === null || Array.isArray(value) ||
    Object.hasOwn(value, "secretValues") || !Object.hasOwn(value, "secrets")
  ) return value;
  const { secrets: _encrypted, ...rest } = value as Record<string, unknown>;
  return { ...rest, secretValues: {} };
}
