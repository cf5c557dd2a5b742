import { assertEquals } from "../../containerd/_assert_test.ts";
import type { ExitCause } from "../restart/mod.ts";
import {
  containerIdOf,
  exitCauseOf,
  exitCodeOf,
  reportOfExit,
} from "./exits.ts";

Deno.test("containerIdOf() keeps container-safe alloc ids and rewrites the rest", async (t) => {
  const cases: [string, string][] = [
    ["web-d1-0", "web-d1-0"],
    ["web:d1:0", "web_d1_0"],
    ["_x", "a_x"],
    ["a.b_c-d", "a.b_c-d"],
  ];
  for (const [allocId, expected] of cases) {
    await t.step(allocId, () => assertEquals(containerIdOf(allocId), expected));
  }
});

Deno.test("exitCauseOf() reads 128+n as a signal and anything else as an exit code", async (t) => {
  const cases: [number, boolean, ExitCause][] = [
    [0, false, { kind: "exited", code: 0 }],
    [3, false, { kind: "exited", code: 3 }],
    [128, false, { kind: "exited", code: 128 }],
    [137, false, { kind: "killed", signal: "SIGKILL" }],
    [143, false, { kind: "killed", signal: "SIGTERM" }],
    [137, true, { kind: "oom" }],
    [255, false, { kind: "exited", code: 255 }],
  ];
  for (const [status, oom, expected] of cases) {
    await t.step(
      `${status}${oom ? " after an OOM" : ""}`,
      () => assertEquals(exitCauseOf(status, oom), expected),
    );
  }
});

Deno.test("reportOfExit() makes clean exits stopped and the rest failed, with the code", async (t) => {
  const cases: [ExitCause, string, number | null][] = [
    [{ kind: "exited", code: 0 }, "stopped", 0],
    [{ kind: "stopped" }, "stopped", null],
    [{ kind: "exited", code: 2 }, "failed", 2],
    [{ kind: "killed", signal: "SIGKILL" }, "failed", 137],
    [{ kind: "oom" }, "failed", 137],
    [{ kind: "start-failed" }, "failed", null],
  ];
  for (const [exit, status, code] of cases) {
    await t.step(JSON.stringify(exit), () => {
      const report = reportOfExit("a1", exit);
      assertEquals(report.status, status);
      assertEquals(report.exitCode ?? null, code);
      assertEquals(exitCodeOf(exit), code);
    });
  }
});
