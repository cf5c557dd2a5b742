/** Shared by the table tests of invalid configs. */

import { deepStrictEqual } from "node:assert/strict";
import { parseConfig } from "./mod.ts";

export interface InvalidCase {
  readonly name: string;
  readonly source: string;
  /** [line, column, code, message], in position order. */
  readonly errors: readonly (readonly [number, number, string, string])[];
}

/** A service "web" with an image, then `body` from line 3. */
export function service(body: string): string {
  return `service "web" {\n  image = "web:v1"\n${body}\n}\n`;
}

/** A task "migrate" with an image, then `body` from line 3. */
export function task(body: string): string {
  return `task "migrate" {\n  image = "web:v1"\n${body}\n}\n`;
}

/** One step per case: exactly the expected diagnostics, nothing more. */
export async function runInvalidCases(
  t: Deno.TestContext,
  cases: readonly InvalidCase[],
): Promise<void> {
  for (const c of cases) {
    await t.step(c.name, () => {
      const result = parseConfig(c.source, "t.mill");
      if (result.ok) {
        throw new Error(`expected errors, but the config parsed:\n${c.source}`);
      }
      const found = result.diagnostics.map((
        d,
      ) => [d.line, d.column, d.code, d.message]);
      deepStrictEqual(found, c.errors.map((e) => [...e]));
      for (const d of result.diagnostics) deepStrictEqual(d.file, "t.mill");
    });
  }
}
