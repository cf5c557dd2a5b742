/** `mill agent`: the long-running node process. */

import { type CommandSpec, stringOption } from "../command.ts";
import { EXIT } from "../exit_codes.ts";
import {
  INGRESS_OPTION,
  NETNS_PREFIX_OPTION,
  NETWORK_OPTION,
  OptionError,
  parseCpuOption,
  parseDurationOption,
  parseHostPort,
  parseIngressOption,
  parseList,
  parseNetworkOption,
  parseRoles,
  parseSizeOption,
  parseStorageOptions,
  STORAGE_OPTIONS,
} from "./agent_options.ts";
import { startAgent } from "../../node/agent/mod.ts";
import { agentLog, untilSignal } from "./agent_run.ts";

export const agentCommand: CommandSpec = {
  name: "agent",
  summary: "run the mill agent on this node",
  details:
    "The node process: as primary a Raft voter serving the API, scheduler and\n" +
    "deploy coordinator; as secondary it runs containers through containerd.\n" +
    "The data dir must hold a cluster made by `mill init`. Stops on SIGINT or\n" +
    "SIGTERM; containers keep running and are re-attached on the next start.",
  options: [
    {
      flags: "--role <roles>",
      description: "primary, secondary or both, comma-separated",
      defaultValue: "primary,secondary",
    },
    {
      flags: "--data-dir <path>",
      description: "where mill keeps its state",
      defaultValue: "/var/lib/mill",
    },
    {
      flags: "--name <name>",
      description: "node name (default: the host name)",
    },
    {
      flags: "--listen <host:port>",
      description:
        "peer address: Raft and node RPC (plain HTTP, the mesh address)",
      defaultValue: "127.0.0.1:7946",
    },
    {
      flags: "--advertise <host>",
      description:
        "the host other nodes reach this one on (default: the --listen host)",
    },
    {
      flags: "--api-listen <host:port>",
      description:
        "the HTTPS API (default: 127.0.0.1 and the port chosen at init)",
    },
    {
      flags: "--containerd-socket <path>",
      description: "containerd's socket (secondaries)",
      defaultValue: "/run/containerd/containerd.sock",
    },
    {
      flags: "--runc-root <path>",
      description:
        "runc state root of mill's containers (a private containerd's)",
    },
    {
      flags: "--cgroup-parent <path>",
      description: "cgroup parent of mill's containers",
      defaultValue: "/mill",
    },
    {
      flags: "--insecure-registry <hosts>",
      description:
        "registries reached over plain HTTP, comma-separated host:port",
    },
    {
      flags: "--heartbeat-timeout <duration>",
      description: "missed-heartbeat time before a node is declared down",
      defaultValue: "15s",
    },
    { flags: "--heartbeat-interval <duration>", description: "default 2s" },
    {
      flags: "--cpu <cores>",
      description: "cores offered (default: the machine's)",
    },
    {
      flags: "--memory <size>",
      description: "memory offered (default: the machine's)",
    },
    NETWORK_OPTION,
    NETNS_PREFIX_OPTION,
    INGRESS_OPTION,
    ...STORAGE_OPTIONS,
    {
      flags: "--log-file <path>",
      description: "append the log here instead of stderr",
    },
  ],
  run: async (context) => {
    const option = (name: string) => stringOption(context, name);
    let parsed;
    try {
      const cpu = option("cpu");
      const memory = option("memory");
      const apiListen = option("apiListen");
      const advertise = option("advertise");
      const interval = option("heartbeatInterval");
      parsed = {
        roles: parseRoles(option("role") ?? "primary,secondary"),
        peer: {
          listen: parseHostPort(option("listen") ?? "", "--listen"),
          ...(advertise === undefined ? {} : { advertiseHost: advertise }),
        },
        heartbeat: {
          timeoutMs: parseDurationOption(
            option("heartbeatTimeout") ?? "15s",
            "--heartbeat-timeout",
          ),
          ...(interval === undefined ? {} : {
            intervalMs: parseDurationOption(interval, "--heartbeat-interval"),
          }),
        },
        resources: {
          ...(cpu === undefined ? {} : { cpuMillis: parseCpuOption(cpu) }),
          ...(memory === undefined
            ? {}
            : { memoryBytes: parseSizeOption(memory, "--memory") }),
        },
        ...(apiListen === undefined
          ? {}
          : { api: { listen: parseHostPort(apiListen, "--api-listen") } }),
        ...parseNetworkOption(option("network"), option("netnsPrefix")),
        ...parseIngressOption(option("ingress")),
        ...parseStorageOptions(option),
      };
    } catch (error) {
      if (!(error instanceof OptionError)) throw error;
      context.output.error(`error: ${error.message}`);
      return EXIT.usage;
    }
    const log = await agentLog(context.output, option("logFile"));
    try {
      const runcRoot = option("runcRoot");
      // Listening before the agent starts: a SIGTERM during its start stops
      // it cleanly once started, never kills the process half-way.
      const stopSignal = untilSignal();
      const agent = await startAgent({
        ...parsed,
        dataDir: option("dataDir") ?? "/var/lib/mill",
        name: option("name") ?? Deno.hostname(),
        containerd: {
          socketPath: option("containerdSocket") ??
            "/run/containerd/containerd.sock",
          ...(runcRoot === undefined ? {} : { runcRoot }),
          cgroupParent: option("cgroupParent") ?? "/mill",
          insecureRegistries: parseList(option("insecureRegistry")),
        },
        log: log.log,
      });
      const signal = await stopSignal;
      log.log("info", `${signal}: stopping`);
      await agent.stop();
      return EXIT.ok;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      log.log("error", `agent failed: ${message}`);
      if (option("logFile") !== undefined) {
        context.output.error(`error[agent.failed]: ${message}`);
      }
      return EXIT.failure;
    } finally {
      log.close();
    }
  },
};
