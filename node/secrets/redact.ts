/**
 * Redaction for logs: the last line of defence when text that may contain a
 * secret value (a container's env, a command line, an error from a runtime)
 * is about to be logged or returned.
 */

/** What replaces a secret value. */
export const REDACTED = "[redacted]";

/**
 * Values shorter than this are not redacted: replacing every "1" or "on" in
 * a log would destroy it without hiding anything worth hiding.
 */
export const REDACT_VALUE_LENGTH_MIN = 4;

/**
 * Replaces every occurrence of each secret value in `text` by `[redacted]`.
 * Longer values are replaced first so a value containing another is hidden
 * whole.
 */
export function redact(text: string, values: Iterable<string>): string {
  const sorted = [...new Set(values)]
    .filter((value) => value.length >= REDACT_VALUE_LENGTH_MIN)
    .sort((a, b) => b.length - a.length);
  let out = text;
  for (const value of sorted) out = out.split(value).join(REDACTED);
  return out;
}

/**
 * A copy of `env` fit for logs: each value that referenced a secret in the
 * original `template` is replaced by the template itself (which names the
 * secret, not its value).
 */
export function redactEnv(
  resolved: Readonly<Record<string, string>>,
  template: Readonly<Record<string, string>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(resolved)) {
    const original = template[key];
    out[key] = original !== undefined && original.includes("${")
      ? original
      : value;
  }
  return out;
}
