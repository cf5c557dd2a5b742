/**
 * One member of bench/scheduler's three-node cluster, as its own OS
 * process: a `RaftNode` (WAL with real fsync, its own data directory)
 * behind the agent's own state machine (`FsmMachine`: the cluster FSM,
 * decode + `apply` of every committed entry). One loopback HTTP port
 * serves Raft traffic and the bench's requests:
 *
 *   GET  /status          → the Raft node's status
 *   POST /bench/commit    {commands}         → each proposed at once; once
 *                           all are applied: {applied, rejected: [messages]}
 *   POST /bench/deploy    {deployId, config} → on the leader, timed here,
 *                           through the deploy's own code: `prepareDeploy`
 *                           (schedule, replay through `apply`), then
 *                           `commitDeploy` (the `Deploy` carrying wave 1:
 *                           one `DeployWithWave` entry), then any later
 *                           wave's `AllocsScheduled` entries; →
 *                           {placements, entries, withDeploy, waves,
 *                           deployCommitMs, scheduleMs, placementsCommitMs,
 *                           elapsedMs}; 421 with `retry` when its Deploy
 *                           was refused as not the leader's (nothing done)
 *   POST /bench/reset     → on the leader: the running deploy finished,
 *                           every live alloc stopped, then all purged
 *
 * Usage: _fsm_node.ts --id n1 --port 7001 --data DIR
 *          --peers n1=http://127.0.0.1:7001,n2=…,n3=… [--election-ticks 5]
 */
import type { ClusterConfig } from "../config/types.ts";
import {
  type Command,
  encodeCommand,
  type EntryApplied,
  isTerminal,
  PURGE_ALLOCS_MAX,
  RaftError,
  RaftNode,
  runningDeploy,
} from "../raft/mod.ts";
import { FsmMachine } from "../node/agent/fsm_machine.ts";
import { commitCommand } from "../node/agent/cluster_commit.ts";
import {
  commitDeploy,
  type DeployCommitted,
  DeployError,
  prepareDeploy,
} from "../node/deploy/mod.ts";
import { type Placement, placementBatches } from "../node/scheduler/mod.ts";
import { parsePeerList } from "../tests/raft/_peers.ts";

function option(args: string[], name: string, fallback?: string): string {
  const at = args.indexOf(`--${name}`);
  const value = at >= 0 ? args[at + 1] : fallback;
  if (value === undefined) throw new Error(`Missing --${name}`);
  return value;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** Proposes `command` and waits until this node applied it. */
async function commitEntry(
  raft: RaftNode,
  command: Command,
): Promise<EntryApplied> {
  const { result } = await raft.propose(encodeCommand(command));
  return result as EntryApplied;
}

interface Committed {
  readonly applied: number;
  readonly rejected: string[];
}

/** Proposes every command at once; waits until all are applied. */
async function commitAll(
  raft: RaftNode,
  commands: readonly Command[],
): Promise<Committed> {
  const results = await Promise.all(commands.map((c) => commitEntry(raft, c)));
  const rejected = results.flatMap((r) =>
    r.outcome === "rejected" ? [r.rejection.message] : []
  );
  return { applied: results.length - rejected.length, rejected };
}

/**
 * The leader's side of a deploy up to its committed placements, through
 * the deploy's own code: `prepareDeploy` (the schedule, and the plan
 * replayed through `apply`), `commitDeploy` (the `Deploy` carrying wave 1
 * as one `DeployWithWave` entry), then each later wave's `AllocsScheduled`
 * entries in turn.
 */
async function deploy(
  raft: RaftNode,
  fsm: FsmMachine,
  deployId: string,
  config: ClusterConfig,
): Promise<Response> {
  const started = performance.now();
  const prepared = prepareDeploy(fsm.state, config, deployId);
  if (prepared instanceof DeployError) {
    return json(409, { error: prepared.message });
  }
  const scheduleMs = performance.now() - started;
  const { plan } = prepared;
  const commit = (command: Command) => commitCommand(raft, command);
  const deployStarted = performance.now();
  let committed: DeployCommitted;
  try {
    committed = await commitDeploy(
      plan,
      { type: "Deploy", deployId, config, atMs: Date.now() },
      commit,
    );
  } catch (error) {
    if (error instanceof RaftError && error.code === "raft.not_leader") {
      // Refused before it entered the log: nothing happened, try the leader.
      return json(421, {
        error: error.message,
        leader: error.leader,
        retry: true,
      });
    }
    throw error;
  }
  if (!committed.result.ok) {
    return json(409, {
      error: `Deploy refused: ${committed.result.rejection.message}`,
    });
  }
  const deployCommittedMs = performance.now() - deployStarted;
  const placingStarted = performance.now();
  const waves = new Map<number, Placement[]>();
  for (const step of plan.steps) {
    if (step.type !== "place" && step.type !== "replace") continue;
    const placing = waves.get(step.wave);
    if (placing === undefined) waves.set(step.wave, [step.placement]);
    else placing.push(step.placement);
  }
  const withDeploy = new Set(committed.withDeploy);
  let placements = withDeploy.size;
  let entries = 1; // the Deploy's, with wave 1 when it carried it
  for (const wave of [...waves.keys()].sort((a, b) => a - b)) {
    const left = waves.get(wave)!.filter((p) => !withDeploy.has(p.allocId));
    const batches = placementBatches(left, { atMs: Date.now(), deployId });
    for (const batch of batches) {
      const applied = await commit(batch);
      if (!applied.ok) {
        return json(409, {
          error: `placements refused: ${applied.rejection.message}`,
        });
      }
      placements += batch.placements.length;
      entries++;
    }
  }
  return json(200, {
    placements,
    entries,
    withDeploy: withDeploy.size,
    waves: waves.size,
    deployCommitMs: deployCommittedMs,
    scheduleMs,
    placementsCommitMs: performance.now() - placingStarted,
    elapsedMs: performance.now() - started,
  });
}

/** Between rounds: nothing running, nothing placed, the nodes empty. */
async function reset(raft: RaftNode, fsm: FsmMachine): Promise<Committed> {
  const atMs = Date.now();
  const running = runningDeploy(fsm.state);
  const commands: Command[] = running === null ? [] : [{
    type: "DeployFinished",
    deployId: running.id,
    outcome: "succeeded",
    message: "",
    atMs,
  }];
  const allocIds = [...fsm.state.allocs.keys()];
  for (const allocId of allocIds) {
    const alloc = fsm.state.allocs.get(allocId)!;
    if (isTerminal(alloc.status)) continue;
    commands.push({ type: "AllocStatus", allocId, status: "stopped", atMs });
  }
  const stopped = await commitAll(raft, commands);
  if (stopped.rejected.length > 0) return stopped;
  const purges: Command[] = [];
  for (let at = 0; at < allocIds.length; at += PURGE_ALLOCS_MAX) {
    purges.push({
      type: "AllocsPurged",
      allocIds: allocIds.slice(at, at + PURGE_ALLOCS_MAX),
      atMs,
    });
  }
  return await commitAll(raft, purges);
}

async function main(): Promise<void> {
  const args = Deno.args;
  const id = option(args, "id");
  const port = Number(option(args, "port"));
  const peers = parsePeerList(option(args, "peers"));
  const fsm = new FsmMachine();
  const raft = await RaftNode.start({
    id,
    dataDir: option(args, "data"),
    peers,
    initialMembership: { voters: [...peers.keys()], learners: [] },
    stateMachine: fsm,
    electionTicks: Number(option(args, "election-ticks", "5")),
    onFatal: (error) => {
      console.error(`fsm node ${id}: fatal`, error);
      Deno.exit(1);
    },
  });
  Deno.serve(
    { hostname: "127.0.0.1", port, onListen: () => {} },
    async (request) => {
      const handled = await raft.handle(request);
      if (handled !== null) return handled;
      const path = `${request.method} ${new URL(request.url).pathname}`;
      try {
        switch (path) {
          case "GET /status":
            return json(200, raft.status);
          case "POST /bench/commit": {
            const body = await request.json() as { commands: Command[] };
            return json(200, await commitAll(raft, body.commands));
          }
          case "POST /bench/reset":
            return json(200, await reset(raft, fsm));
          case "POST /bench/deploy": {
            const body = await request.json() as {
              deployId: string;
              config: ClusterConfig;
            };
            return await deploy(raft, fsm, body.deployId, body.config);
          }
          default:
            return json(404, { error: `No route ${path}` });
        }
      } catch (error) {
        if (error instanceof RaftError) {
          return json(421, { error: error.message, leader: error.leader });
        }
        return json(500, { error: String(error) });
      }
    },
  );
}

if (import.meta.main) await main();
