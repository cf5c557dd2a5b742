/**
 * A faithful fake of DigitalOcean for tests: the API v2's Block Storage
 * endpoints on a real HTTP server that the `do` driver talks to unchanged,
 * each volume backed by a sparse file and, while attached, a loop device
 * linked from the droplet's by-id directory; plus the droplet metadata
 * service on an address of its own. What it implements, and after which
 * part of the public reference, is in this folder's README.
 */

import {
  type ActionDelays,
  FakeApi,
  type LoggedRequest,
  type RateLimit,
} from "./api.ts";
import { Devices, type Leftovers } from "./devices.ts";
import {
  type BoundedListener,
  listenBounded,
  type ListenerLimits,
} from "./listener.ts";
import { metadataAnswer } from "./metadata.ts";
import {
  actionJson,
  CloudModel,
  type FakeDroplet,
  snapshotJson,
  volumeJson,
} from "./model.ts";
import type { FakeToken } from "./scopes.ts";

export type {
  ActionDelays,
  FakeDroplet,
  FakeToken,
  Leftovers,
  LoggedRequest,
  RateLimit,
};

export interface ListenAddress {
  readonly hostname: string;
  /** 0 picks a free port. */
  readonly port: number;
}

export interface FakeDigitalOceanOptions {
  /** The account's token. */
  readonly token: string;
  /** Its scopes; `["read", "write"]` (full access) unless told. */
  readonly scopes?: readonly string[];
  /** More tokens the account accepts (a read-only one, say). */
  readonly otherTokens?: readonly FakeToken[];
  /** Regions with Block Storage; `["nyc1"]` unless told. */
  readonly regions?: readonly string[];
  readonly droplets: readonly FakeDroplet[];
  /** Before an action completes, or a snapshot is answered; 20/20/0 ms. */
  readonly actionDelayMs?: Partial<ActionDelays>;
  /** Volumes attached to one droplet at once; 15 as the reference says. */
  readonly perDropletVolumeLimit?: number;
  /** A burst limit with 429s; none unless told. */
  readonly rateLimit?: RateLimit;
  /** The API's address; 127.0.0.1 and a free port unless told. */
  readonly listen?: ListenAddress;
  /** The metadata service, answering as `dropletId` (the first droplet). */
  readonly metadata?: {
    readonly listen?: ListenAddress;
    readonly dropletId?: number;
  };
  /** Where backing files go; a temporary directory, removed on close. */
  readonly dataDir?: string;
  readonly limits?: Partial<ListenerLimits>;
}

export interface FakeState {
  readonly volumes: Record<string, unknown>[];
  readonly snapshots: Record<string, unknown>[];
  readonly actions: Record<string, unknown>[];
}

export interface FakeDigitalOcean {
  /** The API base, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  /** `http://host:port` of the metadata service, or null when not asked for. */
  readonly metadataUrl: string | null;
  /** Volumes, snapshots and actions as the API would show them. */
  state(): FakeState;
  /** Every API request so far: method, path with query, status. */
  requests(): readonly LoggedRequest[];
  readonly inject: {
    /** The next `count` authenticated requests get 429 with this Retry-After. */
    tooManyRequests(count: number, retryAfterSeconds: number): void;
    /**
     * The next `count` requests (of `method` when given) get a 5xx; with
     * `afterHandling` the request is carried out first and only the answer
     * is lost.
     */
    serverErrors(
      count: number,
      options?: { status?: number; afterHandling?: boolean; method?: string },
    ): void;
    /** The next `count` attach or detach actions end `errored`. */
    actionErrors(count: number): void;
  };
  /** Backing files, loop devices and by-id links still there. */
  leftovers(): Promise<Leftovers>;
  /** Stops both servers, detaches its loop devices and removes its files. */
  close(): Promise<void>;
}

export async function startFakeDigitalOcean(
  options: FakeDigitalOceanOptions,
): Promise<FakeDigitalOcean> {
  const ownDir = options.dataDir === undefined;
  const dataDir = options.dataDir ??
    await Deno.makeTempDir({ prefix: "fake-do-" });
  const devices = new Devices(dataDir);
  const model = new CloudModel({
    regions: options.regions ?? ["nyc1"],
    droplets: options.droplets,
    perDropletVolumeLimit: options.perDropletVolumeLimit ?? 15,
  });
  const api = new FakeApi({
    model,
    devices,
    tokens: [{
      token: options.token,
      scopes: options.scopes ?? ["read", "write"],
    }, ...(options.otherTokens ?? [])],
    delays: {
      attach: options.actionDelayMs?.attach ?? 20,
      detach: options.actionDelayMs?.detach ?? 20,
      snapshot: options.actionDelayMs?.snapshot ?? 0,
    },
    rateLimit: options.rateLimit ?? null,
  });
  const listeners: BoundedListener[] = [];
  const byIdDirs = options.droplets.map((d) => d.byIdDir);
  const closeAll = async () => {
    await Promise.all(listeners.map((l) => l.close()));
    await api.close();
    await devices.cleanup(
      [...model.volumes.values()].flatMap((v) =>
        v.dropletIds.map((id) =>
          `${model.droplets.get(id)?.byIdDir}/scsi-0DO_Volume_${v.name}`
        )
      ),
    );
    if (ownDir) await Deno.remove(dataDir, { recursive: true }).catch(() => {});
  };
  try {
    listeners.push(
      await listenBounded({
        hostname: options.listen?.hostname ?? "127.0.0.1",
        port: options.listen?.port ?? 0,
        ...(options.limits === undefined ? {} : { limits: options.limits }),
        handle: (call) => api.handle(call),
      }),
    );
    if (options.metadata !== undefined) {
      const droplet = options.metadata.dropletId === undefined
        ? options.droplets[0]
        : model.droplets.get(options.metadata.dropletId);
      if (droplet === undefined) {
        throw new RangeError(
          "the fake's metadata service needs a droplet to answer for",
        );
      }
      listeners.push(
        await listenBounded({
          hostname: options.metadata.listen?.hostname ?? "127.0.0.1",
          port: options.metadata.listen?.port ?? 0,
          ...(options.limits === undefined ? {} : { limits: options.limits }),
          handle: (call) => Promise.resolve(metadataAnswer(droplet, call)),
        }),
      );
    }
  } catch (error) {
    await closeAll();
    throw error;
  }
  let closed: Promise<void> | null = null;
  return {
    url: listeners[0]!.url,
    metadataUrl: listeners[1]?.url ?? null,
    state: () => ({
      volumes: [...model.volumes.values()].map(volumeJson),
      snapshots: [...model.snapshots.values()].map((s) => snapshotJson(s, 0)),
      actions: [...model.actions.values()].map(actionJson),
    }),
    requests: () => [...api.log],
    inject: {
      tooManyRequests(count, retryAfterSeconds) {
        api.injected.tooManyRequests = { count, retryAfterSeconds };
      },
      serverErrors(count, o = {}) {
        api.injected.serverErrors = {
          count,
          status: o.status ?? 500,
          afterHandling: o.afterHandling ?? false,
          method: o.method ?? null,
        };
      },
      actionErrors(count) {
        api.injected.actionErrors = count;
      },
    },
    leftovers: () => devices.leftovers(byIdDirs),
    close: () => closed ??= closeAll(),
  };
}
