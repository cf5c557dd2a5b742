/** `parseConfig`: a `.mill` file's text to the model or every problem in it. */

import type { ClusterConfig } from "./types.ts";
import {
  type ConfigDiagnostic,
  type ConfigNotice,
  sortDiagnostics,
} from "./diagnostic.ts";
import { parseSyntax, PROBLEMS_MAX, type SyntaxProblem } from "./parser.ts";
import { validateTree } from "./validate.ts";
import { CONFIG_CHARS_MAX } from "./limits.ts";

export type ParseConfigResult =
  | {
    readonly ok: true;
    readonly config: ClusterConfig;
    /** Not errors: e.g. `config.empty` for a file with no service or task. */
    readonly notices: readonly ConfigNotice[];
  }
  | { readonly ok: false; readonly diagnostics: readonly ConfigDiagnostic[] };

/**
 * Parses and validates `source`. Syntax errors are reported alone (a broken
 * file's fields cannot be trusted); otherwise every validation error of the
 * file comes out together, in position order. A valid file may come with
 * notices (a file with no service or task is valid, and says so).
 *
 * @example
 * const result = parseConfig('service "web" { image = "web:v1" }', "app.mill");
 * if (result.ok) console.log(result.config.services.web?.replicas); // 1
 */
export function parseConfig(
  source: string,
  fileName: string,
): ParseConfigResult {
  if (source.length > CONFIG_CHARS_MAX) {
    return {
      ok: false,
      diagnostics: [{
        code: "config.too_large",
        message:
          `The file has ${source.length} characters, more than the ${CONFIG_CHARS_MAX} allowed; split it`,
        file: fileName,
        line: 1,
        column: 1,
      }],
    };
  }
  const tree = parseSyntax(source);
  if (tree.problems.length > 0) {
    return {
      ok: false,
      diagnostics: syntaxDiagnostics(tree.problems, fileName),
    };
  }
  const { config, diagnostics, notices } = validateTree(tree.body, fileName);
  if (diagnostics.length > 0) {
    return { ok: false, diagnostics: sortDiagnostics(diagnostics) };
  }
  return { ok: true, config, notices };
}

export function syntaxDiagnostics(
  problems: readonly SyntaxProblem[],
  file: string,
): ConfigDiagnostic[] {
  const diagnostics = problems.map((p): ConfigDiagnostic => ({
    code: p.code,
    message: p.message,
    file,
    line: p.line,
    column: p.column,
    ...(p.found === undefined ? {} : { found: p.found }),
  }));
  return sortDiagnostics(diagnostics).slice(0, PROBLEMS_MAX + 1);
}
