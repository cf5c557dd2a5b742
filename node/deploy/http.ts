/**
 * The coordinator's endpoints (see node/API.md):
 *
 * - `POST /v1/deploy`: the config text in (`text/plain`,
 *   `application/octet-stream` or `application/x-mill`, at most 1 MiB;
 *   `?file=NAME` names it in messages). Refusals known before anything
 *   starts answer as JSON errors: 422 `config.invalid` (with
 *   `diagnostics`), 422 `secret.missing`, 422 `deploy.unplaced`, 409
 *   `deploy.in_progress`. Otherwise 200 and a server-sent-event stream of
 *   `DeployEvent`s (event name = `type`), ending with `done` or `failed`.
 * - `POST /v1/deploys/cancel`: `{}` or `{"deployId": ID}` in; 200
 *   `{"deployId", "status": "cancelling"}` once the running deploy was told
 *   to stop (its stream ends with `failed`, code `deploy.cancelled`), 409
 *   `deploy.not_running` when none runs (or not that one).
 * - `POST /v1/tasks`: `{"task": NAME, "detach"?: bool}` in; a stream of
 *   `TaskEvent`s ending with `exit` or `failed` (`task.unknown`,
 *   `task.unplaced`, …); with `detach` it ends once the task runs. A client
 *   that disconnects (without `detach`) stops the task.
 *
 * A client that disconnects only detaches: the deploy runs to its end.
 */
import { parseConfig } from "../../config/mod.ts";
import {
  ApiError,
  errorResponse,
  jsonResponse,
  readJsonBody,
  readTextBody,
  type Router,
  SseStream,
} from "../api/mod.ts";
import type { ClusterConfig } from "../../config/types.ts";
import { type ClusterState, runningDeploy } from "../../raft/fsm/mod.ts";
import { prepareDeploy } from "./prepare.ts";
import type { Coordinator, DeployContext } from "./context.ts";

/** Largest config accepted (the config language's own bound). */
export const DEPLOY_BODY_BYTES_MAX = 1024 * 1024;
export const DEPLOY_CONTENT_TYPES = [
  "text/plain",
  "application/octet-stream",
  "application/x-mill",
];
const FILE_NAME_PATTERN = /^[^\r\n\0]{1,255}$/;

/** Mounts `POST /v1/deploy` and `POST /v1/tasks` on `router`. */
export function addDeployRoutes(
  router: Router,
  coordinator: Coordinator,
): void {
  router.add(
    "POST",
    "/v1/deploy",
    (request) => coordinator.handleDeploy(request),
  );
  router.add("POST", "/v1/tasks", (request) => coordinator.handleTask(request));
}

export async function handleDeployRequest(
  coordinator: Coordinator,
  context: DeployContext,
  request: Request,
): Promise<Response> {
  const url = new URL(request.url);
  const fileParam = url.searchParams.get("file");
  const fileName = fileParam !== null && FILE_NAME_PATTERN.test(fileParam)
    ? fileParam
    : "config.mill";
  const text = await readTextBody(request, {
    bytesMax: DEPLOY_BODY_BYTES_MAX,
    contentTypes: DEPLOY_CONTENT_TYPES,
  });
  const parsed = parseConfig(text, fileName);
  if (!parsed.ok) {
    const count = parsed.diagnostics.length;
    return jsonResponse({
      code: "config.invalid",
      message: `${fileName} has ${count} error${
        count === 1 ? "" : "s"
      }; run "mill validate -f ${fileName}"`,
      diagnostics: parsed.diagnostics,
    }, 422);
  }
  return deployResponse(coordinator, context.state(), parsed.config);
}

/**
 * Starts the deploy of `config` now and answers with its event stream, or
 * with the JSON refusal its precheck gives (409 `deploy.in_progress`, 422
 * `secret.missing`, `deploy.unplaced`, …) when it cannot start. `state` is
 * read in the same step, so nothing changes between check and start.
 */
export function deployResponse(
  coordinator: Coordinator,
  state: ClusterState,
  config: ClusterConfig,
  note?: string,
): Response {
  // The same checks run again inside deploy(); here they give a status code.
  const precheck = prepareDeploy(
    state,
    config,
    "precheck",
    coordinator.managesVolumes,
  );
  if (!("plan" in precheck)) {
    const status = precheck.code === "deploy.in_progress" ? 409 : 422;
    return errorResponse(new ApiError(status, precheck.code, precheck.message));
  }
  // Not `request.signal`: Deno.serve aborts it once the response starts.
  // The stream closes when the client cancels the body.
  const stream = new SseStream();
  const detached = new AbortController();
  void stream.done.then(() => detached.abort());
  let id = 0;
  void coordinator.deploy(
    config,
    (event) => {
      stream.send({ event: event.type, data: event, id: String(++id) });
      if (event.type === "done" || event.type === "failed") stream.close();
    },
    detached.signal,
    note,
  ).finally(() => stream.close());
  return stream.response;
}

export async function handleCancelRequest(
  coordinator: Coordinator,
  context: DeployContext,
  request: Request,
): Promise<Response> {
  // No body at all means "whichever deploy runs".
  const empty = request.body === null ||
    request.headers.get("content-length") === "0";
  const body = objectBody(
    empty ? undefined : await readJsonBody(request, { bytesMax: 4096 }),
    ["deployId"],
    'The body must be {} or {"deployId": ID}',
  );
  const wanted = body.deployId;
  if (wanted !== undefined && typeof wanted !== "string") {
    throw new ApiError(400, "api.invalid_json", '"deployId" must be a string');
  }
  const running = runningDeploy(context.state());
  const cancelled = coordinator.cancelDeploy(
    wanted ?? null,
    "cancelled by the operator",
  );
  if (cancelled === null) {
    const message = running === null
      ? "No deploy is running"
      : wanted !== undefined && wanted !== running.id
      ? `Deploy "${wanted}" is not running; "${running.id}" is`
      : `Deploy "${running.id}" is being finished by a new leader; it cannot be cancelled`;
    throw new ApiError(409, "deploy.not_running", message);
  }
  return jsonResponse({ deployId: cancelled, status: "cancelling" }, 200);
}

/** A JSON object with only the `allowed` keys, or a 400 saying `usage`. */
function objectBody(
  body: unknown,
  allowed: readonly string[],
  usage: string,
): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== "object" || Array.isArray(body)) {
    throw new ApiError(400, "api.invalid_json", usage);
  }
  const unknown = Object.keys(body).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    throw new ApiError(
      400,
      "api.invalid_json",
      `Unknown field ${JSON.stringify(unknown[0])}; ${usage}`,
    );
  }
  return body as Record<string, unknown>;
}

export async function handleTaskRequest(
  coordinator: Coordinator,
  request: Request,
): Promise<Response> {
  const usage =
    'The body must be {"task": NAME, "detach": true|false} with the name of a task of the deployed config';
  const body = objectBody(
    await readJsonBody(request, { bytesMax: 4096 }),
    ["task", "detach"],
    usage,
  );
  const task = body.task;
  if (typeof task !== "string" || task.length === 0 || task.length > 128) {
    throw new ApiError(400, "api.invalid_json", usage);
  }
  if (body.detach !== undefined && typeof body.detach !== "boolean") {
    throw new ApiError(
      400,
      "api.invalid_json",
      `"detach" must be true or false, not ${JSON.stringify(body.detach)}`,
    );
  }
  const detach = body.detach === true;
  const stream = new SseStream();
  // A client that goes away stops the task, unless it asked to detach
  // (then the stream ends once the task runs, and the task runs on).
  const gone = new AbortController();
  if (!detach) void stream.done.then(() => gone.abort());
  let id = 0;
  void coordinator.spawnTask(task, (event) => {
    stream.send({ event: event.type, data: event, id: String(++id) });
    if (detach && event.type === "phase" && event.phase === "running") {
      stream.close();
    }
  }, gone.signal).finally(() => stream.close());
  return stream.response;
}
