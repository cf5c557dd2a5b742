import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { describeSecretUsers, secretUsers } from "./usage.ts";

const workload = (name: string, env: Record<string, string>) => ({
  name,
  env,
});

Deno.test("secretUsers() names the services and tasks that reference a secret", () => {
  const current = {
    services: {
      web: workload("web", { URL: "pg://u:${secret(db.pass)}@db" }),
      api: workload("api", { KEY: '${ secret("db.pass") }' }),
      other: workload("other", { A: "${secret(db.passx)}", B: "plain" }),
      escaped: workload("escaped", { A: "$${secret(db.pass)}" }),
      broken: workload("broken", { A: "${nope}" }),
    },
    tasks: { migrate: workload("migrate", { P: "${secret(db.pass)}" }) },
  };
  const rollbackTarget = {
    services: { old: workload("old", { P: "${secret(db.pass)}" }) },
    tasks: {},
  };
  const users = secretUsers("db.pass", [current, rollbackTarget]);
  assertEquals(users, {
    services: ["api", "old", "web"],
    tasks: ["migrate"],
  });
  assertEquals(
    describeSecretUsers(users),
    'service "api", service "old", service "web", task "migrate"',
  );
  assertEquals(secretUsers("unused", [current]), { services: [], tasks: [] });
});
