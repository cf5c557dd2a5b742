import {
  assertEquals,
  assertRejects,
  assertThrows,
  assertTrue,
} from "../../containerd/_assert_test.ts";
import {
  service,
  ServiceStartError,
  ServiceStopError,
  Supervisor,
} from "./supervisor.ts";

function recorder() {
  const events: string[] = [];
  const part = (
    name: string,
    faults: { start?: boolean; stop?: boolean } = {},
  ) =>
    service(
      name,
      () => {
        events.push(`start ${name}`);
        if (faults.start) throw new Error(`${name} cannot start`);
      },
      () => {
        events.push(`stop ${name}`);
        if (faults.stop) throw new Error(`${name} cannot stop`);
      },
    );
  return { events, part };
}

Deno.test("Supervisor starts services in order and stops them in reverse, once", async () => {
  const { events, part } = recorder();
  const supervisor = new Supervisor([part("a"), part("b"), part("c")]);
  await supervisor.start();
  assertEquals(supervisor.running, ["a", "b", "c"]);
  await supervisor.stop();
  await supervisor.stop();
  assertEquals(events, [
    "start a",
    "start b",
    "start c",
    "stop c",
    "stop b",
    "stop a",
  ]);
  assertEquals(supervisor.running, []);
});

Deno.test("Supervisor stops what started when a start fails, and names the part", async () => {
  const { events, part } = recorder();
  const failures: string[] = [];
  const supervisor = new Supervisor(
    [
      part("a"),
      part("b", { stop: true }),
      part("c", { start: true }),
      part("d"),
    ],
    { onStopFailure: (failure) => failures.push(failure.service) },
  );
  const error = await assertRejects(
    () => supervisor.start(),
    ServiceStartError,
  );
  assertEquals(error.service, "c");
  assertTrue(error.message.includes("c cannot start"));
  assertEquals(events, ["start a", "start b", "start c", "stop b", "stop a"]);
  assertEquals(failures, ["b"]);
});

Deno.test("Supervisor keeps stopping when a stop fails and reports every failure", async () => {
  const { events, part } = recorder();
  const supervisor = new Supervisor([
    part("a", { stop: true }),
    part("b"),
    part("c", { stop: true }),
  ]);
  await supervisor.start();
  const error = await assertRejects(() => supervisor.stop(), ServiceStopError);
  assertEquals(error.failures.map((f) => f.service), ["c", "a"]);
  assertEquals(events.slice(3), ["stop c", "stop b", "stop a"]);
});

Deno.test("Supervisor refuses two services of one name and a second start", async () => {
  const { part } = recorder();
  assertThrows(() => new Supervisor([part("a"), part("a")]), Error);
  const supervisor = new Supervisor([part("a")]);
  await supervisor.start();
  await assertRejects(() => supervisor.start(), Error);
  await supervisor.stop();
});
