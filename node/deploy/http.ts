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
  // The same checks run again inside deploy(); here they give a status code.
  const precheck = prepareDeploy(context.state(), parsed.config, "precheck");
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
  void coordinator.deploy(parsed.config, (event) => {
    stream.send({ event: event.type, data: event, id: String(++id) });
    if (event.type === "done" || event.type === "failed") stream.close();
  }, detached.signal).finally(() => stream.close());
  return stream.response;
}

export async function handleTaskRequest(
  coordinator: Coordinator,
  request: Request,
): Promise<Response> {
  const body = await readJsonBody(request, { bytesMax: 4096 });
  const task = typeof body === "object" && body !== null && "task" in body
    ? body.task
    : undefined;
  if (typeof task !== "string" || task.length === 0 || task.length > 128) {
    throw new ApiError(
      400,
      "api.invalid_json",
      'The body must be {"task": NAME} with the name of a task of the deployed config',
    );
  }
  const detach = typeof body === "object" && body !== null &&
    "detach" in body && body.detach === true;
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
