/**
 * How `mill deploy` and `mill spawn` show their event streams: one line per
 * event worth a line (as in seed 002), and on a terminal a live progress
 * line under them. Pure: events in, lines out; the commands write them.
 *
 * ```
 *   pulling images...
 *   web: web-d2-0 scheduled on node-2 (replaces web-d1-0)
 *   web: web-d2-1 on node-3 waits its turn (wave 2)
 *   api: api-d2-0 scheduled on node-1
 *   web: web-d2-0 on node-2 checking: GET http://10.0.0.2:20001/health → HTTP 503
 *   web: web-d2-0 on node-2 checking: GET http://10.0.0.2:20001/health → HTTP 200
 *   api: healthy (1.2s)
 *   web: healthy (2.0s)
 *   deployed (4.8s)
 * ```
 *
 * Alloc lines name the alloc and its node. A health check's result is
 * printed when it differs from that alloc's previous one, so a check failing
 * the same way every interval prints one line.
 */
import { paint } from "./output.ts";

type Data = Readonly<Record<string, unknown>>;

/** What to print for one event. */
export interface Rendered {
  /** Lines for stdout. */
  readonly lines: readonly string[];
  /** Lines for stderr (a failure). */
  readonly errors: readonly string[];
  /** The progress line now (terminals only); null when there is none. */
  readonly progress: string | null;
}

/** Seconds with one decimal: `4.8s`. */
export function seconds(ms: unknown): string {
  const value = typeof ms === "number" && Number.isFinite(ms) ? ms : 0;
  return `${(value / 1000).toFixed(1)}s`;
}

function text(value: unknown): string {
  return typeof value === "string" ? value : "";
}

/** A list of names, or none when `value` is not a list. */
function names(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

/** Turns a deploy's events into lines; one renderer per deploy. */
export class DeployRenderer {
  readonly #color: boolean;
  /** New allocs per service, and how many are healthy. */
  readonly #allocs = new Map<string, Set<string>>();
  readonly #healthy = new Map<string, Set<string>>();
  readonly #phases = new Map<string, string>();
  /** The last `checking` message printed per alloc. */
  readonly #checks = new Map<string, string>();
  #pullingShown = false;

  constructor(options: { readonly color: boolean }) {
    this.#color = options.color;
  }

  /** The output for one event (`event` is the SSE event name). */
  render(event: string, data: Data): Rendered {
    const lines: string[] = [];
    const errors: string[] = [];
    switch (event) {
      case "start":
        this.#start(data, lines);
        break;
      case "phase":
        this.#phase(data, lines);
        break;
      case "routes":
        this.#routes(data, lines);
        break;
      case "done":
        lines.push(
          paint(
            this.#color,
            "green",
            `  deployed (${seconds(data.elapsedMs)})`,
          ),
        );
        return { lines, errors, progress: null };
      case "failed":
        this.#failed(data, errors);
        return { lines, errors, progress: null };
      default:
        break;
    }
    return { lines, errors, progress: this.#progress() };
  }

  #start(data: Data, lines: string[]): void {
    const tasks: Data = typeof data.tasks === "object" && data.tasks !== null
      ? data.tasks as Data
      : {};
    const services = (key: string) => names(data[key]);
    const taskList = (key: string) => names(tasks[key]);
    const touched = ["added", "changed", "removed"].reduce(
      (n, key) => n + services(key).length + taskList(key).length,
      0,
    );
    if (touched === 0) lines.push("  nothing to change");
    for (const name of services("removed")) lines.push(`  ${name}: removing`);
    for (const name of services("unchanged")) {
      lines.push(`  ${name}: unchanged`);
    }
    for (const name of taskList("added")) {
      lines.push(`  task ${name}: added (runs when spawned)`);
    }
    for (const name of taskList("changed")) {
      lines.push(`  task ${name}: changed (runs when spawned)`);
    }
    for (const name of taskList("removed")) {
      lines.push(`  task ${name}: removed`);
    }
  }

  #phase(data: Data, lines: string[]): void {
    const service = text(data.service);
    const allocId = text(data.allocId);
    const phase = text(data.phase);
    const message = text(data.message);
    const node = text(data.node);
    const on = node === "" ? "" : ` on ${node}`;
    const why = message === "" ? "" : ` (${message})`;
    if (allocId !== "") this.#phases.set(allocId, phase);
    switch (phase) {
      case "waiting":
        this.#track(this.#allocs, service, allocId);
        lines.push(`  ${service}: ${allocId}${on} waits its turn${why}`);
        break;
      case "scheduled":
        this.#track(this.#allocs, service, allocId);
        lines.push(
          `  ${service}: ${allocId} scheduled on ${node || "?"}${why}`,
        );
        break;
      case "checking":
        if (message === "" || this.#checks.get(allocId) === message) break;
        this.#checks.set(allocId, message);
        lines.push(`  ${service}: ${allocId}${on} checking: ${message}`);
        break;
      case "volume":
        lines.push(`  ${service}: ${message}`);
        break;
      case "pulling":
        if (!this.#pullingShown) lines.push("  pulling images...");
        this.#pullingShown = true;
        break;
      case "healthy": {
        const healthy = this.#track(this.#healthy, service, allocId);
        if (healthy.size === (this.#allocs.get(service)?.size ?? 0)) {
          lines.push(`  ${service}: healthy (${seconds(data.elapsedMs)})`);
        }
        break;
      }
      case "failed":
        if (message !== "") {
          lines.push(
            paint(
              this.#color,
              "red",
              `  ${service}: ${allocId}${on} failed: ${message}`,
            ),
          );
        }
        break;
      case "stopped":
        if (!this.#allocs.get(service)?.has(allocId)) {
          lines.push(`  ${service}: stopped ${allocId}${on}${why}`);
        }
        break;
      default:
        break;
    }
  }

  #routes(data: Data, lines: string[]): void {
    const routes = Array.isArray(data.routes) ? data.routes : [];
    for (const route of routes as Data[]) {
      const endpoints = Array.isArray(route.endpoints)
        ? route.endpoints.length
        : 0;
      lines.push(
        `  route ${text(route.host)}${text(route.path)} → ${
          text(route.service)
        } (${endpoints} endpoint${endpoints === 1 ? "" : "s"})`,
      );
    }
  }

  #failed(data: Data, errors: string[]): void {
    const service = typeof data.service === "string" ? data.service : null;
    const head = service === null
      ? `  deploy refused: ${text(data.reason)}`
      : `  deploy failed: ${service}: ${text(data.reason)}`;
    errors.push(paint(this.#color, "red", `${head} [${text(data.code)}]`));
    if (data.deployId !== null && data.deployId !== undefined) {
      // A first deploy has no previous version: nothing serves on.
      const after = data.previousServing === false
        ? "nothing was serving before this deploy"
        : "the previous version keeps serving";
      errors.push(
        `  rolled back (${
          seconds(data.elapsedMs)
        }): every new alloc was stopped; ${after}`,
      );
    }
    const logLines = Array.isArray(data.logLines)
      ? data.logLines.map(String)
      : [];
    if (service !== null && logLines.length > 0) {
      errors.push(`  last log lines of ${service}:`);
      for (const line of logLines) errors.push(`    | ${line}`);
    }
  }

  #track(map: Map<string, Set<string>>, service: string, allocId: string) {
    const set = map.get(service) ?? new Set<string>();
    set.add(allocId);
    map.set(service, set);
    return set;
  }

  /** `[2/3 healthy] pulling 1 · starting 0`, or null before anything is scheduled. */
  #progress(): string | null {
    let total = 0;
    for (const set of this.#allocs.values()) total += set.size;
    if (total === 0) return null;
    let healthy = 0;
    for (const set of this.#healthy.values()) healthy += set.size;
    const counts = new Map<string, number>();
    for (const phase of this.#phases.values()) {
      counts.set(phase, (counts.get(phase) ?? 0) + 1);
    }
    const busy = [
      "waiting",
      "pulling",
      "starting",
      "running",
      "checking",
      "stopping",
    ]
      .map((phase) => [phase, counts.get(phase) ?? 0] as const)
      .filter(([, n]) => n > 0)
      .map(([phase, n]) => `${phase} ${n}`);
    return `  [${healthy}/${total} healthy]${
      busy.length === 0 ? "" : ` ${busy.join(" · ")}`
    }`;
  }
}
