/**
 * The deploy endpoints' bodies as an attacker or a typo sends them: the
 * refusal comes before any deploy or task is touched.
 */
import { deepStrictEqual, rejects } from "node:assert/strict";
import { ApiError } from "../api/mod.ts";
import { stateFrom } from "../../raft/fsm/testing.ts";
import type { Coordinator, DeployContext } from "./context.ts";
import { handleCancelRequest, handleTaskRequest } from "./http.ts";

/** A coordinator that must not be reached: every refusal comes first. */
const untouched = new Proxy({}, {
  get(_, name) {
    if (name === "cancelDeploy") return () => null;
    throw new Error(`the coordinator was reached (${String(name)})`);
  },
}) as Coordinator;

const context = { state: () => stateFrom([]) } as unknown as DeployContext;

function post(body: string, type = "application/json"): Request {
  return new Request("https://mill.test/v1/tasks", {
    method: "POST",
    headers: { "content-type": type },
    body,
  });
}

async function refusal(promise: Promise<unknown>): Promise<[number, string]> {
  let error: unknown;
  await rejects(promise.then(() => {}), (e) => {
    error = e;
    return true;
  });
  if (!(error instanceof ApiError)) throw error;
  return [error.status, error.message];
}

Deno.test("POST /v1/tasks refuses a non-boolean detach, unknown fields and a bad name", async (t) => {
  const cases = [
    [
      '{"task":"migrate","detach":"yes"}',
      400,
      '"detach" must be true or false, not "yes"',
    ],
    ['{"task":"migrate","detatch":true}', 400, 'Unknown field "detatch"'],
    ['{"task":""}', 400, 'The body must be {"task": NAME'],
    ['["migrate"]', 400, 'The body must be {"task": NAME'],
    [`{"task":"${"x".repeat(200)}"}`, 400, 'The body must be {"task": NAME'],
  ] as const;
  for (const [body, status, message] of cases) {
    await t.step(body.slice(0, 40), async () => {
      const [got, text] = await refusal(
        handleTaskRequest(untouched, post(body)),
      );
      deepStrictEqual(got, status);
      deepStrictEqual(text.includes(message), true, text);
    });
  }
});

Deno.test("POST /v1/deploys/cancel answers 409 when nothing runs and refuses odd bodies", async () => {
  deepStrictEqual(
    await refusal(handleCancelRequest(untouched, context, post("{}"))),
    [409, "No deploy is running"],
  );
  const [status, message] = await refusal(
    handleCancelRequest(untouched, context, post('{"deployId":7}')),
  );
  deepStrictEqual([status, message], [400, '"deployId" must be a string']);
  const [unknown] = await refusal(
    handleCancelRequest(untouched, context, post('{"all":true}')),
  );
  deepStrictEqual(unknown, 400);
});
