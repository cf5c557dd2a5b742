/**
 * Canonical JSON: object keys sorted, no whitespace, `undefined` members
 * left out. The same value always gives the same text, so it can be hashed
 * (snapshots) and compared (config diffs).
 *
 * Every Raft entry is encoded here, so it is written for speed: one
 * recursive pass that appends to a string, strings quoted without a call
 * into `JSON.stringify` unless they need escapes, and the sorted key list
 * (with its quoted `"key":` heads) remembered per object shape, since an
 * entry holds many objects with the same keys in the same order.
 *
 * The rules, which `canonical_json_test.ts` checks against a plain
 * reference: strings and numbers as `JSON.stringify` writes them
 * (non-finite numbers as `null`); `undefined`, functions and symbols as
 * `null` where they stand for a value (top level, array items), left out
 * as object members only when `undefined`; array holes skipped; any other
 * object by its own enumerable string keys (no `toJSON`, so a `Date` is
 * `{}`); a bigint throws a `TypeError`, a cycle a `RangeError`.
 */

/** `value` as canonical JSON text. */
export function canonicalJson(value: unknown): string {
  return write(value);
}

function write(value: unknown): string {
  if (typeof value === "string") return quote(value);
  if (typeof value === "number") {
    return Number.isFinite(value) ? String(value) : "null";
  }
  if (value === null || typeof value !== "object") {
    // Booleans; bigint throws; undefined, functions and symbols give none.
    const text = JSON.stringify(value);
    return text === undefined ? "null" : text;
  }
  if (Array.isArray(value)) return writeArray(value);
  return writeObject(value as Record<string, unknown>);
}

function writeArray(items: readonly unknown[]): string {
  const length = items.length;
  let out = "[";
  for (let index = 0; index < length; index++) {
    const item = items[index];
    // A hole is skipped, but the comma before the next item is still
    // written after index 0: the text this module always wrote.
    if (item === undefined && !(index in items)) continue;
    if (index > 0) out += ",";
    out += write(item);
  }
  return out + "]";
}

function writeObject(record: Record<string, unknown>): string {
  const keys = Object.keys(record);
  if (keys.length === 0) return "{}";
  const shape = shapeOf(keys);
  const sorted = shape.sorted;
  const heads = shape.heads;
  let out = "{";
  let first = true;
  for (let index = 0; index < sorted.length; index++) {
    const item = record[sorted[index]!];
    if (item === undefined) continue;
    out += (first ? heads[index]! : "," + heads[index]!) + write(item);
    first = false;
  }
  return out + "}";
}

/** A string as `JSON.stringify` quotes it, without the call when no escape is needed. */
function quote(text: string): string {
  const length = text.length;
  if (length > QUOTE_SCAN_MAX) return JSON.stringify(text);
  for (let index = 0; index < length; index++) {
    const code = text.charCodeAt(index);
    // Control characters, `"` and `\` are escaped; surrogates are
    // escaped when lone, so any surrogate goes to the slow path.
    if (
      code < 0x20 || code === 0x22 || code === 0x5c ||
      (code >= 0xd800 && code <= 0xdfff)
    ) {
      return JSON.stringify(text);
    }
  }
  return '"' + text + '"';
}

/** Past this length the native scan is faster than ours. */
const QUOTE_SCAN_MAX = 128;

/** An object's key order: its keys sorted, and each as `"key":`. */
interface Shape {
  /** The keys in `Object.keys` order: what a lookup compares. */
  readonly keys: readonly string[];
  readonly sorted: readonly string[];
  readonly heads: readonly string[];
}

/**
 * Shapes seen, by first key; a few per key. Bounded: cleared when full,
 * and objects with many keys (maps by name) are not remembered.
 */
const shapes = new Map<string, Shape[]>();
const SHAPE_FIRST_KEYS_MAX = 512;
const SHAPES_PER_FIRST_KEY_MAX = 8;
const SHAPE_KEYS_MAX = 64;

function shapeOf(keys: string[]): Shape {
  const count = keys.length;
  if (count > SHAPE_KEYS_MAX) return newShape(keys);
  const first = keys[0]!;
  const bucket = shapes.get(first);
  if (bucket !== undefined) {
    for (const shape of bucket) {
      if (sameKeys(shape.keys, keys)) return shape;
    }
  }
  const shape = newShape(keys);
  if (bucket === undefined) {
    if (shapes.size >= SHAPE_FIRST_KEYS_MAX) shapes.clear();
    shapes.set(first, [shape]);
  } else if (bucket.length < SHAPES_PER_FIRST_KEY_MAX) {
    bucket.push(shape);
  }
  return shape;
}

/** Whether two key lists of one bucket match (their first keys already do). */
function sameKeys(known: readonly string[], keys: readonly string[]): boolean {
  if (known.length !== keys.length) return false;
  for (let index = 1; index < keys.length; index++) {
    if (known[index] !== keys[index]) return false;
  }
  return true;
}

function newShape(keys: readonly string[]): Shape {
  // Default sort: UTF-16 code unit order, the order this text has always had.
  const sorted = keys.slice().sort();
  return { keys, sorted, heads: sorted.map((key) => quote(key) + ":") };
}
