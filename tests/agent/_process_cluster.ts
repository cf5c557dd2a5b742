/**
 * Three primaries on loopback as separate OS processes (`main.ts agent`),
 * each with its own data dir, peer and API ports and its own containerd,
 * so that a test can kill an agent with SIGKILL and watch the others
 * through the HTTPS API only. Node-1 is made by `initCluster` (what `mill
 * init` runs); node-2 and node-3 join as primaries with the admin token (`joinAsPrimary`,
 * what `mill join --role primary` runs) and then run `mill agent`.
 */
import { formatJoinToken } from "../../node/agent/join.ts";
import { joinAsPrimary } from "../../node/agent/join_primary.ts";
import {
  type ClusterIdentity,
  initCluster,
  readCertificate,
} from "../../node/cluster_init/mod.ts";
import {
  type ContainerdHandle,
  freePort,
  startContainerd,
  startTestBed,
  type TestBed,
} from "../containerd/testbed.ts";
import { killAllTasks, waitFor } from "./_bed.ts";

const ROOT = new URL("../../", import.meta.url).pathname;

export interface ProcessNode {
  readonly name: string;
  readonly dataDir: string;
  readonly apiPort: number;
  /** The peer port (Raft, node RPC), TLS with client certificates. */
  readonly peerPort: number;
  readonly containerd: ContainerdHandle;
  /** The agent process, null once killed. */
  child: Deno.ChildProcess | null;
  /** Spawns the agent again on the same data dir and ports. */
  start(): void;
  /** SIGKILL, as a crash: its containerd and containers keep running. */
  kill9(): Promise<void>;
  /** The node id from `node.json` (made on the agent's first start). */
  nodeId(): Promise<string>;
  logs(): Promise<string>;
}

export interface ProcessCluster {
  readonly bed: TestBed;
  readonly cluster: ClusterIdentity;
  readonly nodes: ProcessNode[];
  /** GET… on `node`'s API (a follower forwards to the leader), parsed JSON. */
  api(node: ProcessNode, path: string, init?: RequestInit): Promise<Response>;
  getJson<T>(node: ProcessNode, path: string): Promise<T | null>;
  stop(): Promise<void>;
}

export interface StatusView {
  leader: { id: string; name: string } | null;
  nodes: { total: number; ready: number; down: number };
  lastDeploy: { id: string; status: string; message: string } | null;
  services: { name: string; replicas: number; healthy: number; live: number }[];
}

export async function startProcessCluster(options: {
  readonly heartbeatTimeout: string;
  readonly heartbeatInterval: string;
}): Promise<ProcessCluster> {
  const bed = await startTestBed();
  const root = await Deno.makeTempDir({ prefix: "mill-kill9-" });
  const nodes: ProcessNode[] = [];
  const client = { current: null as Deno.HttpClient | null };
  const stop = async () => {
    for (const node of nodes) {
      if (node.child !== null) await node.kill9();
    }
    for (const node of nodes) {
      await killAllTasks(node.containerd.socketPath);
      if (node.containerd !== bed.containerd) await node.containerd.stop();
    }
    client.current?.close();
    await bed.stop();
    await Deno.remove(root, { recursive: true });
  };
  try {
    const apiPort = freePort();
    const cluster = await initCluster({
      dataDir: `${root}/node-1`,
      nodeName: "node-1",
      apiAddresses: ["127.0.0.1"],
      apiPort,
      contextPath: `${root}/cli/config.json`,
      nowMs: Date.now(),
    });
    client.current = Deno.createHttpClient({ caCerts: [cluster.caCertPem] });
    const makeNode = (
      name: string,
      containerd: ContainerdHandle,
      peerPort: number,
      apiPort: number,
    ): ProcessNode => {
      const dataDir = `${root}/${name}`;
      const logPath = `${root}/${name}.log`;
      const node: ProcessNode = {
        name,
        dataDir,
        apiPort,
        peerPort,
        containerd,
        child: null,
        start() {
          node.child = new Deno.Command(Deno.execPath(), {
            args: [
              "run",
              "-A",
              "--quiet",
              `${ROOT}main.ts`,
              "agent",
              // Several agents share this namespace: host networking, and
              // no ingress (they would all want its port 80).
              "--network",
              "host",
              "--ingress",
              "off",
              "--data-dir",
              dataDir,
              "--name",
              name,
              "--listen",
              `127.0.0.1:${peerPort}`,
              "--api-listen",
              `127.0.0.1:${apiPort}`,
              "--containerd-socket",
              containerd.socketPath,
              "--runc-root",
              containerd.runcRoot,
              "--cgroup-parent",
              containerd.cgroupParent,
              "--insecure-registry",
              bed.registry.host,
              "--heartbeat-timeout",
              options.heartbeatTimeout,
              "--heartbeat-interval",
              options.heartbeatInterval,
              "--cpu",
              "2",
              "--memory",
              "2G",
              "--log-file",
              logPath,
            ],
            cwd: ROOT,
            stdin: "null",
            stdout: "null",
            stderr: "null",
          }).spawn();
        },
        async kill9() {
          const child = node.child;
          if (child === null) return;
          node.child = null;
          try {
            child.kill("SIGKILL");
          } catch {
            // Exited already.
          }
          await child.status;
        },
        async nodeId() {
          const text = await Deno.readTextFile(`${dataDir}/node.json`);
          return (JSON.parse(text) as { nodeId: string }).nodeId;
        },
        logs: () => Deno.readTextFile(logPath).catch(() => ""),
      };
      nodes.push(node);
      return node;
    };
    const processCluster: ProcessCluster = {
      bed,
      cluster,
      nodes,
      api: (node, path, init = {}) =>
        fetch(`https://127.0.0.1:${node.apiPort}${path}`, {
          ...init,
          client: client.current!,
          headers: {
            authorization: `Bearer ${cluster.adminToken}`,
            ...(init.headers as Record<string, string> | undefined),
          },
        }),
      async getJson<T>(node: ProcessNode, path: string) {
        try {
          const response = await processCluster.api(node, path);
          if (!response.ok) {
            await response.body?.cancel();
            return null;
          }
          return await response.json() as T;
        } catch {
          return null; // not listening yet, or killed
        }
      },
      stop,
    };
    const firstPeerPort = freePort();
    const first = makeNode("node-1", bed.containerd, firstPeerPort, apiPort);
    first.start();
    await waitFor("node-1 leading and ready", async () => {
      const status = await processCluster.getJson<StatusView>(
        first,
        "/v1/status",
      );
      return status?.leader?.name === "node-1" && status.nodes.ready === 1;
    });
    const fingerprint = (await readCertificate(cluster.caCertPem))
      .fingerprintSha256;
    const token = formatJoinToken(cluster.adminToken, fingerprint);
    for (const name of ["node-2", "node-3"]) {
      const containerd = await startContainerd();
      const peerPort = freePort();
      const node = makeNode(name, containerd, peerPort, freePort());
      await Deno.mkdir(node.dataDir, { mode: 0o700 });
      await joinAsPrimary(node.dataDir, `127.0.0.1:${firstPeerPort}`, token, {
        name,
        peer: `127.0.0.1:${peerPort}`,
        apiAddresses: ["127.0.0.1"],
      });
      node.start();
      await waitFor(
        `${name} a voter`,
        async () => (await node.logs()).includes("promoted to voter"),
      );
      await waitFor(`${name} ready`, async () => {
        const status = await processCluster.getJson<StatusView>(
          first,
          "/v1/status",
        );
        return status?.nodes.ready === nodes.length;
      });
    }
    return processCluster;
  } catch (error) {
    for (const node of nodes) {
      console.error(`--- ${node.name} log:\n${await node.logs()}`);
    }
    await stop();
    throw error;
  }
}
