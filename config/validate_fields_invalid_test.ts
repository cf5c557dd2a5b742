/** Field values of a service or task: types, units, ranges: each input is refused with exactly these diagnostics. */

import {
  type InvalidCase,
  runInvalidCases,
  service,
} from "./_invalid_cases.ts";

export const FIELDS_CASES: readonly InvalidCase[] = [
  {
    name: "an unknown field is reported with a did-you-mean",
    source: service(`  replica = 2`),
    errors: [
      [
        3,
        3,
        "config.unknown_field",
        'Unknown field "replica" in service "web"; did you mean "replicas"?',
      ],
    ],
  },
  {
    name: "an unknown field without a near name lists the known ones",
    source: service(`  colour = "red"`),
    errors: [
      [
        3,
        3,
        "config.unknown_field",
        'Unknown field "colour" in service "web"; known are image, command, args, cpu, memory, stop_signal, stop_grace_period, port, replicas, restart, env, labels, volume, constraint, health, update, route',
      ],
    ],
  },
  {
    name: "a quoted port is a wrong type",
    source: service(`  port = "3000"`),
    errors: [
      [
        3,
        10,
        "config.wrong_type",
        'Field "port" of service "web" must be an integer, found a string "3000"; remove the quotes',
      ],
    ],
  },
  {
    name: "a fractional replica count is a wrong type",
    source: service(`  replicas = 1.5`),
    errors: [
      [
        3,
        14,
        "config.wrong_type",
        'Field "replicas" of service "web" must be an integer, found a number 1.5',
      ],
    ],
  },
  {
    name: "zero replicas are out of range",
    source: service(`  replicas = 0`),
    errors: [
      [
        3,
        14,
        "config.out_of_range",
        'Field "replicas" of service "web" must be between 1 and 1000, found 0',
      ],
    ],
  },
  {
    name: "a port above 65535 is out of range",
    source: service(`  port = 70000`),
    errors: [
      [
        3,
        10,
        "config.out_of_range",
        'Field "port" of service "web" must be between 1 and 65535, found 70000',
      ],
    ],
  },
  {
    name: "port zero is out of range",
    source: service(`  port = 0`),
    errors: [
      [
        3,
        10,
        "config.out_of_range",
        'Field "port" of service "web" must be between 1 and 65535, found 0',
      ],
    ],
  },
  {
    name: "zero cpu is out of range",
    source: service(`  cpu = 0`),
    errors: [
      [
        3,
        9,
        "config.out_of_range",
        'Field "cpu" of service "web" must be more than 0 and at most 1024, found 0',
      ],
    ],
  },
  {
    name: "a quoted cpu is a wrong type",
    source: service(`  cpu = "1"`),
    errors: [
      [
        3,
        9,
        "config.wrong_type",
        'Field "cpu" of service "web" must be a number, found a string "1"; remove the quotes',
      ],
    ],
  },
  {
    name: "a lowercase size unit is unknown",
    source: service(`  memory = "512m"`),
    errors: [
      [
        3,
        12,
        "config.bad_size",
        'Field "memory" of service "web" has an unknown unit "m"; use "M" (10^6 bytes) or "Mi" (2^20 bytes), found "512m"',
      ],
    ],
  },
  {
    name: "a size without unit is refused",
    source: service(`  memory = "512"`),
    errors: [
      [
        3,
        12,
        "config.bad_size",
        'Field "memory" of service "web" has no unit; write "512M" (10^6 bytes), "512Mi" (2^20 bytes) or another unit, found "512"',
      ],
    ],
  },
  {
    name: "a bare number for memory is a wrong type",
    source: service(`  memory = 512`),
    errors: [
      [
        3,
        12,
        "config.wrong_type",
        'Field "memory" of service "web" must be a size string like "512M", found a number 512; write it with a unit, e.g. "512M" or "512Mi"',
      ],
    ],
  },
  {
    name: "memory below the minimum is out of range",
    source: service(`  memory = "1M"`),
    errors: [
      [
        3,
        12,
        "config.out_of_range",
        'Field "memory" of service "web" must be at least "6Mi", found "1M"',
      ],
    ],
  },
  {
    name: "a size that is no number is refused",
    source: service(`  memory = "lots"`),
    errors: [
      [
        3,
        12,
        "config.bad_size",
        'Field "memory" of service "web" is not a size; write a number and a unit like "512M" or "1.5Gi", found "lots"',
      ],
    ],
  },
  {
    name: "an unknown duration unit is refused",
    source: service(`  port = 80\n  health { interval = "5sec" }`),
    errors: [
      [
        4,
        23,
        "config.bad_duration",
        'Field "interval" of health of service "web" has an unknown unit "sec"; use ms, s, m or h, found "5sec"',
      ],
    ],
  },
  {
    name: "a duration without unit is refused",
    source: service(`  port = 80\n  health { interval = "5" }`),
    errors: [
      [
        4,
        23,
        "config.bad_duration",
        'Field "interval" of health of service "web" has no unit; write "5s" for seconds or use ms, m or h, found "5"',
      ],
    ],
  },
  {
    name: "a bare number for a duration is a wrong type",
    source: service(`  port = 80\n  health { interval = 5 }`),
    errors: [
      [
        4,
        23,
        "config.wrong_type",
        'Field "interval" of health of service "web" must be a duration string like "5s", found a number 5; write it with a unit, e.g. "5s"',
      ],
    ],
  },
  {
    name: "a quoted bool is a wrong type",
    source: service(`  volume "tmp" { path = "/tmp"; ephemeral = "true" }`),
    errors: [
      [
        3,
        45,
        "config.wrong_type",
        'Field "ephemeral" of volume "tmp" of service "web" must be true or false, found a string "true"; remove the quotes',
      ],
    ],
  },
  {
    name: "an image with spaces is refused",
    source: `service "web" {\n  image = "web v1"\n}\n`,
    errors: [
      [
        2,
        11,
        "config.bad_value",
        'Field "image" of service "web" contains whitespace, found "web v1"; write a reference like "registry.example.com/web:v1"',
      ],
    ],
  },
  {
    name: "an unknown stop signal gets a did-you-mean",
    source: service(`  stop_signal = "SIGTRM"`),
    errors: [
      [
        3,
        17,
        "config.bad_signal",
        'Field "stop_signal" of service "web" names no known signal, found "SIGTRM"; did you mean "SIGTERM"?',
      ],
    ],
  },
  {
    name: "an env name with a dash is refused",
    source: service(`  env { A-B = "a" }`),
    errors: [
      [
        3,
        9,
        "config.bad_env_name",
        'Environment variable name "A-B" in service "web" is not valid; use letters, digits and "_", not starting with a digit',
      ],
    ],
  },
  {
    name: "an env value may only interpolate secrets",
    source: service(`  env { URL = "http://\${var.host}/" }`),
    errors: [
      [
        3,
        23,
        "config.bad_interpolation",
        'Environment variable "URL" of service "web" can only interpolate ${secret(name)}, found "${var.host}"; write $${ for a literal "${"',
      ],
    ],
  },
  {
    name: "interpolation outside env is refused",
    source: `service "web" {\n  image = "web:\${secret(tag)}"\n}\n`,
    errors: [
      [
        2,
        16,
        "config.bad_interpolation",
        'Field "image" of service "web" cannot hold "${secret(tag)}": interpolation is only allowed in env values; write $${ for a literal "${"',
      ],
    ],
  },
  {
    name: "an unknown restart policy gets a did-you-mean",
    source: service(`  restart = "on_failure"`),
    errors: [
      [
        3,
        13,
        "config.bad_value",
        'Field "restart" of service "web" must be one of "always", "on-failure", "never", found "on_failure"; did you mean "on-failure"?',
      ],
    ],
  },
  {
    name: "an unquoted restart policy is a wrong type",
    source: service(`  restart = always`),
    errors: [
      [
        3,
        13,
        "config.wrong_type",
        'Field "restart" of service "web" must be one of "always", "on-failure", "never", found a bare word always; put it in quotes: "always"',
      ],
    ],
  },
  {
    name: "a field set twice is refused",
    source: service(`  port = 80\n  port = 81`),
    errors: [
      [
        4,
        3,
        "config.duplicate_field",
        'Field "port" is set twice in service "web" (first at 3:3); keep one',
      ],
    ],
  },
  {
    name: "a command given as a string is a wrong type",
    source: service(`  command = "/bin/web --serve"`),
    errors: [
      [
        3,
        13,
        "config.wrong_type",
        'Field "command" of service "web" must be a list of strings, found a string "/bin/web --serve"; write command = ["/bin/web --serve"]',
      ],
    ],
  },
  {
    name: "a number in args is a wrong type",
    source: service(`  args = ["--port", 80]`),
    errors: [
      [
        3,
        21,
        "config.wrong_type",
        'Field "args" of service "web" must be a list of strings, found a number 80 in it',
      ],
    ],
  },
  {
    name: "a bad label key is refused",
    source: service(`  labels = { "-team" = "a" }`),
    errors: [
      [
        3,
        14,
        "config.bad_name",
        'Label key "-team" in service "web" is not valid; use letters, digits, ".", "_", "-" and "/", starting and ending with a letter or digit',
      ],
    ],
  },
  {
    name: "every validation error of a file is reported",
    source:
      `service "web" {\n  image = "a:v1"\n  replicas = 0\n  port = 99999\n  memory = "1Q"\n}\ntask "t" {\n  health { path = "/" }\n}\n`,
    errors: [
      [
        3,
        14,
        "config.out_of_range",
        'Field "replicas" of service "web" must be between 1 and 1000, found 0',
      ],
      [
        4,
        10,
        "config.out_of_range",
        'Field "port" of service "web" must be between 1 and 65535, found 99999',
      ],
      [
        5,
        12,
        "config.bad_size",
        'Field "memory" of service "web" has an unknown unit "Q"; use B, K, M, G, T (powers of 1000) or Ki, Mi, Gi, Ti (powers of 1024), found "1Q"',
      ],
      [
        7,
        1,
        "config.missing_field",
        'Task "t" is missing the required field "image"; add image = "registry.example.com/app:v1"',
      ],
      [
        8,
        3,
        "config.not_for_task",
        'Tasks take no "health": a task is not health checked; remove it or make this a service',
      ],
    ],
  },
  {
    name: "an env key set twice is refused",
    source: service(`  env {\n    A = "1"\n    A = "2"\n  }`),
    errors: [
      [
        5,
        5,
        "config.duplicate_field",
        'Key "A" is set twice in env of service "web" (first at 4:5); keep one',
      ],
    ],
  },
  {
    name: "a grace period with a bad unit is refused",
    source: service(`  stop_grace_period = "10 seconds"`),
    errors: [
      [
        3,
        23,
        "config.bad_duration",
        'Field "stop_grace_period" of service "web" is not a duration; write a number and a unit like "5s" or "1m30s", found "10 seconds"',
      ],
    ],
  },
];

Deno.test("parseConfig() refuses bad field values with positioned errors", async (t) => {
  await runInvalidCases(t, FIELDS_CASES);
});
