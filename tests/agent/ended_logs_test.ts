/**
 * Output outlives its alloc: on one real node, the last lines of a task
 * that ended (and whose container mill removed, as `mill spawn` does) and
 * of a stopped replica are kept in the data dir (0600), bounded, served by
 * `mill logs NAME` and `mill logs ALLOC` marked as ended, and still there
 * after the agent restarts.
 */
import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import { renderLogLine } from "../../cli/commands/logs.ts";
import {
  ENDED_LOG_BYTES_MAX,
  ENDED_LOG_LINES_MAX,
} from "../../node/secondary/ended_logs.ts";
import { type AgentBed, startAgentBed, waitFor } from "./_bed.ts";
import { deployByHand, startByHand } from "./_by_hand.ts";

interface LineView {
  allocId: string;
  line: string;
  stream: string;
  ended: boolean;
}

async function logsOf(bed: AgentBed, name: string, tail = 100) {
  const response = await bed.api(`/v1/services/${name}/logs?tail=${tail}`);
  assertEquals(response.status, 200);
  return (await response.json()).lines as LineView[];
}

async function endTask(bed: AgentBed, allocId: string): Promise<void> {
  await waitFor("the task's exit", () => {
    const status = bed.agent.state().allocs.get(allocId)?.status;
    return status === "failed" || status === "stopped";
  });
  // What the leader does once a task ended: its container is removed.
  await bed.agent.leader!.runtime(bed.agent.identity.nodeId).stop(
    { allocId, signal: "SIGTERM", gracePeriodMs: 1_000 },
    AbortSignal.timeout(30_000),
  );
}

Deno.test("the last lines of ended allocs are kept and served as ended", async (t) => {
  const bed = await startAgentBed();
  const signal = AbortSignal.timeout(120_000);
  const images = bed.bed.images;
  try {
    await waitFor(
      "registration",
      () => bed.agent.state().nodes.has(bed.agent.identity.nodeId),
    );
    await deployByHand(
      bed,
      "d1",
      `task "migrate" { image = "${images.crash}" }
      task "chatty" { image = "${images.sleeper}" }
      service "idle" { image = "${images.sleeper}" }`,
    );

    await t.step(
      "mill logs TASK right after the task ended and was removed prints its output",
      async () => {
        await startByHand(bed, {
          allocId: "migrate-1",
          name: "migrate",
          kind: "task",
          image: images.crash,
        }, signal);
        await endTask(bed, "migrate-1");
        for (const name of ["migrate", "migrate-1"]) {
          const lines = await logsOf(bed, name);
          assertEquals(
            lines.map((l) => [l.line, l.stream, l.ended]).sort(),
            [["about to crash", "stdout", true], ["oops", "stderr", true]],
          );
        }
        const kept = `${bed.dataDir}/ended-logs`;
        assertEquals((await Deno.stat(kept)).mode! & 0o777, 0o700);
        assertEquals(
          (await Deno.stat(`${kept}/migrate-1.json`)).mode! & 0o777,
          0o600,
        );
        assertEquals(
          renderLogLine(
            {
              allocId: "migrate-1",
              time: "",
              stream: "stdout",
              line: "oops",
              ended: true,
            },
            false,
          ),
          "migrate-1 (ended) | oops",
        );
      },
    );

    await t.step(
      "mill logs SERVICE shows a stopped replica's lines, marked, beside the live one's",
      async () => {
        for (const allocId of ["idle-1", "idle-2"]) {
          await startByHand(bed, {
            allocId,
            name: "idle",
            kind: "service",
            image: images.sleeper,
            command: ["sh", "-c", `echo i am ${allocId}; exec sleep 3600`],
          }, signal);
        }
        await waitFor(
          "both replicas' lines",
          async () => (await logsOf(bed, "idle")).length === 2,
        );
        const stopped = await bed.agent.leader!.commit({
          type: "AllocStatus",
          allocId: "idle-1",
          status: "stopped",
          atMs: Date.now(),
        });
        assertTrue(stopped.ok);
        await bed.agent.leader!.runtime(bed.agent.identity.nodeId).stop(
          { allocId: "idle-1", signal: "SIGKILL", gracePeriodMs: 0 },
          signal,
        );
        const lines = await logsOf(bed, "idle");
        assertEquals(
          lines.map((l) => [l.allocId, l.line, l.ended]).sort(),
          [["idle-1", "i am idle-1", true], ["idle-2", "i am idle-2", false]],
        );
      },
    );

    await t.step(
      "what is kept is bounded: the last 1,000 lines and at most 1 MiB",
      async () => {
        await startByHand(bed, {
          allocId: "chatty-1",
          name: "chatty",
          kind: "task",
          image: images.sleeper,
          command: [
            "sh",
            "-c",
            "head -c 3000 /dev/zero | tr '\\0' '\\n'; echo last",
          ],
        }, signal);
        await endTask(bed, "chatty-1");
        const many = await logsOf(bed, "chatty-1", 10_000);
        assertEquals(many.length, ENDED_LOG_LINES_MAX);
        assertEquals(many.at(-1)?.line, "last");
        await startByHand(bed, {
          allocId: "chatty-2",
          name: "chatty",
          kind: "task",
          image: images.sleeper,
          // 2 MiB without a newline: cut into 16 KiB lines.
          command: [
            "sh",
            "-c",
            "head -c 2097152 /dev/zero | tr '\\0' a; echo; echo last",
          ],
        }, signal);
        await endTask(bed, "chatty-2");
        const big = await logsOf(bed, "chatty-2", 10_000);
        const bytes = big.reduce((sum, l) => sum + l.line.length, 0);
        assertTrue(
          bytes <= ENDED_LOG_BYTES_MAX && bytes > ENDED_LOG_BYTES_MAX / 2,
          `${bytes}`,
        );
        assertEquals(big.at(-1)?.line, "last");
        const file = await Deno.stat(`${bed.dataDir}/ended-logs/chatty-2.json`);
        assertTrue(file.size <= ENDED_LOG_BYTES_MAX + 1024, `${file.size}`);
      },
    );

    await t.step("the kept lines survive a restart of the agent", async () => {
      await bed.restartAgent();
      await waitFor("the API answering again", async () => {
        const response = await bed.api("/v1/services/migrate/logs");
        await response.body?.cancel();
        return response.status === 200;
      });
      const lines = await logsOf(bed, "migrate");
      assertEquals(lines.map((l) => l.line).sort(), ["about to crash", "oops"]);
    });
  } finally {
    await bed.stop();
  }
});
