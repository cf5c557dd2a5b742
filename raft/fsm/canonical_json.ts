/**
 * Canonical JSON: object keys sorted, no whitespace, `undefined` members
 * left out. The same value always gives the same text, so it can be hashed
 * (snapshots) and compared (config diffs).
 */

/** `value` as canonical JSON text. */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  write(value, parts);
  return parts.join("");
}

function write(value: unknown, parts: string[]): void {
  if (value === null || typeof value !== "object") {
    const text = JSON.stringify(value);
    parts.push(text === undefined ? "null" : text);
    return;
  }
  if (Array.isArray(value)) {
    parts.push("[");
    value.forEach((item, index) => {
      if (index > 0) parts.push(",");
      write(item, parts);
    });
    parts.push("]");
    return;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record).filter((key) => record[key] !== undefined)
    .sort();
  parts.push("{");
  keys.forEach((key, index) => {
    if (index > 0) parts.push(",");
    parts.push(JSON.stringify(key), ":");
    write(record[key], parts);
  });
  parts.push("}");
}
