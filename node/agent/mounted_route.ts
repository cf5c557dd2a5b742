/**
 * One route on a router (the peer port's, usually) for as long as the node
 * runs: a part of the supervisor's list that mounts it at start and takes
 * it down at stop.
 */
import type { Handler, Method, Router } from "../api/mod.ts";
import type { RouteScope } from "../api/auth.ts";
import type { Service } from "./supervisor.ts";

export class MountedRoute implements Service {
  #unmount: (() => void) | null = null;

  constructor(
    readonly name: string,
    readonly route: {
      readonly router: Router;
      readonly method: Method;
      readonly path: string;
      readonly handler: Handler;
      readonly scope: RouteScope;
    },
  ) {}

  start(): Promise<void> {
    const { router, method, path, handler, scope } = this.route;
    this.#unmount = router.mount(method, path, handler, { scope });
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.#unmount?.();
    this.#unmount = null;
    return Promise.resolve();
  }
}
