import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { emptyState, RaftError } from "../../raft/mod.ts";
import type { ApiError } from "../api/mod.ts";
import { primaryRouter, type PrimaryRoutesOptions } from "./routes.ts";

function options(readBarrier: () => Promise<unknown>): PrimaryRoutesOptions {
  return {
    clusterId: "c1",
    nodeName: "n1",
    state: emptyState,
    raft: () => ({ leader: "n1", term: 2 }),
    isLeader: () => true,
    readBarrier,
    leaderApiUrl: () => null,
    commit: () => Promise.reject(new Error("no commits here")),
    runtime: () => {
      throw new Error("no runtime here");
    },
    coordinator: () => Promise.resolve(null),
    clusterKey: {} as PrimaryRoutesOptions["clusterKey"],
    forwardClient: {} as Deno.HttpClient,
    nowMs: () => 0,
  };
}

async function get(router: ReturnType<typeof primaryRouter>, path: string) {
  const match = router.match("GET", path);
  if (match.kind !== "found") throw new Error(`no route ${path}`);
  const url = new URL(`https://mill.test${path}`);
  return await match.route.handler(new Request(url), {
    params: match.params,
    url,
    scope: "admin",
    caller: null,
  });
}

Deno.test("a leader's reads wait for the read barrier, and a lost leadership is a 503, never a stale answer", async () => {
  const order: string[] = [];
  let release = () => {};
  const router = primaryRouter(options(() => {
    order.push("barrier");
    return new Promise<void>((resolve) => {
      release = () => {
        order.push("confirmed");
        resolve();
      };
    });
  }));
  const pending = get(router, "/v1/secrets");
  await new Promise((r) => setTimeout(r, 20));
  deepStrictEqual(order, ["barrier"], "nothing answered before the barrier");
  release();
  const answered = await pending;
  strictEqual(answered.status, 200);
  deepStrictEqual(order, ["barrier", "confirmed"]);

  const lost = primaryRouter(
    options(() =>
      Promise.reject(
        new RaftError(
          "raft.not_leader",
          "Read refused (raft.not_leader)",
          null,
        ),
      )
    ),
  );
  let refused: ApiError | null = null;
  try {
    await get(lost, "/v1/secrets");
  } catch (error) {
    refused = error as ApiError;
  }
  strictEqual(refused?.status, 503);
  strictEqual(refused?.code, "api.no_leader");
});
