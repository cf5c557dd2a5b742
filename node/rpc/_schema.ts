/**
 * A tiny parser-combinator set for RPC messages: every message crossing the
 * wire is parsed from `unknown` into its type, with bounds on strings,
 * numbers and collections. A failure throws `SchemaError` naming the path.
 */

export class SchemaError extends Error {
  override name = "SchemaError";
  constructor(readonly path: string, message: string) {
    super(`${path}: ${message}`);
  }
}

export type Parser<T> = (value: unknown, path: string) => T;

/** A string of at most `lengthMax` characters (and at least `lengthMin`). */
export function str(
  options: {
    readonly lengthMax?: number;
    readonly lengthMin?: number;
    readonly pattern?: RegExp;
  } = {},
): Parser<string> {
  const lengthMax = options.lengthMax ?? 4096;
  const lengthMin = options.lengthMin ?? 0;
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
    if (options.pattern !== undefined && !options.pattern.test(value)) {
      throw new SchemaError(path, "has an invalid format");
    }
    return value;
  };
}

/** A finite number in [min, max]; `integer` demands an integer. */
export function num(
  options: {
    readonly min?: number;
    readonly max?: number;
    readonly integer?: boolean;
  } = {},
): Parser<number> {
  const min = options.min ?? Number.MIN_SAFE_INTEGER;
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  return (value, path) => {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      throw new SchemaError(path, "expected a finite number");
    }
    if (options.integer === true && !Number.isInteger(value)) {
      throw new SchemaError(path, "expected an integer");
    }
    if (value < min || value > max) {
      throw new SchemaError(path, `out of range [${min}, ${max}]`);
    }
    return value;
  };
}

export function bool(): Parser<boolean> {
  return (value, path) => {
    if (typeof value !== "boolean") {
      throw new SchemaError(path, "expected a boolean");
    }
    return value;
  };
}

/** One of the given string literals. */
export function literal<const T extends string>(
  ...values: readonly T[]
): Parser<T> {
  return (value, path) => {
    if (
      typeof value !== "string" ||
      !(values as readonly string[]).includes(value)
    ) {
      throw new SchemaError(path, `expected one of ${values.join(", ")}`);
    }
    return value as T;
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
    return value.map((v, i) => item(v, `${path}[${i}]`));
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
    const entries = Object.entries(value);
    if (entries.length > sizeMax) {
      throw new SchemaError(path, `more than ${sizeMax} entries`);
    }
    const out: Record<string, T> = {};
    for (const [key, v] of entries) out[key] = item(v, `${path}.${key}`);
    return out;
  };
}

type Shape = Record<string, Parser<unknown>>;
type OptionalKeys<S extends Shape> = {
  [K in keyof S]: S[K] extends OptionalParser<unknown> ? K : never;
}[keyof S];
type Parsed<S extends Shape> =
  & {
    -readonly [K in Exclude<keyof S, OptionalKeys<S>>]: S[K] extends
      Parser<infer T> ? T : never;
  }
  & {
    -readonly [K in OptionalKeys<S>]?: S[K] extends OptionalParser<infer T> ? T
      : never;
  };

/** A parser for a field that may be absent. */
export interface OptionalParser<T> extends Parser<T> {
  readonly optional: true;
}

export function optional<T>(inner: Parser<T>): OptionalParser<T> {
  return Object.assign((value: unknown, path: string) => inner(value, path), {
    optional: true as const,
  });
}

/** An object with exactly the fields of `shape` (unknown fields are dropped). */
export function object<S extends Shape>(shape: S): Parser<Parsed<S>> {
  return (value, path) => {
    if (!isPlainObject(value)) {
      throw new SchemaError(path, "expected an object");
    }
    const out: Record<string, unknown> = {};
    for (const [key, parse] of Object.entries(shape)) {
      const field = value[key];
      if (field === undefined) {
        if ("optional" in parse) continue;
        throw new SchemaError(`${path}.${key}`, "is required");
      }
      out[key] = parse(field, `${path}.${key}`);
    }
    return out as Parsed<S>;
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
