/**
 * The `update` block, `health { failure_threshold }`, the health timeout
 * that follows the interval, and the empty file: what they read into, and
 * the exact diagnostics of their invalid forms.
 */

import { deepStrictEqual } from "node:assert/strict";
import {
  type ClusterConfig,
  formatConfig,
  parseConfig,
  UPDATE_DEFAULT,
} from "./mod.ts";
import {
  type InvalidCase,
  runInvalidCases,
  service,
  task,
} from "./_invalid_cases.ts";

function parsed(source: string): ClusterConfig {
  const result = parseConfig(source, "t.mill");
  if (!result.ok) {
    throw new Error(
      result.diagnostics.map((d) => `${d.line}:${d.column} ${d.message}`)
        .join("\n"),
    );
  }
  return result.config;
}

const HEALTH = (fields: string) =>
  service(`  port = 80\n  health { path = "/h"; ${fields} }`);

Deno.test("parseConfig() reads the update block into ServiceConfig.update", async (t) => {
  const rows: [string, string, unknown][] = [
    [
      "both fields",
      service(`  update { order = "start-first"; max_parallel = 3 }`),
      { order: "start-first", maxParallel: 3 },
    ],
    [
      "stop-first",
      service(`  update { order = "stop-first" }`),
      { order: "stop-first", maxParallel: UPDATE_DEFAULT.maxParallel },
    ],
    [
      "only max_parallel: the order is the default's",
      service(`  update {\n    max_parallel = 2\n  }`),
      { order: UPDATE_DEFAULT.order, maxParallel: 2 },
    ],
    ["an empty block is the default", service(`  update {}`), UPDATE_DEFAULT],
    ["no block leaves update absent", service(""), undefined],
  ];
  for (const [name, source, expected] of rows) {
    await t.step(name, () => {
      const web = parsed(source).services.web;
      deepStrictEqual(web?.update, expected);
      deepStrictEqual(
        web !== undefined && "update" in web,
        expected !== undefined,
      );
    });
  }
});

Deno.test("parseConfig() reads health { failure_threshold }, absent when not written", () => {
  deepStrictEqual(
    parsed(HEALTH("failure_threshold = 5")).services.web?.health
      ?.failureThreshold,
    5,
  );
  const health = parsed(HEALTH('interval = "5s"')).services.web?.health;
  deepStrictEqual(health !== undefined && "failureThreshold" in health, false);
});

Deno.test("the default health timeout follows a short interval", async (t) => {
  const rows: [string, string, number, number][] = [
    ["an interval of 1s alone", 'interval = "1s"', 1_000, 1_000],
    ["an interval of 500ms alone", 'interval = "500ms"', 500, 500],
    [
      "an interval longer than the default timeout",
      'interval = "5s"',
      5_000,
      2_000,
    ],
    ["no interval", 'deadline = "30s"', 10_000, 2_000],
    [
      "a timeout equal to the interval",
      'interval = "1s"; timeout = "1s"',
      1_000,
      1_000,
    ],
    [
      "a written timeout under the default",
      'interval = "1s"; timeout = "300ms"',
      1_000,
      300,
    ],
  ];
  for (const [name, fields, intervalMs, timeoutMs] of rows) {
    await t.step(name, () => {
      const health = parsed(HEALTH(fields)).services.web?.health;
      deepStrictEqual([health?.intervalMs, health?.timeoutMs], [
        intervalMs,
        timeoutMs,
      ]);
    });
  }
});

Deno.test("a file with no service or task is valid and says it defines nothing", async (t) => {
  const sources: [string, string, number, number][] = [
    ["an empty file", "", 1, 1],
    ["blank lines", "\n\n  \n", 1, 1],
    ["only comments", "\n# nothing here\n// nor here\n/* at all */\n", 2, 1],
  ];
  for (const [name, source, line, column] of sources) {
    await t.step(name, () => {
      const result = parseConfig(source, "empty.mill");
      if (!result.ok) throw new Error(result.diagnostics[0]?.message);
      deepStrictEqual(result.config, { services: {}, tasks: {} });
      deepStrictEqual(result.notices, [{
        code: "config.empty",
        message:
          "The file defines no service or task; deploying it removes every service",
        file: "empty.mill",
        line,
        column,
      }]);
    });
  }
  await t.step("a file with a service has no notice", () => {
    const result = parseConfig(service(""), "t.mill");
    deepStrictEqual(result.ok && result.notices, []);
  });
});

Deno.test("mill fmt formats the update block like any other", () => {
  const result = formatConfig(
    'service "web" {\nimage="a:v1"\n  update {order="stop-first";max_parallel=2}\n  update {\n order = "auto"\n      max_parallel   = 1\n}\n}\n',
  );
  deepStrictEqual(
    result.ok && result.text,
    'service "web" {\n  image = "a:v1"\n  update { order = "stop-first"; max_parallel = 2 }\n  update {\n    order        = "auto"\n    max_parallel = 1\n  }\n}\n',
  );
});

const CASES: readonly InvalidCase[] = [
  {
    name: "an unknown update field gets a did-you-mean",
    source: service(`  update { max_paralel = 2 }`),
    errors: [[
      3,
      12,
      "config.unknown_field",
      'Unknown field "max_paralel" in update of service "web"; did you mean "max_parallel"?',
    ]],
  },
  {
    name: "an unknown update field far from any lists the known ones",
    source: service(`  update { speed = 2 }`),
    errors: [[
      3,
      12,
      "config.unknown_field",
      'Unknown field "speed" in update of service "web"; known are order, max_parallel',
    ]],
  },
  {
    name: "an unknown order gets a did-you-mean",
    source: service(`  update { order = "start_first" }`),
    errors: [[
      3,
      20,
      "config.bad_value",
      'Field "order" of update of service "web" must be one of "start-first", "stop-first", "auto", found "start_first"; did you mean "start-first"?',
    ]],
  },
  {
    name: "an order that is no string is the wrong type",
    source: service(`  update { order = 1 }`),
    errors: [[
      3,
      20,
      "config.wrong_type",
      'Field "order" of update of service "web" must be one of "start-first", "stop-first", "auto", found a number 1',
    ]],
  },
  {
    name: "max_parallel 0 is out of range",
    source: service(`  update { max_parallel = 0 }`),
    errors: [[
      3,
      27,
      "config.out_of_range",
      'Field "max_parallel" of update of service "web" must be between 1 and 1000, found 0',
    ]],
  },
  {
    name: "max_parallel must be an integer",
    source: service(`  update { max_parallel = 1.5 }`),
    errors: [[
      3,
      27,
      "config.wrong_type",
      'Field "max_parallel" of update of service "web" must be an integer, found a number 1.5',
    ]],
  },
  {
    name: "max_parallel in quotes is the wrong type",
    source: service(`  update { max_parallel = "2" }`),
    errors: [[
      3,
      27,
      "config.wrong_type",
      'Field "max_parallel" of update of service "web" must be an integer, found a string "2"; remove the quotes',
    ]],
  },
  {
    name: "two update blocks are refused",
    source: service(
      `  update { order = "auto" }\n  update { max_parallel = 2 }`,
    ),
    errors: [[
      4,
      3,
      "config.duplicate_field",
      'Block "update" appears twice in service "web"; keep one',
    ]],
  },
  {
    name: "an update block takes no label",
    source: service(`  update "fast" { max_parallel = 2 }`),
    errors: [[
      3,
      10,
      "config.extra_label",
      'Block "update" takes no label, found "fast"; write update { … }',
    ]],
  },
  {
    name: "update written as a field is refused",
    source: service(`  update = "start-first"`),
    errors: [[
      3,
      3,
      "config.wrong_type",
      '"update" in service "web" is a block, not a field; write update { … }',
    ]],
  },
  {
    name: "a task takes no update block",
    source: task(`  update { max_parallel = 2 }`),
    errors: [[
      3,
      3,
      "config.not_for_task",
      'Tasks take no "update": a task has no replicas to roll; remove it or make this a service',
    ]],
  },
  {
    name: "failure_threshold 0 is out of range",
    source: HEALTH("failure_threshold = 0"),
    errors: [[
      4,
      45,
      "config.out_of_range",
      'Field "failure_threshold" of health of service "web" must be between 1 and 100, found 0',
    ]],
  },
  {
    name: "failure_threshold must be an integer",
    source: HEALTH("failure_threshold = 2.5"),
    errors: [[
      4,
      45,
      "config.wrong_type",
      'Field "failure_threshold" of health of service "web" must be an integer, found a number 2.5',
    ]],
  },
  {
    name: "a written timeout longer than the written interval names both",
    source: HEALTH('interval = "1s"; timeout = "3s"'),
    errors: [[
      4,
      52,
      "config.out_of_range",
      'Field "timeout" of health of service "web" must not exceed the interval ("1s"), found "3s"; shorten the timeout or lengthen the interval',
    ]],
  },
  {
    name: "a written timeout longer than the default interval says so",
    source: HEALTH('timeout = "15s"'),
    errors: [[
      4,
      35,
      "config.out_of_range",
      'Field "timeout" of health of service "web" must not exceed the default interval ("10s"), found "15s"; shorten the timeout or set a longer interval',
    ]],
  },
  {
    name: "a broken interval is reported alone, not the timeout against it",
    source: HEALTH('interval = "1ms"; timeout = "3s"'),
    errors: [[
      4,
      36,
      "config.out_of_range",
      'Field "interval" of health of service "web" must be between "100ms" and "24h", found "1ms"',
    ]],
  },
];

Deno.test("parseConfig() refuses bad update and health fields with positioned errors", async (t) => {
  await runInvalidCases(t, CASES);
});
