/**
 * Config diagnostics: every problem found in a `.mill` file, with a stable
 * `code` and the position, block and field it concerns.
 */

/**
 * Stable codes; the CLI maps them all to exit status 2. Add, never rename.
 * `config.empty` is no longer an error: it is the code of a `ConfigNotice`.
 */
export type ConfigErrorCode =
  | "config.syntax"
  | "config.invalid_character"
  | "config.unterminated_string"
  | "config.unterminated_comment"
  | "config.unterminated_heredoc"
  | "config.invalid_escape"
  | "config.unclosed_block"
  | "config.too_large"
  | "config.too_deep"
  | "config.too_many_errors"
  | "config.unknown_block"
  | "config.unknown_field"
  | "config.duplicate_field"
  | "config.missing_field"
  | "config.missing_label"
  | "config.extra_label"
  | "config.wrong_type"
  | "config.bad_value"
  | "config.bad_size"
  | "config.bad_duration"
  | "config.bad_name"
  | "config.bad_signal"
  | "config.bad_env_name"
  | "config.bad_interpolation"
  | "config.out_of_range"
  | "config.duplicate_name"
  | "config.duplicate_route"
  | "config.duplicate_mount"
  | "config.shared_volume"
  | "config.replicated_volume"
  | "config.missing_size"
  | "config.needs_port"
  | "config.route_on_task"
  | "config.not_for_task"
  | "config.empty";

/** One problem in a config file, positioned (1-based line and column). */
export interface ConfigDiagnostic {
  readonly code: ConfigErrorCode;
  /** A sentence naming block and field, what failed and what to do. */
  readonly message: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;
  /** The enclosing block, e.g. `service "web"` or `service "web" > health`. */
  readonly block?: string;
  readonly field?: string;
  readonly expected?: string;
  readonly found?: string;
}

/**
 * Something worth telling about a valid file, not an error: `config.empty`
 * (no service or task: valid, and deploying it removes every service).
 */
export interface ConfigNotice {
  readonly code: "config.empty";
  readonly message: string;
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

/** Thrown where a caller needs an exception rather than a result list. */
export class ConfigError extends Error {
  override name = "ConfigError";
  readonly code: ConfigErrorCode;
  constructor(
    readonly diagnostics: readonly ConfigDiagnostic[],
    options?: ErrorOptions,
  ) {
    super(diagnostics.map(formatDiagnostic).join("\n"), options);
    const first = diagnostics[0];
    if (first === undefined) throw new Error("ConfigError needs a diagnostic");
    this.code = first.code;
  }
}

/** `app.mill:3:14: Field "replicas" of service "web" must be …`. */
export function formatDiagnostic(diagnostic: ConfigDiagnostic): string {
  const { file, line, column, message } = diagnostic;
  return `${file}:${line}:${column}: ${message}`;
}

/** Position-ordered, deduplicated (same place and code reported once). */
export function sortDiagnostics(
  diagnostics: readonly ConfigDiagnostic[],
): ConfigDiagnostic[] {
  const seen = new Set<string>();
  const unique: ConfigDiagnostic[] = [];
  for (const d of diagnostics) {
    const key = `${d.line}:${d.column}:${d.code}:${d.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    unique.push(d);
  }
  return unique.sort((a, b) => a.line - b.line || a.column - b.column);
}
