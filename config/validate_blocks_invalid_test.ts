/** Blocks and rules across them: names, routes, volumes, tasks: each input is refused with exactly these diagnostics. */

import {
  type InvalidCase,
  runInvalidCases,
  service,
  task,
} from "./_invalid_cases.ts";

export const BLOCKS_CASES: readonly InvalidCase[] = [
  {
    name: "a constraint block with a label is refused",
    source: service(
      `  constraint "zone" { attribute = "node.name"; value = "a" }`,
    ),
    errors: [
      [
        3,
        14,
        "config.extra_label",
        'Block "constraint" takes no label, found "zone"; write constraint { … }',
      ],
    ],
  },
  {
    name: "an unknown top-level block is reported with a did-you-mean",
    source: `servce "web" {\n  image = "x"\n}\n`,
    errors: [
      [
        1,
        1,
        "config.unknown_block",
        'Unknown block "servce" at the top level; did you mean "service"?',
      ],
    ],
  },
  {
    name: "a top-level attribute is rejected",
    source: `image = "x"\n`,
    errors: [
      [
        1,
        1,
        "config.unknown_field",
        'Unknown field "image" at the top level; known are service, task',
      ],
    ],
  },
  {
    name: "a health timeout longer than the interval is refused",
    source: service(
      `  port = 80\n  health {\n    interval = "5s"\n    timeout  = "10s"\n  }`,
    ),
    errors: [
      [
        6,
        16,
        "config.out_of_range",
        'Field "timeout" of health of service "web" must not exceed the interval ("5s"), found "10s"; shorten the timeout or lengthen the interval',
      ],
    ],
  },
  {
    name: "a health path without a leading slash is refused",
    source: service(`  port = 80\n  health { path = "health" }`),
    errors: [
      [
        4,
        19,
        "config.bad_value",
        'Field "path" of health of service "web" must start with "/", found "health"',
      ],
    ],
  },
  {
    name: "an unknown health field gets a did-you-mean",
    source: service(`  port = 80\n  health { intervall = "5s" }`),
    errors: [
      [
        4,
        12,
        "config.unknown_field",
        'Unknown field "intervall" in health of service "web"; did you mean "interval"?',
      ],
    ],
  },
  {
    name: "a health block needs a port",
    source: service(`  health { path = "/health" }`),
    errors: [
      [
        3,
        3,
        "config.needs_port",
        'Service "web" has a health block but no port; add port = 8080 (the port the container listens on)',
      ],
    ],
  },
  {
    name: "a route needs a port",
    source: service(`  route "app.example.com" { path = "/" }`),
    errors: [
      [
        3,
        3,
        "config.needs_port",
        'Service "web" has a route block but no port; add port = 8080 (the port the container listens on)',
      ],
    ],
  },
  {
    name: "a route needs a host",
    source: service(`  port = 80\n  route { path = "/" }`),
    errors: [
      [
        4,
        3,
        "config.missing_label",
        'Block "route" needs a host; write route "app.example.com" { … }',
      ],
    ],
  },
  {
    name: "a route host with a scheme is refused",
    source: service(`  port = 80\n  route "http://app.example.com" {}`),
    errors: [
      [
        4,
        9,
        "config.bad_name",
        'Route host "http://app.example.com" is not valid; use a DNS name like "app.example.com" (letters, digits, "-" and "."; no port or scheme)',
      ],
    ],
  },
  {
    name: "a route path without a leading slash is refused",
    source: service(`  port = 80\n  route "app.example.com" { path = "api" }`),
    errors: [
      [
        4,
        36,
        "config.bad_value",
        'Field "path" of route "app.example.com" of service "web" must be a path prefix starting with "/" without spaces, "?" or "#", found "api"',
      ],
    ],
  },
  {
    name: "two services claiming one route host and path are refused",
    source:
      `service "a" {\n  image = "a:v1"; port = 80\n  route "app.example.com" { path = "/" }\n}\n\nservice "b" {\n  image = "b:v1"; port = 80\n  route "APP.example.com" {}\n}\n`,
    errors: [
      [
        8,
        9,
        "config.duplicate_route",
        'Route "app.example.com" path "/" of service "b" is already claimed by service "a" (at 3:9); change the host or the path',
      ],
    ],
  },
  {
    name: "two services with one name are refused",
    source:
      `service "web" { image = "a:v1" }\nservice "web" { image = "b:v1" }\n`,
    errors: [
      [
        2,
        9,
        "config.duplicate_name",
        'Service "web" is defined twice (first at 1:9); rename one',
      ],
    ],
  },
  {
    name: "a task with the name of a service is refused",
    source: `service "web" { image = "a:v1" }\ntask "web" { image = "b:v1" }\n`,
    errors: [
      [
        2,
        6,
        "config.duplicate_name",
        'Task "web" has the name of service "web" (at 1:9); services and tasks share one namespace, rename one',
      ],
    ],
  },
  {
    name: "one volume used by two services is refused",
    source:
      `service "a" {\n  image = "a:v1"\n  volume "data" { path = "/data"; size = "1Gi" }\n}\nservice "b" {\n  image = "b:v1"\n  volume "data" { path = "/data"; size = "1Gi" }\n}\n`,
    errors: [
      [
        7,
        10,
        "config.shared_volume",
        'Volume "data" of service "b" is already used by service "a" (at 3:10); a persistent volume belongs to one service, give this one another name',
      ],
    ],
  },
  {
    name: "a persistent volume on a replicated service is refused",
    source: service(
      `  replicas = 2\n  volume "data" {\n    path = "/data"\n    size = "10Gi"\n  }`,
    ),
    errors: [
      [
        4,
        10,
        "config.replicated_volume",
        'Persistent volume "data" of service "web" can attach to one node only, but the service has 2 replicas; set replicas = 1 or make the volume ephemeral = true',
      ],
    ],
  },
  {
    name: "a persistent volume needs a size",
    source: service(`  volume "data" { path = "/data" }`),
    errors: [
      [
        3,
        3,
        "config.missing_size",
        'Persistent volume "data" of service "web" needs a size; add size = "10Gi", or set ephemeral = true for scratch space',
      ],
    ],
  },
  {
    name: "a volume needs a path",
    source: service(`  volume "data" { size = "1G" }`),
    errors: [
      [
        3,
        3,
        "config.missing_field",
        'Volume "data" of service "web" is missing the required field "path"; add path = "/data" (where the container sees it)',
      ],
    ],
  },
  {
    name: "a relative volume path is refused",
    source: service(`  volume "data" { path = "data"; size = "1G" }`),
    errors: [
      [
        3,
        26,
        "config.bad_value",
        'Field "path" of volume "data" of service "web" must be an absolute path other than "/", found "data"',
      ],
    ],
  },
  {
    name: "an uppercase volume name is refused",
    source: service(`  volume "PG" { path = "/data"; size = "1G" }`),
    errors: [
      [
        3,
        10,
        "config.bad_name",
        'Volume name "PG" is not valid; use lowercase letters, digits, "-" and "_", at most 63 characters',
      ],
    ],
  },
  {
    name: "two volumes at one mount path are refused",
    source: service(
      `  volume "a" { path = "/data"; ephemeral = true }\n  volume "b" { path = "/data"; ephemeral = true }`,
    ),
    errors: [
      [
        4,
        10,
        "config.duplicate_mount",
        'Volumes "a" and "b" of service "web" are both mounted at "/data"; give each its own path',
      ],
    ],
  },
  {
    name: "a route on a task is refused",
    source: task(`  route "app.example.com" { path = "/" }`),
    errors: [
      [
        3,
        3,
        "config.route_on_task",
        "Tasks take no route: a task runs once and nothing routes traffic to it; remove the route block or make this a service",
      ],
    ],
  },
  {
    name: "a port on a task is refused",
    source: task(`  port = 80`),
    errors: [
      [
        3,
        3,
        "config.not_for_task",
        'Tasks take no "port": a task is not reachable by other services; remove it or make this a service',
      ],
    ],
  },
  {
    name: "a missing image is reported at the block",
    source: `service "web" {\n  port = 80\n}\n`,
    errors: [
      [
        1,
        1,
        "config.missing_field",
        'Service "web" is missing the required field "image"; add image = "registry.example.com/app:v1"',
      ],
    ],
  },
  {
    name: "a service name with uppercase and underscore is refused",
    source: `service "Web_1" { image = "a:v1" }\n`,
    errors: [
      [
        1,
        9,
        "config.bad_name",
        'Service name "Web_1" is not valid; use lowercase letters, digits and "-", starting and ending with a letter or digit, at most 63 characters',
      ],
    ],
  },
  {
    name: "a service needs a name",
    source: `service { image = "a:v1" }\n`,
    errors: [
      [
        1,
        1,
        "config.missing_label",
        'Block "service" needs a name; write service "name" { … }',
      ],
    ],
  },
  {
    name: "a constraint on an unknown attribute is refused",
    source: service(`  constraint { attribute = "zone"; value = "a" }`),
    errors: [
      [
        3,
        28,
        "config.bad_value",
        'Field "attribute" of constraint of service "web" must be "node.name" or "node.label.<key>", found "zone"',
      ],
    ],
  },
  {
    name: "an unknown constraint operator is refused",
    source: service(
      `  constraint { attribute = "node.name"; operator = "=~"; value = "a" }`,
    ),
    errors: [
      [
        3,
        52,
        "config.bad_value",
        'Field "operator" of constraint of service "web" must be one of "==", "!=", found "=~"; did you mean "=="?',
      ],
    ],
  },
  {
    name: "an env block with a label is refused",
    source: service(`  env "prod" { A = "1" }`),
    errors: [
      [
        3,
        7,
        "config.extra_label",
        'Block "env" of service "web" takes no label, found "prod"; write env { KEY = "value" }',
      ],
    ],
  },
  {
    name: "health written as a field is refused",
    source: service(`  health = "/health"`),
    errors: [
      [
        3,
        3,
        "config.wrong_type",
        '"health" in service "web" is a block, not a field; write health { … }',
      ],
    ],
  },
  {
    name: "image written as a block is refused",
    source: `service "web" {\n  image { name = "x" }\n}\n`,
    errors: [
      [
        2,
        3,
        "config.wrong_type",
        'Field "image" of service "web" is a field, not a block; write image = …',
      ],
    ],
  },
  {
    name: "two env blocks are refused",
    source: service(`  env { A = "1" }\n  env { B = "2" }`),
    errors: [
      [
        4,
        3,
        "config.duplicate_field",
        'Field "env" is set twice in service "web"; merge the two into one',
      ],
    ],
  },
  {
    name: "a task timeout below one second is refused",
    source: task(`  timeout = "10ms"`),
    errors: [
      [
        3,
        13,
        "config.out_of_range",
        'Field "timeout" of task "migrate" must be between "1s" and "24h", found "10ms"',
      ],
    ],
  },
];

Deno.test("parseConfig() refuses bad blocks and conflicts with positioned errors", async (t) => {
  await runInvalidCases(t, BLOCKS_CASES);
});
