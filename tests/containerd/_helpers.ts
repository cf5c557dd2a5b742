/** Shared by the containerd integration tests: event waits, typed-error checks, leftovers. */
import {
  assertEquals,
  assertRejects,
  assertTrue,
} from "../../containerd/_assert_test.ts";
import {
  type ContainerdClient,
  ContainerdError,
  type TaskEvent,
} from "../../containerd/mod.ts";

export const WAIT_MS = 20_000;

/** Resolves when `predicate` holds for a pushed event, under a deadline. */
export class EventLog {
  readonly events: TaskEvent[] = [];
  #waiters: {
    predicate: (e: TaskEvent) => boolean;
    resolve: (e: TaskEvent) => void;
  }[] = [];
  push(event: TaskEvent): void {
    this.events.push(event);
    this.#waiters = this.#waiters.filter((w) => {
      if (!w.predicate(event)) return true;
      w.resolve(event);
      return false;
    });
  }
  async waitFor(
    what: string,
    predicate: (e: TaskEvent) => boolean,
  ): Promise<TaskEvent> {
    const seen = this.events.find(predicate);
    if (seen !== undefined) return seen;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      return await Promise.race([
        new Promise<TaskEvent>((resolve) =>
          this.#waiters.push({ predicate, resolve })
        ),
        new Promise<never>((_, reject) =>
          timer = setTimeout(
            () => reject(new Error(`no ${what} event`)),
            WAIT_MS,
          )
        ),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
}

export async function waitUntil(
  what: string,
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export async function expectCode(
  code: string,
  reference: string,
  fn: () => Promise<unknown>,
): Promise<void> {
  const error = await assertRejects(fn, ContainerdError);
  assertEquals(error.code, code, error.message);
  assertTrue(
    error.message.includes(reference),
    `"${error.message}" names "${reference}"`,
  );
}

export async function leftovers(client: ContainerdClient) {
  return {
    containers: (await client.listContainers()).map((c) => c.id),
    tasks: (await client.listTasks()).map((t) => t.id),
    leases: (await client.listLeases()).map((l) => l.id),
    ingests: (await client.listIngests()).map((i) => i.ref),
    activeSnapshots: (await client.listSnapshots()).filter((s) =>
      s.kind !== "COMMITTED"
    ).map((s) => s.name),
  };
}

export const NOTHING = {
  containers: [],
  tasks: [],
  leases: [],
  ingests: [],
  activeSnapshots: [],
};
