/** `mill join`: add this machine to an existing cluster. */

import { exists } from "../../node/cluster_init/mod.ts";
import { advertiseHostOf } from "../../node/agent/peer_server.ts";
import { joinAsPrimary } from "../../node/agent/join_primary.ts";
import {
  joinAsSecondary,
  loadJoinedIdentity,
  parseJoinToken,
} from "../../node/agent/join.ts";
import { type CommandSpec, stringOption } from "../command.ts";
import { EXIT } from "../exit_codes.ts";
import {
  INGRESS_OPTION,
  NETNS_PREFIX_OPTION,
  NETWORK_OPTION,
  OptionError,
  parseDurationOption,
  parseHostPort,
  parseIngressOption,
  parseList,
  parseNetworkOption,
  parseRoles,
  parseStorageOptions,
  STORAGE_OPTIONS,
} from "./agent_options.ts";
import { startAgent } from "../../node/agent/mod.ts";
import { agentLog, untilSignal } from "./agent_run.ts";
import { reportJoinFailure } from "./join_errors.ts";

export const joinCommand: CommandSpec = {
  name: "join",
  summary: "join this machine to an existing cluster",
  details:
    "Fetches the cluster's CA from ADDRESS (a primary's peer address, host:port),\n" +
    "checks it against the fingerprint in the join token `mill init` printed,\n" +
    "gets the node's credentials over HTTPS, keeps them in the data dir, then\n" +
    "runs the agent in the foreground. A primary joins Raft as a learner and is\n" +
    "promoted to voter once it has caught up.",
  arguments: [{
    name: "address",
    description: "peer address (host:port) of a primary of the cluster",
    required: true,
  }],
  options: [
    {
      flags: "--token <token>",
      description:
        "the join token printed by mill init (<token>.<CA fingerprint>); a primary takes the admin token in the same form",
      required: true,
    },
    {
      flags: "--role <roles>",
      description: "primary, secondary or both, comma-separated",
      defaultValue: "secondary",
    },
    {
      flags: "--api-listen <host:port>",
      description: "the HTTPS API of a primary",
    },
    {
      flags: "--api-address <addresses>",
      description:
        "more names for a primary's API certificate, comma-separated",
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
      description: "this node's peer address (node RPC)",
      defaultValue: "127.0.0.1:7946",
    },
    {
      flags: "--advertise <host>",
      description: "the host the cluster reaches this node on",
    },
    {
      flags: "--containerd-socket <path>",
      description: "containerd's socket",
      defaultValue: "/run/containerd/containerd.sock",
    },
    {
      flags: "--insecure-registry <hosts>",
      description:
        "registries reached over plain HTTP, comma-separated host:port",
    },
    {
      flags: "--heartbeat-timeout <duration>",
      description:
        "missed-heartbeat time before a node is declared down, while this node leads (default 15s)",
    },
    { flags: "--heartbeat-interval <duration>", description: "default 2s" },
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
    const address = context.args[0] ?? "";
    const dataDir = option("dataDir") ?? "/var/lib/mill";
    const name = option("name") ?? Deno.hostname();
    let listen;
    let roles: ("primary" | "secondary")[];
    let apiListen: { hostname: string; port: number } | undefined;
    let interval: number | undefined;
    let timeout: number | undefined;
    let network: ReturnType<typeof parseNetworkOption>;
    let ingress: ReturnType<typeof parseIngressOption>;
    let storage: ReturnType<typeof parseStorageOptions>;
    try {
      storage = parseStorageOptions(option);
      network = parseNetworkOption(option("network"), option("netnsPrefix"));
      ingress = parseIngressOption(option("ingress"));
      roles = parseRoles(option("role") ?? "secondary");
      // A bad token is refused before anything is written.
      parseJoinToken(option("token") ?? "");
      parseHostPort(address, "ADDRESS");
      listen = parseHostPort(option("listen") ?? "", "--listen");
      if (roles.includes("primary") && listen.port === 0) {
        throw new OptionError("a primary needs a fixed --listen port");
      }
      const api = option("apiListen");
      if (api !== undefined) apiListen = parseHostPort(api, "--api-listen");
      const silence = option("heartbeatTimeout");
      if (silence !== undefined) {
        timeout = parseDurationOption(silence, "--heartbeat-timeout");
      }
      const heartbeat = option("heartbeatInterval");
      if (heartbeat !== undefined) {
        interval = parseDurationOption(heartbeat, "--heartbeat-interval");
      }
    } catch (error) {
      return reportJoinFailure(context.output, error);
    }
    try {
      const advertiseHost = advertiseHostOf({
        listen,
        ...(option("advertise") === undefined
          ? {}
          : { advertiseHost: option("advertise")! }),
      });
      if (roles.includes("primary")) {
        if (!await exists(`${dataDir}/cluster.json`)) {
          const clusterId = await joinAsPrimary(
            dataDir,
            address,
            option("token") ?? "",
            {
              name,
              peer: `${advertiseHost}:${listen.port}`,
              apiAddresses: [advertiseHost, ...parseList(option("apiAddress"))],
            },
          );
          context.output.error(`joined cluster ${clusterId} as a primary`);
        }
      } else if (await loadJoinedIdentity(dataDir) === null) {
        const clusterId = await joinAsSecondary(
          dataDir,
          address,
          option("token") ?? "",
          { name, hosts: [advertiseHost] },
        );
        context.output.error(`joined cluster ${clusterId}`);
      }
    } catch (error) {
      return reportJoinFailure(context.output, error);
    }
    const advertise = option("advertise");
    let log;
    try {
      log = await agentLog(context.output, option("logFile"));
    } catch (error) {
      return reportJoinFailure(context.output, error);
    }
    try {
      // Listening before the agent starts: a SIGTERM during its start stops
      // it cleanly once started, never kills the process half-way.
      const stopSignal = untilSignal();
      const agent = await startAgent({
        dataDir,
        roles,
        name,
        peer: {
          listen,
          ...(advertise === undefined ? {} : { advertiseHost: advertise }),
        },
        ...(apiListen === undefined ? {} : { api: { listen: apiListen } }),
        heartbeat: {
          ...(interval === undefined ? {} : { intervalMs: interval }),
          ...(timeout === undefined ? {} : { timeoutMs: timeout }),
        },
        ...network,
        ...ingress,
        ...storage,
        containerd: {
          socketPath: option("containerdSocket") ??
            "/run/containerd/containerd.sock",
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
        context.output.error(`error[join.agent_failed]: ${message}`);
      }
      return EXIT.failure;
    } finally {
      log.close();
    }
  },
};
