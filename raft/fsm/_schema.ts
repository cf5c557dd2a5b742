/**
 * A tiny structural validator for data read back from disk or the wire
 * (snapshots, log entries): parse from `unknown`, say where it is wrong.
 */

export type Schema =
  | "string"
  | "number"
  | "count"
  | "boolean"
  | { readonly nullable: Schema }
  | { readonly array: Schema; readonly max: number }
  | { readonly record: Schema }
  | { readonly oneOf: readonly string[] }
  | ObjectSchema;

export interface ObjectSchema {
  readonly fields: Readonly<Record<string, Schema>>;
  readonly optional?: Readonly<Record<string, Schema>>;
  /** Unknown members are refused unless `open` (config grows new fields). */
  readonly open?: boolean;
}

/** Where `value` breaks `schema` (`at.path: what`), or null when it fits. */
export function validate(
  value: unknown,
  schema: Schema,
  at: string,
): string | null {
  if (schema === "string") {
    return typeof value === "string" ? null : `${at}: expected a string`;
  }
  if (schema === "number") {
    return typeof value === "number" && Number.isFinite(value)
      ? null
      : `${at}: expected a finite number`;
  }
  if (schema === "count") {
    return typeof value === "number" && Number.isSafeInteger(value) &&
        value >= 0
      ? null
      : `${at}: expected a non-negative integer`;
  }
  if (schema === "boolean") {
    return typeof value === "boolean" ? null : `${at}: expected a boolean`;
  }
  if ("nullable" in schema) {
    return value === null ? null : validate(value, schema.nullable, at);
  }
  if ("oneOf" in schema) {
    return typeof value === "string" && schema.oneOf.includes(value)
      ? null
      : `${at}: expected one of ${schema.oneOf.join(", ")}`;
  }
  if ("array" in schema) return validateArray(value, schema, at);
  if ("record" in schema) return validateRecord(value, schema.record, at);
  return validateObject(value, schema, at);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function validateArray(
  value: unknown,
  schema: { readonly array: Schema; readonly max: number },
  at: string,
): string | null {
  if (!Array.isArray(value)) return `${at}: expected an array`;
  if (value.length > schema.max) {
    return `${at}: more than ${schema.max} items`;
  }
  for (let index = 0; index < value.length; index++) {
    const problem = validate(value[index], schema.array, `${at}[${index}]`);
    if (problem !== null) return problem;
  }
  return null;
}

function validateRecord(value: unknown, item: Schema, at: string) {
  if (!isPlainObject(value)) return `${at}: expected an object`;
  for (const [key, member] of Object.entries(value)) {
    const problem = validate(member, item, `${at}.${key}`);
    if (problem !== null) return problem;
  }
  return null;
}

function validateObject(
  value: unknown,
  schema: ObjectSchema,
  at: string,
): string | null {
  if (!isPlainObject(value)) return `${at}: expected an object`;
  for (const [key, field] of Object.entries(schema.fields)) {
    if (!Object.hasOwn(value, key)) return `${at}.${key}: missing`;
    const problem = validate(value[key], field, `${at}.${key}`);
    if (problem !== null) return problem;
  }
  const optional = schema.optional ?? {};
  for (const [key, field] of Object.entries(optional)) {
    if (!Object.hasOwn(value, key) || value[key] === undefined) continue;
    const problem = validate(value[key], field, `${at}.${key}`);
    if (problem !== null) return problem;
  }
  if (schema.open === true) return null;
  for (const key of Object.keys(value)) {
    if (!Object.hasOwn(schema.fields, key) && !Object.hasOwn(optional, key)) {
      return `${at}.${key}: unknown field`;
    }
  }
  return null;
}
