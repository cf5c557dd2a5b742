/** Renders config diagnostics and summaries as text lines (no I/O). */

import {
  type ConfigDiagnostic,
  formatDiagnostic,
  formatSize,
} from "../config/mod.ts";
import { paint } from "./output.ts";
import type { ConfigSummary } from "./summary.ts";

/** `file:line:col: error[code]: message`, then the source line and a caret. */
export function renderDiagnostics(
  diagnostics: readonly ConfigDiagnostic[],
  source: string,
  color: boolean,
): string[] {
  const lines = source.split("\n");
  const out: string[] = [];
  for (const d of diagnostics) {
    const where = `${d.file}:${d.line}:${d.column}`;
    out.push(
      `${paint(color, "bold", where)}: ${
        paint(color, "red", `error[${d.code}]`)
      }: ${d.message}`,
    );
    const text = lines[d.line - 1];
    if (text === undefined) continue;
    const gutter = String(d.line).padStart(4);
    out.push(paint(color, "dim", `${gutter} | `) + text.replace(/\r$/, ""));
    const caretPad = text.slice(0, d.column - 1).replace(/[^\t]/g, " ");
    out.push(
      paint(color, "dim", `${" ".repeat(4)} | `) + caretPad +
        paint(color, "red", "^"),
    );
  }
  const count = diagnostics.length;
  const file = diagnostics[0]?.file ?? "";
  out.push(`${count} error${count === 1 ? "" : "s"} in ${file}`);
  return out;
}

/** One line per diagnostic, without excerpts. */
export function renderDiagnosticsPlain(
  diagnostics: readonly ConfigDiagnostic[],
): string[] {
  return diagnostics.map(formatDiagnostic);
}

function cores(cpu: number): string {
  const rounded = Math.round(cpu * 1000) / 1000;
  return `${rounded} ${rounded === 1 ? "core" : "cores"}`;
}

/** The `mill validate` summary of a valid config. */
export function renderSummary(
  file: string,
  summary: ConfigSummary,
  color: boolean,
): string[] {
  const out = [`${paint(color, "green", "valid")}: ${file}`];
  const row = (label: string, value: string) =>
    out.push(`  ${label.padEnd(10)}${value}`.trimEnd());
  row(
    "services",
    `${summary.services} (${summary.replicas} ${
      summary.replicas === 1 ? "replica" : "replicas"
    })`,
  );
  row("tasks", String(summary.tasks));
  row("cpu", `${cores(summary.cpu)} reserved by services`);
  row("memory", `${formatSize(summary.memoryBytes)} reserved by services`);
  if (summary.tasks > 0) {
    row(
      "",
      `tasks: ${cores(summary.taskCpu)}, ${
        formatSize(summary.taskMemoryBytes)
      } while they run`,
    );
  }
  row("routes", summary.routes.length === 0 ? "none" : "");
  for (const r of summary.routes) {
    out.push(`    ${r.host}${r.path} → ${r.service}`);
  }
  row("volumes", summary.volumes.length === 0 ? "none" : "");
  for (const v of summary.volumes) {
    const size = v.sizeBytes === undefined
      ? ""
      : `${formatSize(v.sizeBytes)}, `;
    out.push(
      `    ${v.name} (${size}${
        v.ephemeral ? "ephemeral" : "persistent"
      }) → ${v.owner}`,
    );
  }
  row("secrets", summary.secrets.length === 0 ? "none" : "");
  for (const s of summary.secrets) {
    out.push(`    ${s.name} ← ${s.users.join(", ")}`);
  }
  return out;
}
