/**
 * The last output of allocs that ended on this node, kept after their
 * containers (and log rings) are gone so that `mill logs` still shows what
 * a finished task or a failed replica printed. One JSON file per alloc in
 * `<data dir>/ended-logs` (dir 0700, files 0600: output may hold anything),
 * bounded per alloc by `ENDED_LOG_LINES_MAX` lines and `ENDED_LOG_BYTES_MAX`
 * bytes (the newest lines win), and per node by `ENDED_LOGS_ALLOCS_MAX`
 * allocs (the oldest ended go first). A file goes when its alloc is purged
 * from the cluster state (`sweep`).
 */
import type { LogEntry } from "../../containerd/mod.ts";
import { ensureDir, writeFileAtomic } from "../cluster_init/mod.ts";

/** Most lines kept of one ended alloc. */
export const ENDED_LOG_LINES_MAX = 1_000;
/** Most bytes kept of one ended alloc (its file's lines, as stored). */
export const ENDED_LOG_BYTES_MAX = 1024 * 1024;
/**
 * A kept file outlives its alloc's absence from the state this long (a
 * replica may not have applied a just-scheduled alloc yet).
 */
export const ENDED_LOGS_GRACE_MS = 5 * 60_000;
/** Most ended allocs whose lines one node keeps. */
export const ENDED_LOGS_ALLOCS_MAX = 1_000;

interface EndedLogFile {
  readonly format: 1;
  readonly allocId: string;
  readonly endedAtMs: number;
  readonly lines: LogEntry[];
}

/** The newest of `entries` within the line and byte bounds, oldest first. */
export function boundLines(
  entries: readonly LogEntry[],
  linesMax = ENDED_LOG_LINES_MAX,
  bytesMax = ENDED_LOG_BYTES_MAX,
): LogEntry[] {
  const encoder = new TextEncoder();
  const kept: LogEntry[] = [];
  let bytes = 0;
  for (let i = entries.length - 1; i >= 0 && kept.length < linesMax; i--) {
    const entry = entries[i]!;
    const size = encoder.encode(JSON.stringify(entry)).length + 1;
    if (bytes + size > bytesMax) break;
    bytes += size;
    kept.push(entry);
  }
  return kept.reverse();
}

export class EndedLogs {
  readonly #dir: string;
  readonly #nowMs: () => number;
  /** alloc id → when it ended, for the node-wide bound. */
  readonly #ended = new Map<string, number>();

  constructor(dir: string, nowMs: () => number = Date.now) {
    this.#dir = dir;
    this.#nowMs = nowMs;
  }

  /** Makes the directory and learns what an earlier agent kept. */
  async open(onBadFile: (name: string, error: unknown) => void): Promise<void> {
    await ensureDir(this.#dir, 0o700);
    for await (const entry of Deno.readDir(this.#dir)) {
      if (!entry.isFile || !entry.name.endsWith(".json")) continue;
      try {
        const kept = await this.#readFile(`${this.#dir}/${entry.name}`);
        this.#ended.set(kept.allocId, kept.endedAtMs);
      } catch (error) {
        onBadFile(entry.name, error);
        await Deno.remove(`${this.#dir}/${entry.name}`).catch(() => {});
      }
    }
    await this.#bound();
  }

  /** Keeps the last of `entries` as the lines of ended alloc `allocId`. */
  async save(allocId: string, entries: readonly LogEntry[]): Promise<void> {
    const endedAtMs = this.#nowMs();
    const file: EndedLogFile = {
      format: 1,
      allocId,
      endedAtMs,
      lines: boundLines(entries),
    };
    await writeFileAtomic(this.#path(allocId), JSON.stringify(file), {
      mode: 0o600,
    });
    this.#ended.set(allocId, endedAtMs);
    await this.#bound();
  }

  /** The kept lines of `allocId`, or undefined when none are kept. */
  async read(allocId: string): Promise<LogEntry[] | undefined> {
    if (!this.#ended.has(allocId)) return undefined;
    try {
      return (await this.#readFile(this.#path(allocId))).lines;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
  }

  has(allocId: string): boolean {
    return this.#ended.has(allocId);
  }

  /** Ids of the allocs whose lines are kept. */
  get allocIds(): string[] {
    return [...this.#ended.keys()];
  }

  async remove(allocId: string): Promise<void> {
    this.#ended.delete(allocId);
    await Deno.remove(this.#path(allocId)).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    });
  }

  /**
   * Forgets the allocs `isKnown` no longer names (purged from the state)
   * that ended more than `graceMs` ago (a replica may not have applied a
   * just-scheduled alloc yet). Returns the ids removed.
   */
  async sweep(
    isKnown: (allocId: string) => boolean,
    graceMs: number,
  ): Promise<string[]> {
    const cutoff = this.#nowMs() - graceMs;
    const gone = [...this.#ended].filter(([id, endedAtMs]) =>
      endedAtMs < cutoff && !isKnown(id)
    ).map(([id]) => id);
    for (const id of gone) await this.remove(id);
    return gone;
  }

  async #bound(): Promise<void> {
    const excess = this.#ended.size - ENDED_LOGS_ALLOCS_MAX;
    if (excess <= 0) return;
    const oldest = [...this.#ended].sort((a, b) => a[1] - b[1]).slice(
      0,
      excess,
    );
    for (const [id] of oldest) await this.remove(id);
  }

  async #readFile(path: string): Promise<EndedLogFile> {
    const value = JSON.parse(await Deno.readTextFile(path)) as EndedLogFile;
    if (
      value?.format !== 1 || typeof value.allocId !== "string" ||
      typeof value.endedAtMs !== "number" || !Array.isArray(value.lines) ||
      !value.lines.every((l) =>
        typeof l?.timeMs === "number" && typeof l.line === "string" &&
        (l.stream === "stdout" || l.stream === "stderr")
      )
    ) {
      throw new Error("not an ended-log file of this format");
    }
    return value;
  }

  #path(allocId: string): string {
    return `${this.#dir}/${encodeURIComponent(allocId)}.json`;
  }
}
