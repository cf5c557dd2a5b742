/**
 * `${secret(name)}` references in env values: found, checked and resolved.
 *
 * The config keeps env values verbatim; the leader checks that every
 * referenced secret exists before a deploy starts anything and decrypts
 * them for each start (resolve.ts), and only the node that starts a
 * container resolves the references, just before the start.
 *
 * Syntax inside an env value, as in HCL templates:
 * - `${secret(NAME)}` or `${secret("NAME")}` (spaces allowed inside the
 *   braces and parentheses) is replaced by the secret's value;
 * - `$${` is a literal `${` (the escape);
 * - any other `${…}` is an error (`secret.invalid_reference`), so that a typo
 *   like `${secrets(db)}` never reaches a container as literal text;
 * - a `$` not followed by `{` is literal.
 */
import { MissingSecretsError, SecretError } from "./errors.ts";
import { isValidSecretName } from "./names.ts";

/** A piece of an env value: literal text, or a reference to a secret. */
export type EnvPart =
  | { readonly kind: "text"; readonly text: string }
  | { readonly kind: "secret"; readonly name: string };

const REFERENCE_BODY = /^\s*secret\s*\(\s*("?)([^"()\s]*)\1\s*\)\s*$/;

/**
 * Splits one env value into text and secret references. `key` is the env
 * variable's name, used only in error messages.
 */
export function parseEnvValue(key: string, value: string): EnvPart[] {
  const parts: EnvPart[] = [];
  let text = "";
  let at = 0;
  while (at < value.length) {
    if (value.startsWith("$${", at)) {
      text += "${";
      at += 3;
      continue;
    }
    if (!value.startsWith("${", at)) {
      text += value[at];
      at += 1;
      continue;
    }
    const close = value.indexOf("}", at + 2);
    if (close < 0) {
      throw invalidReference(key, 'an unclosed "${"');
    }
    const name = parseReferenceBody(key, value.slice(at + 2, close));
    if (text.length > 0) parts.push({ kind: "text", text });
    text = "";
    parts.push({ kind: "secret", name });
    at = close + 1;
  }
  if (text.length > 0) parts.push({ kind: "text", text });
  return parts;
}

function parseReferenceBody(key: string, body: string): string {
  const match = REFERENCE_BODY.exec(body);
  const name = match?.[2];
  if (name === undefined) {
    throw invalidReference(
      key,
      `"\${${body.length > 40 ? body.slice(0, 40) + "…" : body}}"`,
    );
  }
  if (!isValidSecretName(name)) {
    throw invalidReference(
      key,
      `an invalid secret name ${JSON.stringify(name)}`,
    );
  }
  return name;
}

function invalidReference(key: string, what: string): SecretError {
  return new SecretError(
    "secret.invalid_reference",
    `Env variable "${key}" has ${what}; write \${secret(NAME)} for a secret ` +
      `or $\${ for a literal "\${"`,
  );
}

/** Every secret name referenced by `env`, sorted and without duplicates. */
export function referencedSecretNames(
  env: Readonly<Record<string, string>>,
): string[] {
  const names = new Set<string>();
  for (const [key, value] of Object.entries(env)) {
    for (const part of parseEnvValue(key, value)) {
      if (part.kind === "secret") names.add(part.name);
    }
  }
  return [...names].sort();
}

/**
 * Throws `MissingSecretsError` (`secret.missing`) listing every name that
 * `env` references and `exists` denies. The leader's pre-deploy check.
 */
export function checkSecretRefs(
  env: Readonly<Record<string, string>>,
  exists: (name: string) => boolean,
): void {
  const missing = referencedSecretNames(env).filter((name) => !exists(name));
  if (missing.length > 0) throw new MissingSecretsError(missing);
}

/**
 * Returns a copy of `env` with every `${secret(name)}` replaced by
 * `lookup(name)` and every `$${` unescaped. All references are checked
 * before any value is built: unknown names raise one `MissingSecretsError`
 * listing them all. Values never appear in errors.
 *
 * @example
 * ```ts
 * resolveSecretRefs({ URL: "pg://u:${secret(db.pass)}@db" }, (n) => values.get(n));
 * ```
 */
export function resolveSecretRefs(
  env: Readonly<Record<string, string>>,
  lookup: (name: string) => string | undefined,
): Record<string, string> {
  const parsed = Object.entries(env).map(
    ([key, value]) => [key, parseEnvValue(key, value)] as const,
  );
  const values = new Map<string, string>();
  const missing = new Set<string>();
  for (const [, parts] of parsed) {
    for (const part of parts) {
      if (part.kind !== "secret" || values.has(part.name)) continue;
      const value = lookup(part.name);
      if (value === undefined) missing.add(part.name);
      else values.set(part.name, value);
    }
  }
  if (missing.size > 0) throw new MissingSecretsError([...missing].sort());
  const resolved: Record<string, string> = {};
  for (const [key, parts] of parsed) {
    resolved[key] = parts.map((part) =>
      part.kind === "text" ? part.text : values.get(part.name) ?? ""
    ).join("");
  }
  return resolved;
}
