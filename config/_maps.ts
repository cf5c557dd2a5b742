/** `env` and `labels`: maps written as a block or as a map attribute. */

import { BlockReader, interpolationPos, type MapEntry } from "./_reader.ts";
import { findInterpolations } from "./secrets.ts";
import { checkLabel } from "./_checks.ts";

const ENV_NAME_PATTERN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Scalar map values as strings; lists and maps reported. */
function mapValue(
  reader: BlockReader,
  field: string,
  entry: MapEntry,
): string | undefined {
  const v = entry.value;
  if (v.kind === "string") return v.value;
  if (v.kind === "number") return v.raw;
  if (v.kind === "bool") return String(v.value);
  reader.wrongType(
    { name: `${field}.${entry.key}`, value: v },
    "a string",
  );
  return undefined;
}

export function readEnv(reader: BlockReader): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of reader.mapEntries("env")) {
    if (!ENV_NAME_PATTERN.test(entry.key)) {
      reader.report(
        "config.bad_env_name",
        `Environment variable name "${entry.key}" in ${reader.scope.label} is not valid; use letters, digits and "_", not starting with a digit`,
        entry.keyPos,
        {
          field: `env.${entry.key}`,
          expected: "a name like DATABASE_URL",
          found: entry.key,
        },
      );
      continue;
    }
    const value = mapValue(reader, "env", entry);
    if (value === undefined) continue;
    if (
      entry.value.kind === "string" && !checkEnvInterpolations(reader, entry)
    ) continue;
    env[entry.key] = value;
  }
  return env;
}

function checkEnvInterpolations(reader: BlockReader, entry: MapEntry): boolean {
  const expr = entry.value;
  if (expr.kind !== "string") return true;
  for (const i of findInterpolations(expr.value)) {
    if (i.secret !== undefined) continue;
    const message = i.unterminated
      ? `Environment variable "${entry.key}" of ${reader.scope.label} has an unclosed "\${"; close it with "}" or write $\${ for a literal "\${"`
      : `Environment variable "${entry.key}" of ${reader.scope.label} can only interpolate \${secret(name)}, found "${i.text}"; write $\${ for a literal "\${"`;
    reader.report(
      "config.bad_interpolation",
      message,
      interpolationPos(expr, i.text),
      {
        field: `env.${entry.key}`,
        expected: "${secret(name)}",
        found: i.text,
      },
    );
    return false;
  }
  return true;
}

export function readLabels(reader: BlockReader): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const entry of reader.mapEntries("labels")) {
    if (!checkLabel(reader, entry)) continue;
    const value = mapValue(reader, "labels", entry);
    if (value !== undefined) labels[entry.key] = value;
  }
  return labels;
}
