/**
 * The start requests of the allocs a node runs, one JSON file each in the
 * state dir, so that a restarted agent re-attaches to its containers and can
 * restart them. Secrets stay encrypted in these files, as in the Raft log.
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
        requests.push(REQUEST_PARSERS.start(JSON.parse(text), entry.name));
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
