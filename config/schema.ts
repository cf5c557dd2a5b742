/**
 * Typed parser combinators for untrusted data (RPC messages, Raft commands,
 * snapshot state): each `Parser<T>` takes an `unknown` (usually fresh from
 * `JSON.parse`) and returns a `T`, or throws `SchemaError` naming the path of
 * the first bad field and what was expected there. Every string, list and map
 * is bounded. Pure: no I/O, so the FSM may import it.
 *
 * @example
 * ```ts
 * const heartbeat = object({
 *   nodeId: str({ lengthMin: 1, lengthMax: 253 }),
 *   atMs: count(),
 *   labels: optional(record(str(), 64)),
 * }, { unknownKeys: "refuse" });
 * const parsed = heartbeat(JSON.parse(text), "heartbeat");
 * // parsed: { nodeId: string; atMs: number; labels?: Record<string, string> }
 * ```
 */

/** Stable code of every `SchemaError`. */
export type SchemaErrorCode = "schema.invalid";

/** Data that does not fit its parser: `path` names the field, `expected` what it needed. */
export class SchemaError extends Error {
  override name = "SchemaError";
  readonly code: SchemaErrorCode = "schema.invalid";
  constructor(readonly path: string, readonly expected: string) {
    super(`${path}: ${expected}`);
  }
}

/** Parses `value`, found at `path` (for messages), into a `T`, or throws `SchemaError`. */
export type Parser<T> = (value: unknown, path: string) => T;

/** The type a parser returns. */
export type Infer<P> = P extends Parser<infer T> ? T : never;

/** Longest string `str()` accepts when not told otherwise. */
export const STRING_LENGTH_MAX_DEFAULT = 4096;

/** A string of at most `lengthMax` characters (default 4096), at least `lengthMin`. */
export function str(
  options: {
    readonly lengthMax?: number;
    readonly lengthMin?: number;
    readonly pattern?: RegExp;
  } = {},
): Parser<string> {
  const lengthMax = options.lengthMax ?? STRING_LENGTH_MAX_DEFAULT;
  const lengthMin = options.lengthMin ?? 0;
  const pattern = options.pattern;
  return (value, path) => {
    if (typeof value !== "string") {
      throw new SchemaError(path, "expected a string");
    }
    if (value.length > lengthMax) {
      throw new SchemaError(path, `longer than ${lengthMax}`);
    }
    if (value.length < lengthMin) {
      throw new SchemaError(path, `shorter than ${lengthMin}`);
    }
    if (pattern !== undefined && !pattern.test(value)) {
      throw new SchemaError(path, "has an invalid format");
    }
    return value;
  };
}

/**
 * A finite number in [min, max] (default: the safe integers' range);
 * `integer` demands an integer.
 */
export function num(
  options: {
    readonly min?: number;
    readonly max?: number;
    readonly integer?: boolean;
  } = {},
): Parser<number> {
  const min = options.min ?? Number.MIN_SAFE_INTEGER;
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  const integer = options.integer === true;
  return (value, path) => {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new SchemaError(path, "expected a finite number");
    }
    if (integer && !Number.isInteger(value)) {
      throw new SchemaError(path, "expected an integer");
    }
    if (value < min || value > max) {
      throw new SchemaError(path, `out of range [${min}, ${max}]`);
    }
    return value;
  };
}

function parseCount(value: unknown, path: string): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw new SchemaError(path, "expected a non-negative integer");
  }
  return value;
}

/** A count: a non-negative safe integer (sizes, times in ms, replicas). */
export function count(): Parser<number> {
  return parseCount;
}

function parseBool(value: unknown, path: string): boolean {
  if (typeof value !== "boolean") {
    throw new SchemaError(path, "expected a boolean");
  }
  return value;
}

/** `true` or `false`. */
export function bool(): Parser<boolean> {
  return parseBool;
}

/** One of the given string literals. */
export function literal<const T extends string>(
  ...values: readonly T[]
): Parser<T> {
  const expected = `expected one of ${values.join(", ")}`;
  return (value, path) => {
    for (const candidate of values) if (candidate === value) return candidate;
    throw new SchemaError(path, expected);
  };
}

/** null in JSON, or the inner type. */
export function nullable<T>(inner: Parser<T>): Parser<T | null> {
  return (value, path) => value === null ? null : inner(value, path);
}

/** An array of at most `lengthMax` items. */
export function array<T>(item: Parser<T>, lengthMax: number): Parser<T[]> {
  return (value, path) => {
    if (!Array.isArray(value)) throw new SchemaError(path, "expected an array");
    if (value.length > lengthMax) {
      throw new SchemaError(path, `more than ${lengthMax} items`);
    }
    const out: T[] = [];
    for (let index = 0; index < value.length; index++) {
      out.push(item(value[index], `${path}[${index}]`));
    }
    return out;
  };
}

/** A string-keyed map of at most `sizeMax` entries. */
export function record<T>(
  item: Parser<T>,
  sizeMax: number,
): Parser<Record<string, T>> {
  return (value, path) => {
    if (!isPlainObject(value)) {
      throw new SchemaError(path, "expected an object");
    }
    const keys = Object.keys(value);
    if (keys.length > sizeMax) {
      throw new SchemaError(path, `more than ${sizeMax} entries`);
    }
    const out: Record<string, T> = {};
    for (const key of keys) {
      setOwn(out, key, item(value[key], `${path}.${key}`));
    }
    return out;
  };
}

/** A parser for a field that may be absent. */
export interface OptionalParser<T> extends Parser<T> {
  readonly optional: true;
}

/** Marks a field of an `object()` shape as one that may be absent (or undefined). */
export function optional<T>(inner: Parser<T>): OptionalParser<T> {
  return Object.assign((value: unknown, path: string) => inner(value, path), {
    optional: true as const,
  });
}

/** The fields of an `object()`: a parser per key. */
export type Shape = Record<string, Parser<unknown>>;
type OptionalKeys<S extends Shape> = {
  [K in keyof S]: S[K] extends OptionalParser<unknown> ? K : never;
}[keyof S];

/** What `object(shape)` returns: required fields, then optional ones. */
export type ParsedShape<S extends Shape> =
  & {
    -readonly [K in Exclude<keyof S, OptionalKeys<S>>]: S[K] extends
      Parser<infer T> ? T : never;
  }
  & {
    -readonly [K in OptionalKeys<S>]?: S[K] extends OptionalParser<infer T> ? T
      : never;
  };

/**
 * What an object does with members its shape does not name: `strip` drops
 * them (a message may grow fields its reader ignores), `keep` passes them
 * through unchecked (stored data written by a newer version), `refuse`
 * fails with `unknown field`.
 */
export type UnknownKeys = "strip" | "keep" | "refuse";

/** Options of `object()`. */
export interface ObjectOptions {
  /** Default `strip`. */
  readonly unknownKeys?: UnknownKeys;
}

interface Field {
  readonly key: string;
  readonly parse: Parser<unknown>;
  readonly optional: boolean;
}

/**
 * An object with the fields of `shape`, checked in the shape's order; an
 * absent (or undefined) field is `is required` unless wrapped in
 * `optional()`. Members outside the shape are handled by `unknownKeys`.
 *
 * @example
 * ```ts
 * const route = object({ host: str(), path: optional(str()) });
 * route({ host: "a.example", extra: 1 }, "route"); // { host: "a.example" }
 * ```
 */
export function object<S extends Shape>(
  shape: S,
  options: ObjectOptions = {},
): Parser<ParsedShape<S>> {
  const unknownKeys = options.unknownKeys ?? "strip";
  const fields: readonly Field[] = Object.entries(shape).map((
    [key, parse],
  ) => ({ key, parse, optional: "optional" in parse }));
  return (value, path) => {
    if (!isPlainObject(value)) {
      throw new SchemaError(path, "expected an object");
    }
    const out: Record<string, unknown> = {};
    let present = 0;
    for (const { key, parse, optional } of fields) {
      const member = value[key];
      if (member === undefined) {
        if (optional) continue;
        throw new SchemaError(`${path}.${key}`, "is required");
      }
      present++;
      out[key] = parse(member, `${path}.${key}`);
    }
    if (unknownKeys !== "strip") {
      unknownMembers(value, shape, { out, present, unknownKeys, path });
    }
    // Every field of the shape was parsed into `out` just above.
    return out as ParsedShape<S>;
  };
}

/** `object()`'s handling of members outside its shape: copy them, or refuse the first. */
function unknownMembers(
  value: Record<string, unknown>,
  shape: Shape,
  context: {
    readonly out: Record<string, unknown>;
    readonly present: number;
    readonly unknownKeys: "keep" | "refuse";
    readonly path: string;
  },
): void {
  const keys = Object.keys(value);
  // Only the shape's own fields: nothing to copy or refuse.
  if (keys.length === context.present) return;
  for (const key of keys) {
    if (Object.hasOwn(shape, key)) continue;
    if (context.unknownKeys === "refuse") {
      throw new SchemaError(`${context.path}.${key}`, "unknown field");
    }
    setOwn(context.out, key, value[key]);
  }
}

/** `target[key] = member`, also for the key `__proto__` (an own member in JSON). */
function setOwn(
  target: Record<string, unknown>,
  key: string,
  member: unknown,
): void {
  if (key === "__proto__") {
    Object.defineProperty(target, key, {
      value: member,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    target[key] = member;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
