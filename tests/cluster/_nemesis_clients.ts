/**
 * The nemesis test's clients: each inside its primary's
 * namespace with curl against that node's own API (a follower forwards to
 * the leader), writing secrets (`PUT /v1/secrets/NAME`) and reading them
 * back (`GET /v1/secrets`), every op recorded as `_history.ts` models it.
 *
 * Outcomes. A write is ok on 204; it surely did not happen when curl could
 * not connect (exit 7) or when a node answered 503 "no leader right now"
 * (the follower had no leader to forward to, or the node it forwarded to
 * no longer led: nothing was proposed); anything else (a timeout, a cut
 * connection, another 5xx such as leadership lost during the commit) is
 * unknown. A read that fails tells nothing and is not recorded.
 */
import type { SeededRng } from "../../raft/rng.ts";
import type { Bed, BedNode } from "./bed.ts";
import type { ClientRecord, Outcome, ReadRecord } from "./_history.ts";

/**
 * curl's own bound per request; past it the op is unknown. Short, so a
 * client whose node forwarded to a cut-off leader is soon back to work.
 */
const REQUEST_TIMEOUT_S = 1.5;
/** The answer of a node that proposed nothing: no leader to forward to. */
const NO_LEADER_MESSAGE = "The cluster has no leader right now";
/** Writes per key at most before a client moves on to a fresh key. */
const WRITES_PER_KEY_MAX = 6;
/** Pause after a failed or unknown op, so a dead node is not spun on. */
const BACKOFF_MS = 150;

export interface ClientOptions {
  readonly bed: Bed;
  readonly node: BedNode;
  readonly client: number;
  readonly rng: SeededRng;
  /** Every secret name of the test starts with it. */
  readonly prefix: string;
  readonly records: ClientRecord[];
  /** Odd answers worth a line in the test's output (not in the model). */
  readonly notes: string[];
  /** The client stops once this says so (checked between ops). */
  readonly done: () => boolean;
}

interface Answer {
  readonly curl: number;
  readonly status: number;
  readonly body: string;
  readonly invokedAt: number;
  readonly completedAt: number;
}

/** Runs one client until `done()`; every op lands in `records`. */
export async function runClient(options: ClientOptions): Promise<void> {
  const { bed, node, client, rng, prefix, records } = options;
  const token = (await Deno.readTextFile(`${bed.dir}/admin.token`)).trim();
  const request = async (args: readonly string[]): Promise<Answer> => {
    const invokedAt = Date.now();
    const result = await bed.exec(node, [
      "curl",
      "-sS",
      "--max-time",
      String(REQUEST_TIMEOUT_S),
      "--cacert",
      `${bed.dir}/ca.crt`,
      "-H",
      `authorization: Bearer ${token}`,
      "-w",
      "\n%{http_code}",
      ...args,
    ], { timeoutMs: (REQUEST_TIMEOUT_S + 5) * 1000 });
    const completedAt = Date.now();
    const lines = result.stdout.split("\n");
    const status = Number(lines.pop() ?? "0");
    return {
      curl: result.timedOut ? -1 : result.code,
      status,
      body: lines.join("\n"),
      invokedAt,
      completedAt,
    };
  };

  let keyNumber = 0;
  let key = `${prefix}-c${client}-k${keyNumber}`;
  let writesOnKey = 0;
  let keyQuota = 1 + rng.nextInt(WRITES_PER_KEY_MAX);
  let lastCompletedOnKey = 0;
  let seq = 0;
  while (!options.done()) {
    if (rng.chance(0.5)) {
      // A clock tick between writes of a key keeps their intervals apart.
      while (Date.now() <= lastCompletedOnKey) await sleep(1);
      seq++;
      const answer = await request([
        "-X",
        "PUT",
        "-H",
        "content-type: text/plain",
        "--data-binary",
        `value-${client}-${seq}`,
        `${node.apiUrl}/v1/secrets/${key}`,
      ]);
      const outcome = writeOutcome(answer, node, key);
      records.push({
        kind: "write",
        client,
        key,
        invokedAt: answer.invokedAt,
        completedAt: outcome === "unknown" ? null : answer.completedAt,
        outcome,
        detail: `curl ${answer.curl}, HTTP ${answer.status} ${
          answer.body.slice(0, 120)
        }`,
      });
      lastCompletedOnKey = answer.completedAt;
      writesOnKey++;
      // An unknown write must stay its key's last (the model relies on it).
      if (outcome === "unknown" || writesOnKey >= keyQuota) {
        key = `${prefix}-c${client}-k${++keyNumber}`;
        writesOnKey = 0;
        keyQuota = 1 + rng.nextInt(WRITES_PER_KEY_MAX);
        lastCompletedOnKey = 0;
      }
      if (outcome !== "ok") await sleep(BACKOFF_MS);
    } else {
      const answer = await request([`${node.apiUrl}/v1/secrets`]);
      const read = readRecord(answer, client, node, prefix, options.notes);
      if (read === null) await sleep(BACKOFF_MS);
      else records.push(read);
    }
  }
}

function writeOutcome(answer: Answer, node: BedNode, key: string): Outcome {
  if (answer.curl === 7) return "fail";
  if (answer.curl !== 0) return "unknown";
  if (answer.status === 204) return "ok";
  if (answer.status === 503 && answer.body.includes(NO_LEADER_MESSAGE)) {
    return "fail";
  }
  if (answer.status >= 500) return "unknown";
  // A 4xx is the test's own mistake, not the cluster's.
  throw new Error(
    `PUT /v1/secrets/${key} on ${node.name} answered ${answer.status}: ${answer.body}`,
  );
}

function readRecord(
  answer: Answer,
  client: number,
  node: BedNode,
  prefix: string,
  notes: string[],
): ReadRecord | null {
  if (answer.curl !== 0 || answer.status !== 200) return null;
  let listed: { secrets: { name: string; updatedAt: string }[] };
  try {
    listed = JSON.parse(answer.body);
  } catch {
    // curl saw a complete 200, yet the body is no JSON: cut off somewhere.
    notes.push(
      `client ${client}: GET /v1/secrets on ${node.name} at ${answer.invokedAt} answered 200 with ${answer.body.length} bytes that are not JSON: ${
        JSON.stringify(answer.body.slice(-80))
      }`,
    );
    return null;
  }
  const seen: Record<string, number> = {};
  for (const s of listed.secrets) {
    if (s.name.startsWith(`${prefix}-`)) seen[s.name] = Date.parse(s.updatedAt);
  }
  return {
    kind: "read",
    client,
    invokedAt: answer.invokedAt,
    completedAt: answer.completedAt,
    seen,
    via: node.name,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
