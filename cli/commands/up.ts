/** `mill up`: a one-node cluster on this machine, ready to deploy to. */

import { parseConfig } from "../../config/mod.ts";
import { startPrivateContainerd } from "../../node/agent/private_containerd.ts";
import {
  apiUrl,
  type ClusterIdentity,
  initCluster,
  loadClusterIdentity,
  saveCliContext,
} from "../../node/cluster_init/mod.ts";
import { type CommandSpec, flag, stringOption } from "../command.ts";
import { EXIT } from "../exit_codes.ts";
import { readConfigFile } from "../_files.ts";
import { renderDiagnostics } from "../render.ts";
import type { Output } from "../output.ts";
import { ApiClient, cliFailure, contextPath } from "../_api.ts";
import { OptionError, parseList } from "./agent_options.ts";
import { type Agent, startAgent } from "../../node/agent/mod.ts";
import { agentLog, untilSignal } from "./agent_run.ts";
import { deployConfigText } from "./deploy.ts";
import { YES_OPTION } from "./_confirm.ts";
import { cleanUp } from "./up_clean.ts";

/** How long `mill up` waits for its node to lead and register. */
export const UP_READY_TIMEOUT_MS = 30_000;
/** The context `mill up` saves and makes current. */
export const UP_CONTEXT_NAME = "local";

function defaultDataDir(): string {
  const home = Deno.env.get("HOME");
  return home === undefined || home === ""
    ? "/var/lib/mill/local"
    : `${home}/.mill/local`;
}

export const upCommand: CommandSpec = {
  name: "up",
  summary: "run a one-node cluster on this machine (and deploy a config to it)",
  details:
    "The embedded default. Creates the cluster on first use (data dir\n" +
    '~/.mill/local, CLI context "local"), starts a private containerd there\n' +
    "unless --containerd-socket names one, and runs the agent (primary and\n" +
    "secondary) in the foreground until Ctrl-C; containers keep running and the\n" +
    "next `mill up` re-attaches to them. With -f it deploys the file once the\n" +
    "node is ready. If this cluster is already up, `mill up -f` only deploys.\n" +
    "With --clean it starts nothing: once this cluster's agent is stopped, it\n" +
    "kills its containers, their shims and its private containerd, and removes\n" +
    "the data dir (cluster state, secrets, images), so that the next `mill up`\n" +
    "creates a new cluster. It asks first on a terminal; --yes skips that and is\n" +
    "needed without one. Its containers share this machine's network (as\n" +
    "`mill agent --network host`): trying mill changes no bridge, firewall or\n" +
    "WireGuard interface here; a cluster's nodes default to bridge networking.",
  options: [
    {
      flags: "-f, --file <path>",
      description: "a .mill config file to deploy",
    },
    { flags: "--data-dir <path>", description: "default ~/.mill/local" },
    {
      flags: "--api-port <port>",
      description: "the HTTPS API port",
      defaultValue: "7443",
    },
    {
      flags: "--peer-port <port>",
      description: "the peer (Raft + RPC) port",
      defaultValue: "7946",
    },
    {
      flags: "--containerd-socket <path>",
      description: "use this containerd instead of a private one",
    },
    {
      flags: "--insecure-registry <hosts>",
      description:
        "registries reached over plain HTTP, comma-separated host:port",
    },
    {
      flags: "--log-file <path>",
      description: "the agent's log (default: stderr)",
    },
    {
      flags: "--clean",
      description:
        "stop this cluster's containers, shims and containerd and remove its data dir",
    },
    YES_OPTION,
  ],
  run: async (context) => {
    const output = context.output;
    const option = (name: string) => stringOption(context, name);
    const dataDir = option("dataDir") ?? defaultDataDir();
    const apiPort = Number(option("apiPort") ?? "7443");
    const peerPort = Number(option("peerPort") ?? "7946");
    const file = option("file");
    if (flag(context, "clean")) {
      return await cleanUp({
        dataDir,
        file,
        socket: option("containerdSocket"),
        yes: flag(context, "yes"),
        output,
      });
    }
    let configText: string | null = null;
    if (file !== undefined) {
      const read = await readConfigFile(file, output);
      if (!read.ok) return read.code;
      const parsed = parseConfig(read.text, file);
      if (!parsed.ok) {
        for (
          const line of renderDiagnostics(
            parsed.diagnostics,
            read.text,
            output.colorErr,
          )
        ) {
          output.error(line);
        }
        return EXIT.usage;
      }
      configText = read.text;
    }
    try {
      for (
        const [name, port] of [["--api-port", apiPort], [
          "--peer-port",
          peerPort,
        ]] as const
      ) {
        if (!Number.isInteger(port) || port < 1 || port > 65535) {
          throw new OptionError(`${name} must be a port number`);
        }
      }
      const cluster = await ensureCluster(dataDir, apiPort, output);
      const deploy = async () =>
        configText === null || file === undefined
          ? EXIT.ok
          : await withClient((client) =>
            deployConfigText(client, configText!, file, output, false)
          );
      if (await apiAnswers()) {
        output.line(`mill is already up (cluster ${cluster.clusterId})`);
        return await deploy();
      }
      return await runUp({
        dataDir,
        cluster,
        peerPort,
        socket: option("containerdSocket"),
        insecure: parseList(option("insecureRegistry")),
        logFile: option("logFile"),
        output,
        afterReady: deploy,
        stayUp: true,
      });
    } catch (error) {
      if (error instanceof OptionError) {
        output.error(`error: ${error.message}`);
        return EXIT.usage;
      }
      return cliFailure(error, output, false);
    }
  },
};

async function withClient(
  work: (client: ApiClient) => Promise<number>,
): Promise<number> {
  const client = await ApiClient.fromContextFile();
  try {
    return await work(client);
  } finally {
    client.close();
  }
}

async function apiAnswers(): Promise<boolean> {
  try {
    await withClient(async (client) => {
      await client.json("GET", "/v1/status");
      return EXIT.ok;
    });
    return true;
  } catch {
    return false;
  }
}

/** Inits the cluster on first use; (re)saves the `local` context and makes it current. */
async function ensureCluster(
  dataDir: string,
  apiPort: number,
  output: Output,
): Promise<ClusterIdentity> {
  let exists = true;
  try {
    await Deno.stat(`${dataDir}/cluster.json`);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    exists = false;
  }
  const path = contextPath();
  if (!exists) {
    const cluster = await initCluster({
      dataDir,
      nodeName: Deno.hostname(),
      apiAddresses: ["127.0.0.1"],
      apiPort,
      contextPath: path,
      contextName: UP_CONTEXT_NAME,
      nowMs: Date.now(),
    });
    output.line(`created cluster ${cluster.clusterId} in ${dataDir}`);
    return cluster;
  }
  const cluster = await loadClusterIdentity(dataDir);
  await saveCliContext(path, UP_CONTEXT_NAME, {
    apiUrl: apiUrl("127.0.0.1", cluster.apiPort),
    clusterId: cluster.clusterId,
    caCertPem: cluster.caCertPem,
    token: cluster.adminToken,
  });
  return cluster;
}

interface UpRun {
  readonly dataDir: string;
  readonly cluster: ClusterIdentity;
  readonly peerPort: number;
  readonly socket: string | undefined;
  readonly insecure: string[];
  readonly logFile: string | undefined;
  readonly output: Output;
  readonly afterReady: () => Promise<number>;
  readonly stayUp: boolean;
}

async function runUp(run: UpRun): Promise<number> {
  const containerd = run.socket === undefined
    ? await startPrivateContainerd(`${run.dataDir}/containerd`)
    : null;
  const log = await agentLog(run.output, run.logFile);
  let agent: Agent | null = null;
  try {
    agent = await startAgent({
      dataDir: run.dataDir,
      roles: ["primary", "secondary"],
      name: Deno.hostname(),
      peer: { listen: { hostname: "127.0.0.1", port: run.peerPort } },
      api: { listen: { hostname: "127.0.0.1", port: run.cluster.apiPort } },
      containerd: {
        socketPath: containerd?.socketPath ?? run.socket ?? "",
        ...(containerd === null ? {} : { runcRoot: containerd.runcRoot }),
        insecureRegistries: run.insecure,
      },
      log: log.log,
    });
    await waitReady(agent);
    run.output.line(
      `mill is up: one node, API ${agent.apiUrl}, data in ${run.dataDir}`,
    );
    const code = await run.afterReady();
    if (!run.stayUp) return code;
    run.output.line(
      "press Ctrl-C to stop (containers keep running; the next `mill up` re-attaches)",
    );
    await untilSignal();
    return code;
  } finally {
    await agent?.stop();
    await containerd?.stop();
    log.close();
  }
}

async function waitReady(agent: Agent): Promise<void> {
  const deadline = Date.now() + UP_READY_TIMEOUT_MS;
  // Bounded by the deadline: one leader election and one heartbeat.
  while (Date.now() < deadline) {
    const node = agent.state().nodes.get(agent.identity.nodeId);
    if (agent.leader?.isLeader === true && node?.status === "ready") {
      await agent.leader.recovered;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(
    `the node did not become ready within ${UP_READY_TIMEOUT_MS} ms`,
  );
}
