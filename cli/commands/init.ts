/** `mill init`: create a cluster whose first node is this machine. */

import {
  CLUSTER_RANGE_DEFAULT,
  clusterRangeProblem,
} from "../../config/cidr.ts";
import { hostRouteClash } from "../../node/network/host_routes.ts";
import { formatJoinToken } from "../../node/agent/join.ts";
import {
  initCluster,
  InitError,
  readCertificate,
} from "../../node/cluster_init/mod.ts";
import {
  type CommandSpec,
  flag,
  JSON_OPTION,
  type RunContext,
  stringOption,
} from "../command.ts";
import { EXIT } from "../exit_codes.ts";
import { contextPath } from "../_api.ts";
import { OptionError, parseList } from "./agent_options.ts";
import { agentCommand } from "./agent.ts";
import {
  type ApiEndpoint,
  formatHostPort,
  resolveApiEndpoint,
} from "./api_listen.ts";

/** The agent's options `mill init --start` passes on to the first primary. */
const START_OPTION_FLAGS = [
  "--listen",
  "--advertise",
  "--containerd-socket",
  "--runc-root",
  "--cgroup-parent",
  "--insecure-registry",
  "--heartbeat-timeout",
  "--heartbeat-interval",
  "--cpu",
  "--memory",
  "--network",
  "--netns-prefix",
  "--ingress",
  "--storage",
  "--do-region",
  "--do-api",
  "--do-by-id-dir",
  "--machine-id",
  "--log-file",
];
const START_OPTIONS = (agentCommand.options ?? []).filter((option) =>
  START_OPTION_FLAGS.includes(option.flags.split(" ")[0] ?? "")
);

export const initCommand: CommandSpec = {
  name: "init",
  summary: "create a new cluster with this machine as its first node",
  details:
    "Creates the cluster's identity in the data dir (cluster id, cluster key,\n" +
    "admin, join and RPC tokens, CA and API certificate) and saves a CLI context\n" +
    "(~/.mill/config.json) for it. With --start it then runs the first\n" +
    "primary in the foreground (as `mill agent`, whose options it takes);\n" +
    "without, it prints the `mill agent` command to start it with. The API\n" +
    "listens where the context points: the first --api-address (every\n" +
    "interface when it is a DNS name), else 127.0.0.1; --api-listen sets it.\n" +
    "The cloud provider drives persistent volumes (create, attach, migrate).",
  options: [
    {
      flags: "--provider <name>",
      description: "cloud provider for volumes: do or local",
      defaultValue: "local",
    },
    {
      flags: "--data-dir <path>",
      description: "where mill keeps its state",
      defaultValue: "/var/lib/mill",
    },
    {
      flags: "--name <name>",
      description: "this node's name (default: the host name)",
    },
    {
      flags: "--api-address <addresses>",
      description:
        "addresses (IPs, DNS names) the API is reached at, comma-separated",
    },
    {
      flags: "--api-port <port>",
      description: "the HTTPS API port (default 7443)",
    },
    {
      flags: "--api-listen <host:port>",
      description:
        "where the API listens (default: the first --api-address, else 127.0.0.1, on --api-port)",
    },
    {
      flags: "--cluster-range <cidr>",
      description:
        "private range each node gets a /24 of for its containers; must not overlap this machine's routes",
      defaultValue: CLUSTER_RANGE_DEFAULT,
    },
    {
      flags: "--context <name>",
      description: "the name of the CLI context to save",
      defaultValue: "default",
    },
    {
      flags: "--start",
      description: "run the first primary (the agent) in the foreground",
    },
    ...START_OPTIONS,
    JSON_OPTION,
  ],
  run: async (context) => {
    const json = flag(context, "json");
    const start = flag(context, "start");
    const dataDir = stringOption(context, "dataDir") ?? "/var/lib/mill";
    const name = stringOption(context, "name") ?? Deno.hostname();
    const fail = (error: OptionError | InitError) => {
      const code = error instanceof InitError ? error.code : "cli.usage";
      if (json) {
        context.output.line(JSON.stringify({ code, message: error.message }));
      } else context.output.error(`error[${code}]: ${error.message}`);
      return error instanceof OptionError ? EXIT.usage : EXIT.failure;
    };
    try {
      const api = resolveApiEndpoint(
        parseList(stringOption(context, "apiAddress")),
        stringOption(context, "apiPort"),
        stringOption(context, "apiListen"),
      );
      // The agent would fail to listen after the context is saved.
      if (start) await checkCanListen(api);
      const clusterRange = stringOption(context, "clusterRange") ??
        CLUSTER_RANGE_DEFAULT;
      await checkClusterRange(clusterRange);
      const path = contextPath();
      const cluster = await initCluster({
        dataDir,
        nodeName: name,
        apiAddresses: api.addresses,
        apiPort: api.port,
        clusterRange,
        contextPath: path,
        contextName: stringOption(context, "context") ?? "default",
        nowMs: Date.now(),
      });
      const ca = await readCertificate(cluster.caCertPem);
      const joinToken = formatJoinToken(
        cluster.joinToken,
        ca.fingerprintSha256,
      );
      const primaryToken = formatJoinToken(
        cluster.adminToken,
        ca.fingerprintSha256,
      );
      const apiListen = formatHostPort(api.listen);
      const startCommandLine =
        `mill agent --data-dir ${dataDir} --name ${name} --role primary,secondary` +
        (apiListen === `127.0.0.1:${api.port}`
          ? ""
          : ` --api-listen ${apiListen}`);
      if (json) {
        context.output.line(JSON.stringify({
          clusterId: cluster.clusterId,
          dataDir,
          contextPath: path,
          apiUrl: api.url,
          apiListen,
          start: startCommandLine,
          joinToken,
          primaryJoinToken: primaryToken,
        }));
      } else {
        context.output.line(
          `cluster ${cluster.clusterId} created in ${dataDir}`,
        );
        context.output.line(
          `CLI context saved to ${path} (API ${api.url}, listening on ${apiListen})`,
        );
        if (start) {
          context.output.line(`starting the first primary (Ctrl-C stops it)`);
        } else {
          context.output.line(`start the first primary with:`);
          context.output.line(`  ${startCommandLine}`);
        }
        context.output.line(`add a node (keep the token secret):`);
        context.output.line(
          `  mill join <this node's peer address, e.g. 10.0.0.1:7946> --token ${joinToken}`,
        );
        context.output.line(
          `add a primary (this token is the admin token: it holds the whole cluster):`,
        );
        context.output.line(
          `  mill join <peer address> --role primary,secondary --listen <host:port> --token ${primaryToken}`,
        );
      }
      if (!start) return EXIT.ok;
      return await startFirstPrimary(context, dataDir, name, apiListen);
    } catch (error) {
      if (error instanceof OptionError || error instanceof InitError) {
        return fail(error);
      }
      throw error;
    }
  },
};

/** Refuses a cluster range that is malformed or overlaps this machine's routes. */
async function checkClusterRange(range: string): Promise<void> {
  const problem = clusterRangeProblem(range) ?? await hostRouteClash(range);
  if (problem !== null) {
    throw new OptionError(`Invalid --cluster-range: ${problem}`);
  }
}

/** Refuses an API address this machine cannot listen on, before anything is written. */
async function checkCanListen(api: ApiEndpoint): Promise<void> {
  let listener: Deno.Listener;
  try {
    listener = Deno.listen(api.listen);
  } catch (error) {
    throw new OptionError(
      `The API cannot listen on ${formatHostPort(api.listen)} (${
        (error as Error).message
      }); the CLI context would point at ${api.url} with nothing there. ` +
        `Give --api-address an address of this machine, or --api-listen one`,
    );
  }
  listener.close();
  // Closing frees the port for the agent at once.
  await Promise.resolve();
}

/** `mill init --start`: the new cluster's first primary, as `mill agent` runs it. */
function startFirstPrimary(
  context: RunContext,
  dataDir: string,
  name: string,
  apiListen: string,
): Promise<number> {
  const options = {
    ...context.options,
    role: "primary,secondary",
    dataDir,
    name,
    apiListen,
  };
  return agentCommand.run!({ ...context, options });
}
