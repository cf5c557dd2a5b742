/**
 * A key-value server over `RaftNode`, run as its own OS process by the
 * process tests and the benchmark. One HTTP port serves both Raft traffic
 * and the client API:
 *
 *   POST /kv/put      {"key","value"}  → 200 {"index","count"} once applied;
 *                                        421 {"code","leader"} when not leader
 *   GET  /kv/read     ?key=            → 200 {"values"} after a ReadIndex barrier
 *   GET  /kv/history                   → 200 {"applied","history":[{index,key,value}]}
 *   GET  /status                       → 200 the node's status
 *
 * Usage: kv_server.ts --id n1 --port 7001 --data /tmp/n1
 *          --peers n1=http://127.0.0.1:7001,n2=…,n3=… [--tick-ms 100]
 *          [--election-ticks 5] [--snapshot-every 10000]
 */
import { RaftError, RaftNode } from "../../raft/node.ts";
import { encodeKvWrite, KvStateMachine } from "./kv_fsm.ts";
import { parsePeerList } from "./_peers.ts";

function parseArgs(args: string[]): Map<string, string> {
  const options = new Map<string, string>();
  for (let i = 0; i < args.length; i += 2) {
    const name = args[i];
    const value = args[i + 1];
    if (name === undefined || !name.startsWith("--") || value === undefined) {
      throw new Error(
        `Bad arguments near "${name}"; expected --name value pairs`,
      );
    }
    options.set(name.slice(2), value);
  }
  return options;
}

function required(options: Map<string, string>, name: string): string {
  const value = options.get(name);
  if (value === undefined) throw new Error(`Missing --${name}`);
  return value;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function raftErrorResponse(err: unknown): Response {
  if (err instanceof RaftError) {
    const status = err.code === "raft.not_leader" ? 421 : 503;
    return json(status, {
      code: err.code,
      message: err.message,
      leader: err.leader,
    });
  }
  throw err;
}

async function main(): Promise<void> {
  const options = parseArgs(Deno.args);
  const id = required(options, "id");
  const port = Number(required(options, "port"));
  const peers = parsePeerList(required(options, "peers"));
  const fsm = new KvStateMachine();
  const node = await RaftNode.start({
    id,
    dataDir: required(options, "data"),
    peers,
    initialMembership: { voters: [...peers.keys()], learners: [] },
    stateMachine: fsm,
    tickMs: Number(options.get("tick-ms") ?? 100),
    electionTicks: Number(options.get("election-ticks") ?? 5),
    snapshotEveryEntries: Number(options.get("snapshot-every") ?? 10_000),
    onFatal: (err) => {
      console.error(`kv_server ${id}: fatal`, err);
      Deno.exit(1);
    },
  });
  Deno.serve(
    { hostname: "127.0.0.1", port, onListen: () => {} },
    async (request) => {
      const raft = await node.handle(request);
      if (raft !== null) return raft;
      const url = new URL(request.url);
      switch (`${request.method} ${url.pathname}`) {
        case "POST /kv/put": {
          let body: unknown;
          try {
            body = await request.json();
          } catch (_err) {
            body = null; // answered as a bad request below
          }
          const { key, value } = (body ?? {}) as {
            key?: unknown;
            value?: unknown;
          };
          if (typeof key !== "string" || typeof value !== "string") {
            return json(400, {
              code: "kv.bad_request",
              message: 'Body must be {"key":string,"value":string}',
            });
          }
          try {
            const applied = await node.propose(encodeKvWrite({ key, value }));
            return json(200, { index: applied.index, count: applied.result });
          } catch (err) {
            return raftErrorResponse(err);
          }
        }
        case "GET /kv/read": {
          try {
            await node.readBarrier();
            return json(200, {
              values: fsm.get(url.searchParams.get("key") ?? ""),
            });
          } catch (err) {
            return raftErrorResponse(err);
          }
        }
        case "GET /kv/history":
          return json(200, {
            applied: node.status.applied,
            history: fsm.history,
          });
        case "GET /status":
          return json(200, node.status);
        default:
          return json(404, {
            code: "kv.not_found",
            message: `No route ${request.method} ${url.pathname}`,
          });
      }
    },
  );
  console.log(`kv_server ${id} listening on ${port}`);
}

if (import.meta.main) await main();
