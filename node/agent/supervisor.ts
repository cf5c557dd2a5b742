/**
 * The parts of a node as services, and the supervisor that owns their
 * order: started one after another in the order given, stopped in reverse.
 * A start that fails stops what already started; a stop that fails does not
 * keep the others from stopping, and every failure is reported.
 */

/** One part of a node. */
export interface Service {
  readonly name: string;
  /** Resolves once the part serves; the parts before it have started. */
  start(): Promise<void>;
  /** Idempotent; runs only for a part whose start resolved. */
  stop(): Promise<void>;
}

/** A failed start, naming the part. */
export class ServiceStartError extends Error {
  override name = "ServiceStartError";
  constructor(readonly service: string, options: ErrorOptions) {
    super(
      `Cannot start ${service}: ${describe(options.cause)}`,
      options,
    );
  }
}

/** Every part whose stop failed, with its error. */
export class ServiceStopError extends AggregateError {
  override name = "ServiceStopError";
  constructor(readonly failures: readonly StopFailure[]) {
    super(
      failures.map((f) => f.error),
      `Cannot stop ${
        failures.map((f) => `${f.service} (${describe(f.error)})`).join(", ")
      }`,
    );
  }
}

export interface StopFailure {
  readonly service: string;
  readonly error: unknown;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class Supervisor {
  readonly #services: readonly Service[];
  readonly #started: Service[] = [];
  readonly #onStopFailure: (failure: StopFailure) => void;
  #stopping: Promise<void> | null = null;

  constructor(
    services: readonly Service[],
    options: { readonly onStopFailure?: (failure: StopFailure) => void } = {},
  ) {
    const names = new Set(services.map((s) => s.name));
    if (names.size !== services.length) {
      throw new Error("Supervisor: two services share a name");
    }
    this.#services = services;
    this.#onStopFailure = options.onStopFailure ?? (() => {});
  }

  /** The names of the services that are running, in start order. */
  get running(): readonly string[] {
    return this.#started.map((s) => s.name);
  }

  /**
   * Starts every service in order. On a failure, stops the started ones
   * (in reverse) and throws `ServiceStartError`; stop failures during that
   * go to `onStopFailure`.
   */
  async start(): Promise<void> {
    if (this.#started.length > 0 || this.#stopping !== null) {
      throw new Error("Supervisor: start() is called once");
    }
    for (const service of this.#services) {
      try {
        await service.start();
      } catch (error) {
        const failures = await this.#stopStarted();
        for (const failure of failures) this.#onStopFailure(failure);
        throw new ServiceStartError(service.name, { cause: error });
      }
      this.#started.push(service);
    }
  }

  /** Stops the started services in reverse; throws `ServiceStopError` naming every one that failed. */
  stop(): Promise<void> {
    this.#stopping ??= this.#stopStarted().then((failures) => {
      if (failures.length > 0) throw new ServiceStopError(failures);
    });
    return this.#stopping;
  }

  async #stopStarted(): Promise<StopFailure[]> {
    const failures: StopFailure[] = [];
    while (this.#started.length > 0) {
      const service = this.#started.pop()!;
      try {
        await service.stop();
      } catch (error) {
        failures.push({ service: service.name, error });
      }
    }
    return failures;
  }
}

/** A service from a name and two functions (for small parts). */
export function service(
  name: string,
  start: () => Promise<void> | void,
  stop: () => Promise<void> | void = () => {},
): Service {
  let started = false;
  return {
    name,
    async start() {
      await start();
      started = true;
    },
    async stop() {
      if (!started) return;
      started = false;
      await stop();
    },
  };
}
