/**
 * The fake's API v2 endpoints: authentication and scopes, the rate limit
 * and its headers, the failures a test injects, then the Block Storage
 * routes over the model, with the devices and the action timers behind
 * them.
 */

import type { Answer, IncomingCall } from "./listener.ts";
import {
  actionJson,
  type ActionRecord,
  ApiFailure,
  type CloudModel,
  dropletJson,
  notFound,
  paginate,
  snapshotJson,
  volumeJson,
} from "./model.ts";
import type { Devices } from "./devices.ts";
import { type FakeToken, granted, scopeFor } from "./scopes.ts";

export interface ActionDelays {
  readonly attach: number;
  readonly detach: number;
  readonly snapshot: number;
}

export interface RateLimit {
  /** Requests allowed per window before 429s. */
  readonly burst: number;
  /** 60 s unless told (the reference's per-minute burst limit). */
  readonly windowMs?: number;
  /** The `Retry-After` of the 429s; else the time until a slot frees. */
  readonly retryAfterSeconds?: number;
}

export interface LoggedRequest {
  readonly method: string;
  readonly target: string;
  readonly status: number;
}

interface Injected {
  tooManyRequests: { count: number; retryAfterSeconds: number };
  serverErrors: {
    count: number;
    status: number;
    afterHandling: boolean;
    method: string | null;
  };
  actionErrors: number;
}

/** Hourly quota shown in `ratelimit-limit` when no burst limit is set. */
const HOURLY_LIMIT = 5000;

const UNAUTHORIZED = new ApiFailure(
  401,
  "unauthorized",
  "Unable to authenticate you",
);

export class FakeApi {
  readonly #model: CloudModel;
  readonly #devices: Devices;
  readonly #tokens: readonly FakeToken[];
  readonly #delays: ActionDelays;
  readonly #rateLimit: RateLimit | null;
  readonly #recent: number[] = [];
  readonly #timers = new Set<ReturnType<typeof setTimeout>>();
  readonly #work = new Set<Promise<void>>();
  readonly log: LoggedRequest[] = [];
  #closed = false;
  readonly injected: Injected = {
    tooManyRequests: { count: 0, retryAfterSeconds: 0 },
    serverErrors: { count: 0, status: 500, afterHandling: false, method: null },
    actionErrors: 0,
  };

  constructor(options: {
    readonly model: CloudModel;
    readonly devices: Devices;
    readonly tokens: readonly FakeToken[];
    readonly delays: ActionDelays;
    readonly rateLimit: RateLimit | null;
  }) {
    this.#model = options.model;
    this.#devices = options.devices;
    this.#tokens = options.tokens;
    this.#delays = options.delays;
    this.#rateLimit = options.rateLimit;
  }

  async handle(call: IncomingCall): Promise<Answer> {
    const answer = await this.#answer(call);
    this.log.push({
      method: call.method,
      target: call.target,
      status: answer.status,
    });
    return answer;
  }

  /** Stops the action timers and waits for device work under way. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
    await Promise.allSettled([...this.#work]);
  }

  async #answer(call: IncomingCall): Promise<Answer> {
    const rate = this.#rateHeaders();
    try {
      const url = new URL(call.target, call.origin);
      const scope = scopeFor(call.method, url.pathname);
      if (scope === null) throw notFound();
      const token = this.#tokenOf(call.headers);
      if (token === null) throw UNAUTHORIZED;
      if (!granted(token.scopes ?? ["read", "write"], scope)) {
        throw new ApiFailure(
          403,
          "forbidden",
          "You are not authorized to perform this operation",
        );
      }
      const limited = this.#limited();
      if (limited !== null) {
        return {
          status: 429,
          headers: {
            ...rate,
            "ratelimit-remaining": "0",
            "retry-after": String(limited),
          },
          body: {
            id: "too_many_requests",
            message: "API Rate limit exceeded.",
          },
        };
      }
      const failure = this.#serverError(call.method);
      if (failure !== null && !failure.afterHandling) {
        return this.#failed(failure.status, rate);
      }
      const answer = await this.#route(call.method, url, call.body);
      if (failure !== null) return this.#failed(failure.status, rate);
      return { ...answer, headers: { ...rate, ...answer.headers } };
    } catch (error) {
      if (error instanceof ApiFailure) {
        return {
          status: error.status,
          headers: rate,
          body: { id: error.id, message: error.message },
        };
      }
      throw error;
    }
  }

  #failed(status: number, rate: Record<string, string>): Answer {
    return {
      status,
      headers: rate,
      body: { id: "server_error", message: "Unexpected server-side error" },
    };
  }

  #tokenOf(headers: Headers): FakeToken | null {
    const match = /^Bearer (\S+)$/.exec(headers.get("authorization") ?? "");
    if (match === null) return null;
    return this.#tokens.find((t) => t.token === match[1]) ?? null;
  }

  /** Seconds to wait, when this request is over the limit. */
  #limited(): number | null {
    const injected = this.injected.tooManyRequests;
    if (injected.count > 0) {
      injected.count--;
      return injected.retryAfterSeconds;
    }
    const limit = this.#rateLimit;
    if (limit === null) return null;
    const now = Date.now();
    const window = limit.windowMs ?? 60_000;
    while (this.#recent.length > 0 && this.#recent[0]! <= now - window) {
      this.#recent.shift();
    }
    if (this.#recent.length < limit.burst) {
      this.#recent.push(now);
      return null;
    }
    return limit.retryAfterSeconds ??
      Math.max(1, Math.ceil((this.#recent[0]! + window - now) / 1000));
  }

  #rateHeaders(): Record<string, string> {
    const limit = this.#rateLimit?.burst ?? HOURLY_LIMIT;
    const window = this.#rateLimit?.windowMs ?? 3_600_000;
    const oldest = this.#recent[0] ?? Date.now();
    return {
      "ratelimit-limit": String(limit),
      "ratelimit-remaining": String(Math.max(0, limit - this.#recent.length)),
      "ratelimit-reset": String(Math.ceil((oldest + window) / 1000)),
    };
  }

  #serverError(method: string): Injected["serverErrors"] | null {
    const injected = this.injected.serverErrors;
    if (injected.count <= 0) return null;
    if (injected.method !== null && injected.method !== method) return null;
    injected.count--;
    return { ...injected };
  }

  async #route(method: string, url: URL, raw: Uint8Array): Promise<Answer> {
    const parts = url.pathname.split("/").filter((p) => p !== "").slice(1);
    const body = () => {
      try {
        return JSON.parse(new TextDecoder().decode(raw)) as unknown;
      } catch {
        throw new ApiFailure(400, "bad_request", "error parsing request body");
      }
    };
    const [root, id, sub, subId] = parts;
    const model = this.#model;
    if (root === "actions" && id !== undefined) {
      return {
        status: 200,
        body: { action: actionJson(model.action(Number(id))) },
      };
    }
    if (root === "droplets" && id !== undefined) {
      const droplet = model.droplet(Number(id));
      return {
        status: 200,
        body: {
          droplet: dropletJson(
            droplet,
            model.attachedTo(droplet.id).map((v) => v.id),
          ),
        },
      };
    }
    if (root === "snapshots" || (root === "volumes" && id === "snapshots")) {
      const snapshotId = root === "snapshots" ? id! : sub!;
      return await this.#snapshotRoute(method, snapshotId);
    }
    if (id === undefined) return await this.#volumesRoute(method, url, body);
    if (sub === undefined) {
      if (method === "GET") {
        return { status: 200, body: { volume: volumeJson(model.volume(id)) } };
      }
      const volume = model.checkDelete(id);
      await this.#devices.removeVolume(volume.id);
      model.remove(volume.id);
      return { status: 204 };
    }
    if (sub === "actions") {
      if (method === "POST") {
        const action = model.startAction(id, body(), new Date());
        this.#schedule(action);
        return { status: 202, body: { action: actionJson(action) } };
      }
      if (subId !== undefined) {
        return {
          status: 200,
          body: { action: actionJson(model.action(Number(subId), id)) },
        };
      }
      model.volume(id);
      const actions = [...model.actions.values()].filter((a) =>
        a.volumeId === id
      );
      const page = paginate(actions, url);
      return {
        status: 200,
        body: {
          actions: page.items.map(actionJson),
          links: page.links,
          meta: page.meta,
        },
      };
    }
    // sub === "snapshots"
    if (method === "POST") {
      const snapshot = model.checkSnapshot(id, body(), new Date());
      await this.#sleep(this.#delays.snapshot);
      const used = await this.#devices.snapshot(id, snapshot.id);
      model.addSnapshot(snapshot);
      this.#used.set(snapshot.id, used);
      return { status: 201, body: { snapshot: snapshotJson(snapshot, used) } };
    }
    model.volume(id);
    const snapshots = [...model.snapshots.values()].filter((s) =>
      s.volumeId === id
    );
    const page = paginate(snapshots, url);
    return {
      status: 200,
      body: {
        snapshots: page.items.map((s) =>
          snapshotJson(s, this.#used.get(s.id) ?? 0)
        ),
        links: page.links,
        meta: page.meta,
      },
    };
  }

  readonly #used = new Map<string, number>();

  async #snapshotRoute(method: string, id: string): Promise<Answer> {
    const snapshot = this.#model.snapshot(id);
    if (method === "GET") {
      return {
        status: 200,
        body: { snapshot: snapshotJson(snapshot, this.#used.get(id) ?? 0) },
      };
    }
    await this.#devices.removeSnapshot(id);
    this.#model.snapshots.delete(id);
    return { status: 204 };
  }

  async #volumesRoute(
    method: string,
    url: URL,
    body: () => unknown,
  ): Promise<Answer> {
    const model = this.#model;
    const name = url.searchParams.get("name");
    const region = url.searchParams.get("region");
    if (method === "POST") {
      const volume = model.checkCreate(body(), new Date());
      await this.#devices.createVolume(
        volume.id,
        volume.sizeGigabytes,
        volume.snapshotId === null ? null : { snapshotId: volume.snapshotId },
        volume.filesystemType,
      );
      model.add(volume);
      return { status: 201, body: { volume: volumeJson(volume) } };
    }
    if (method === "DELETE") {
      if (name === null || region === null) {
        throw new ApiFailure(
          400,
          "bad_request",
          "name and region are required to delete a volume by name",
        );
      }
      const volume = model.checkDelete(model.byName(name, region).id);
      await this.#devices.removeVolume(volume.id);
      model.remove(volume.id);
      return { status: 204 };
    }
    const volumes = [...model.volumes.values()]
      .filter((v) => name === null || v.name === name)
      .filter((v) => region === null || v.region === region)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    const page = paginate(volumes, url);
    return {
      status: 200,
      body: {
        volumes: page.items.map(volumeJson),
        links: page.links,
        meta: page.meta,
      },
    };
  }

  /** Completes (or errors) an action after its delay, devices first. */
  #schedule(action: ActionRecord): void {
    const delay = action.kind === "attach"
      ? this.#delays.attach
      : this.#delays.detach;
    const errors = this.injected.actionErrors > 0;
    if (errors) this.injected.actionErrors--;
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      const work = this.#complete(action, errors);
      this.#work.add(work);
      void work.finally(() => this.#work.delete(work));
    }, delay);
    this.#timers.add(timer);
  }

  async #complete(action: ActionRecord, errors: boolean): Promise<void> {
    if (this.#closed) return;
    const volume = this.#model.volumes.get(action.volumeId);
    const droplet = this.#model.droplets.get(action.dropletId);
    let ok = !errors && volume !== undefined && droplet !== undefined;
    if (ok) {
      try {
        if (action.kind === "attach") {
          await this.#devices.attach(
            volume!.id,
            volume!.name,
            droplet!.byIdDir,
          );
        } else {
          await this.#devices.detach(
            volume!.id,
            volume!.name,
            droplet!.byIdDir,
          );
        }
      } catch {
        ok = false;
      }
    }
    this.#model.finishAction(action.id, ok, new Date());
  }

  #sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#timers.delete(timer);
        resolve();
      }, ms);
      this.#timers.add(timer);
    });
  }
}
