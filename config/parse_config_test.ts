import { deepStrictEqual, ok } from "node:assert/strict";
import {
  type ClusterConfig,
  ConfigError,
  DEFAULTS,
  formatDiagnostic,
  parseConfig,
  type ServiceConfig,
} from "./mod.ts";

const FIXTURES = new URL("../tests/fixtures/config/", import.meta.url);

function parseFixture(name: string): ClusterConfig {
  const source = Deno.readTextFileSync(new URL(name, FIXTURES));
  const result = parseConfig(source, name);
  if (!result.ok) {
    throw new Error(result.diagnostics.map((d) => d.message).join("\n"));
  }
  return result.config;
}

function defaults(name: string, image: string): ServiceConfig {
  return {
    kind: "service",
    name,
    image,
    env: {},
    cpu: DEFAULTS.cpu,
    memoryBytes: DEFAULTS.memoryBytes,
    constraints: [],
    labels: {},
    stopSignal: "SIGTERM",
    stopGracePeriodMs: 10_000,
    volumes: [],
    replicas: 1,
    routes: [],
    restart: "always",
  };
}

const HEALTH_DEFAULTS = {
  timeoutMs: 2000,
  healthyThreshold: 1,
  unhealthyThreshold: 3,
  deadlineMs: 60_000,
};

Deno.test("parseConfig() reads the volume seed (000) into the model", () => {
  deepStrictEqual(parseFixture("seed_000_volume.mill"), {
    services: {
      postgres: {
        ...defaults("postgres", "postgres:16"),
        port: 5432,
        cpu: 1,
        memoryBytes: 2_000_000_000,
        volumes: [{
          name: "pgdata",
          path: "/var/lib/postgresql/data",
          sizeBytes: 50 * 2 ** 30,
          ephemeral: false,
        }],
      },
    },
    tasks: {},
  });
});

Deno.test("parseConfig() reads the first-deploy seed (002) with its one-line blocks", () => {
  deepStrictEqual(parseFixture("seed_002_first_deploy.mill"), {
    services: {
      web: {
        ...defaults("web", "registry.example.com/web:v1"),
        port: 3000,
        replicas: 2,
        cpu: 0.5,
        memoryBytes: 512_000_000,
        health: { path: "/health", intervalMs: 5000, ...HEALTH_DEFAULTS },
        routes: [{ host: "app.example.com", path: "/" }],
      },
      api: {
        ...defaults("api", "registry.example.com/api:v1"),
        port: 8080,
        cpu: 1,
        memoryBytes: 1_000_000_000,
        env: { DATABASE_URL: "${secret(db.url)}" },
        health: { path: "/healthz", intervalMs: 10_000, ...HEALTH_DEFAULTS },
      },
    },
    tasks: {},
  });
});

Deno.test("parseConfig() reads every field of the reference file", () => {
  const config = parseFixture("full.mill");
  const web = config.services.web;
  const migrate = config.tasks.migrate;
  ok(web !== undefined && migrate !== undefined);
  deepStrictEqual(web.command, ["/bin/web"]);
  deepStrictEqual(web.args, ["--listen", ":3000"]);
  deepStrictEqual([web.port, web.replicas, web.cpu], [3000, 3, 0.5]);
  deepStrictEqual(web.memoryBytes, 1.5 * 2 ** 30);
  deepStrictEqual(web.restart, "on-failure");
  deepStrictEqual([web.stopSignal, web.stopGracePeriodMs], ["SIGINT", 30_000]);
  deepStrictEqual(web.env, {
    DATABASE_URL:
      'postgres://${secret(db.user)}:${secret("db.password")}@db.mill/app',
    LOG_LEVEL: "info",
    WORKERS: "4",
    LITERAL: "$${HOME}",
    MOTD: "hello\n  world\n",
  });
  deepStrictEqual(web.labels, { team: "web", "app.example.com/tier": "front" });
  deepStrictEqual(web.health, {
    path: "/health",
    intervalMs: 5000,
    timeoutMs: 1000,
    healthyThreshold: 2,
    unhealthyThreshold: 4,
    deadlineMs: 120_000,
  });
  deepStrictEqual(web.routes, [
    { host: "app.example.com", path: "/" },
    { host: "app.example.com", path: "/static" },
  ]);
  deepStrictEqual(web.volumes, [
    {
      name: "web-cache",
      path: "/cache",
      sizeBytes: 512 * 2 ** 20,
      ephemeral: true,
    },
  ]);
  deepStrictEqual(web.constraints, [
    { attribute: "node.label.zone", operator: "!=", value: "eu-1" },
    { attribute: "node.name", operator: "==", value: "node-2" },
  ]);
  deepStrictEqual(migrate.kind, "task");
  deepStrictEqual(migrate.timeoutMs, 600_000);
  deepStrictEqual(migrate.command, ["/bin/web", "migrate"]);
  deepStrictEqual(migrate.env, { DATABASE_URL: "${secret(db.url)}" });
});

Deno.test("the parsed model survives a JSON round trip unchanged", () => {
  for (
    const name of [
      "seed_000_volume.mill",
      "seed_002_first_deploy.mill",
      "full.mill",
    ]
  ) {
    const config = parseFixture(name);
    deepStrictEqual(JSON.parse(JSON.stringify(config)), config);
  }
});

interface ValidCase {
  readonly name: string;
  readonly source: string;
  readonly check: (config: ClusterConfig) => unknown;
  readonly expected: unknown;
}

const VALID: readonly ValidCase[] = [
  {
    name: "all three comment styles are ignored",
    source:
      '# a\n// b\n/* c\n d */\nservice "web" { # e\n  image = "a:v1" // f\n  /* g */ port = 80\n}\n',
    check: (c) => c.services.web?.port,
    expected: 80,
  },
  {
    name: "string escapes are decoded",
    source:
      'service "web" {\n  image = "a:v1"\n  env { A = "tab\\tquote\\"\\u00e9\\n" }\n}\n',
    check: (c) => c.services.web?.env.A,
    expected: 'tab\tquote"é\n',
  },
  {
    name: "trailing commas and multi-line lists are accepted",
    source:
      'service "web" {\n  image = "a:v1"\n  args = [\n    "a",\n    "b",\n  ]\n}\n',
    check: (c) => c.services.web?.args,
    expected: ["a", "b"],
  },
  {
    name: "CRLF line endings and a byte order mark are accepted",
    source: '\uFEFFservice "web" {\r\n  image = "a:v1"\r\n  port = 80\r\n}\r\n',
    check: (c) => c.services.web?.port,
    expected: 80,
  },
  {
    name: "a bare identifier works as a block label",
    source: 'service web {\n  image = "a:v1"\n}\n',
    check: (c) => Object.keys(c.services),
    expected: ["web"],
  },
  {
    name: "a map attribute may use colons and newlines",
    source:
      'service "web" {\n  image = "a:v1"\n  labels = {\n    team: "a"\n    tier = "b"\n  }\n}\n',
    check: (c) => c.services.web?.labels,
    expected: { team: "a", tier: "b" },
  },
  {
    name: "an ephemeral volume needs no size and may be shared",
    source:
      'service "a" {\n  image = "a:v1"; replicas = 2\n  volume "tmp" { path = "/tmp/x"; ephemeral = true }\n}\nservice "b" {\n  image = "b:v1"\n  volume "tmp" { path = "/tmp/x"; ephemeral = true }\n}\n',
    check: (c) => c.services.a?.volumes,
    expected: [{ name: "tmp", path: "/tmp/x", ephemeral: true }],
  },
  {
    name: "a signal without the SIG prefix is normalised",
    source: 'service "web" {\n  image = "a:v1"\n  stop_signal = "quit"\n}\n',
    check: (c) => c.services.web?.stopSignal,
    expected: "SIGQUIT",
  },
  {
    name: "compound durations add up",
    source:
      'service "web" {\n  image = "a:v1"\n  stop_grace_period = "1m30s"\n}\n',
    check: (c) => c.services.web?.stopGracePeriodMs,
    expected: 90_000,
  },
  {
    name: "route hosts are lower-cased and the path defaults to /",
    source:
      'service "web" {\n  image = "a:v1"; port = 80\n  route "App.Example.com" {}\n}\n',
    check: (c) => c.services.web?.routes,
    expected: [{ host: "app.example.com", path: "/" }],
  },
  {
    name: "the same host may route different paths to different services",
    source:
      'service "a" {\n  image = "a:v1"; port = 80\n  route "x.io" { path = "/" }\n}\nservice "b" {\n  image = "b:v1"; port = 80\n  route "x.io" { path = "/api" }\n}\n',
    check: (c) => c.services.b?.routes,
    expected: [{ host: "x.io", path: "/api" }],
  },
  {
    name: "a task may hold a persistent volume and a timeout",
    source:
      'task "backup" {\n  image = "a:v1"\n  timeout = "1h"\n  volume "dumps" { path = "/dumps"; size = "10G" }\n}\n',
    check: (
      c,
    ) => [c.tasks.backup?.timeoutMs, c.tasks.backup?.volumes[0]?.sizeBytes],
    expected: [3_600_000, 10_000_000_000],
  },
];

Deno.test("parseConfig() accepts the dialect's valid forms", async (t) => {
  for (const c of VALID) {
    await t.step(c.name, () => {
      const result = parseConfig(c.source, "t.mill");
      if (!result.ok) {
        throw new Error(
          result.diagnostics.map((d) => `${d.line}:${d.column} ${d.message}`)
            .join("\n"),
        );
      }
      deepStrictEqual(c.check(result.config), c.expected);
    });
  }
});

Deno.test("diagnostics name the block, the field, what was expected and what was found", () => {
  const source =
    'service "web" {\n  image = "a:v1"; port = 80\n  replicas = 0\n  health { intervall = "5s" }\n}\n';
  const result = parseConfig(source, "app.mill");
  ok(!result.ok);
  deepStrictEqual(result.diagnostics, [
    {
      code: "config.out_of_range",
      message:
        'Field "replicas" of service "web" must be between 1 and 1000, found 0',
      file: "app.mill",
      line: 3,
      column: 14,
      block: 'service "web"',
      field: "replicas",
      expected: "between 1 and 1000",
      found: "0",
    },
    {
      code: "config.unknown_field",
      message:
        'Unknown field "intervall" in health of service "web"; did you mean "interval"?',
      file: "app.mill",
      line: 4,
      column: 12,
      block: 'service "web" > health',
      field: "intervall",
      found: "intervall",
      expected: "interval",
    },
  ]);
});

Deno.test("ConfigError carries every diagnostic, the first code and file:line:col lines", () => {
  const result = parseConfig('service "web" {\n  port = 0\n}\n', "app.mill");
  ok(!result.ok);
  const error = new ConfigError(result.diagnostics);
  deepStrictEqual(error.code, "config.missing_field");
  deepStrictEqual(error.diagnostics.length, 2);
  deepStrictEqual(
    error.message.split("\n").map((line) => line.split(": ")[0]),
    ["app.mill:1:1", "app.mill:2:10"],
  );
  const second = result.diagnostics[1];
  ok(second !== undefined);
  deepStrictEqual(formatDiagnostic(second), `app.mill:2:10: ${second.message}`);
});

Deno.test("parseConfig() reads a route's balance, absent when not written", () => {
  const result = parseConfig(
    `service "web" {
  image = "web:1"
  port  = 80
  route "a.example.com" {
    balance = "least-connections"
  }
  route "b.example.com" {}
}
`,
    "balance.mill",
  );
  ok(result.ok);
  deepStrictEqual(result.config.services.web?.routes, [
    { host: "a.example.com", path: "/", balance: "least-connections" },
    { host: "b.example.com", path: "/" },
  ]);
});
