/**
 * `${secret(name)}` references in env values. They stay verbatim in the
 * model and are resolved only on the node that starts the container.
 */

/** Secret names: letters, digits and `_ . -`, as `db.url`. */
export const SECRET_NAME_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** One `${…}` in a string: its text and, when it is a secret, the name. */
export interface Interpolation {
  /** From `${` to `}` inclusive, as written. */
  readonly text: string;
  /** Offset of `$` in the string. */
  readonly offset: number;
  /** Set when the text is `${secret(name)}` with a valid name. */
  readonly secret?: string;
  /** The closing `}` is missing. */
  readonly unterminated: boolean;
}

/** Every `${…}` in `value`; `$${` is an escaped literal and not listed. */
export function findInterpolations(value: string): Interpolation[] {
  const found: Interpolation[] = [];
  let at = 0;
  for (;;) {
    const start = value.indexOf("${", at);
    if (start === -1) return found;
    if (value[start - 1] === "$" && isEscape(value, start - 1)) {
      at = start + 2;
      continue;
    }
    const end = closingBrace(value, start + 2);
    if (end === -1) {
      found.push({
        text: value.slice(start),
        offset: start,
        unterminated: true,
      });
      return found;
    }
    const text = value.slice(start, end + 1);
    const secret = secretName(text.slice(2, -1));
    found.push(
      secret === undefined
        ? { text, offset: start, unterminated: false }
        : { text, offset: start, secret, unterminated: false },
    );
    at = end + 1;
  }
}

/** `$$` before `{` escapes it, unless that `$` is itself part of `$$`. */
function isEscape(value: string, dollar: number): boolean {
  let count = 0;
  for (let i = dollar; i >= 0 && value[i] === "$"; i--) count++;
  return count % 2 === 1;
}

function closingBrace(value: string, from: number): number {
  let depth = 1;
  let quoted = false;
  for (let i = from; i < value.length; i++) {
    const c = value[i];
    if (c === "\\" && quoted) i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === "{") depth++;
    else if (!quoted && c === "}" && --depth === 0) return i;
  }
  return -1;
}

function secretName(inner: string): string | undefined {
  const match = /^\s*secret\(\s*(?:"([^"]*)"|([^\s")]*))\s*\)\s*$/.exec(inner);
  if (match === null) return undefined;
  const name = match[1] ?? match[2] ?? "";
  return SECRET_NAME_PATTERN.test(name) ? name : undefined;
}

/**
 * Names of the secrets an env value references, in order, without repeats.
 *
 * @example
 * secretRefs("postgres://${secret(db.user)}@db"); // ["db.user"]
 */
export function secretRefs(value: string): string[] {
  const names: string[] = [];
  for (const i of findInterpolations(value)) {
    if (i.secret !== undefined && !names.includes(i.secret)) {
      names.push(i.secret);
    }
  }
  return names;
}

/**
 * Replaces each `${secret(name)}` with `lookup(name)` and each escaped `$${`
 * with `${`. Returns the names `lookup` did not know instead when any.
 */
export function resolveSecretRefs(
  value: string,
  lookup: (name: string) => string | undefined,
): { ok: true; value: string } | { ok: false; missing: string[] } {
  const missing: string[] = [];
  let out = "";
  let at = 0;
  for (const i of findInterpolations(value)) {
    out += unescapeDollars(value.slice(at, i.offset));
    const resolved = i.secret === undefined ? i.text : lookup(i.secret);
    if (resolved === undefined) missing.push(i.secret ?? i.text);
    out += resolved ?? "";
    at = i.offset + i.text.length;
  }
  out += unescapeDollars(value.slice(at));
  return missing.length > 0 ? { ok: false, missing } : { ok: true, value: out };
}

function unescapeDollars(text: string): string {
  return text.replaceAll("$${", "${");
}
