/**
 * Which workloads of a config use a secret: what `DELETE /v1/secrets/{name}`
 * checks before it deletes one that a deployed service would need at its
 * next start.
 */
import { parseEnvValue } from "./refs.ts";

/** A workload as far as secrets are concerned. */
export interface SecretUsingWorkload {
  readonly name: string;
  readonly env: Readonly<Record<string, string>>;
}

/** The services and tasks of a config, as the FSM keeps it. */
export interface SecretUsingConfig {
  readonly services: Readonly<Record<string, SecretUsingWorkload>>;
  readonly tasks: Readonly<Record<string, SecretUsingWorkload>>;
}

/** The workloads whose env references a secret, each list sorted. */
export interface SecretUsers {
  readonly services: readonly string[];
  readonly tasks: readonly string[];
}

/**
 * The services and tasks of `configs` (the current config, and the one a
 * running deploy may roll back to) whose env references `name`. An env value
 * that is not a valid template references nothing (the config was checked
 * when it was deployed).
 */
export function secretUsers(
  name: string,
  configs: readonly SecretUsingConfig[],
): SecretUsers {
  const services = new Set<string>();
  const tasks = new Set<string>();
  for (const config of configs) {
    for (const workload of Object.values(config.services)) {
      if (references(workload, name)) services.add(workload.name);
    }
    for (const workload of Object.values(config.tasks)) {
      if (references(workload, name)) tasks.add(workload.name);
    }
  }
  return { services: [...services].sort(), tasks: [...tasks].sort() };
}

function references(workload: SecretUsingWorkload, name: string): boolean {
  return Object.entries(workload.env).some(([key, value]) => {
    try {
      return parseEnvValue(key, value).some((part) =>
        part.kind === "secret" && part.name === name
      );
    } catch {
      return false;
    }
  });
}

/** `service "web", task "migrate"`: the users as a message names them. */
export function describeSecretUsers(users: SecretUsers): string {
  return [
    ...users.services.map((n) => `service "${n}"`),
    ...users.tasks.map((n) => `task "${n}"`),
  ].join(", ");
}
