import { assertEquals, assertTrue } from "../../containerd/_assert_test.ts";
import type { LogEntry } from "../../containerd/mod.ts";
import {
  boundLines,
  ENDED_LOG_BYTES_MAX,
  ENDED_LOG_LINES_MAX,
  ENDED_LOGS_ALLOCS_MAX,
  EndedLogs,
} from "./ended_logs.ts";

function lines(count: number, width = 1): LogEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    timeMs: i,
    stream: i % 2 === 0 ? "stdout" : "stderr",
    line: `${i}`.padEnd(width, "x"),
  }));
}

Deno.test("boundLines() keeps the newest lines within the line and byte bounds", () => {
  const many = boundLines(lines(2_500));
  assertEquals(many.length, ENDED_LOG_LINES_MAX);
  assertEquals(many[0]?.line, "1500");
  assertEquals(many.at(-1)?.line, "2499");
  const wide = boundLines(lines(200, 16 * 1024));
  const bytes = wide.reduce(
    (sum, entry) => sum + JSON.stringify(entry).length + 1,
    0,
  );
  assertTrue(bytes <= ENDED_LOG_BYTES_MAX, `${bytes}`);
  assertTrue(wide.length > 50 && wide.length < 64, `${wide.length}`);
  assertEquals(wide.at(-1)?.line.slice(0, 3), "199");
  assertEquals(boundLines([]), []);
});

Deno.test("EndedLogs keeps lines 0600 in a 0700 dir, reads them back after a reopen, and sweeps purged allocs after the grace", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mill-ended-logs-" });
  let now = 1_000_000;
  try {
    const store = new EndedLogs(`${dir}/ended-logs`, () => now);
    await store.open(() => {});
    await store.save("web:d1:0", lines(3));
    assertEquals(
      (await Deno.stat(`${dir}/ended-logs`)).mode! & 0o777,
      0o700,
    );
    assertEquals(
      (await Deno.stat(`${dir}/ended-logs/web%3Ad1%3A0.json`)).mode! & 0o777,
      0o600,
    );
    await Deno.writeTextFile(`${dir}/ended-logs/junk.json`, "{not json");
    const bad: string[] = [];
    const again = new EndedLogs(`${dir}/ended-logs`, () => now);
    await again.open((name) => bad.push(name));
    assertEquals(bad, ["junk.json"]);
    assertEquals(
      (await again.read("web:d1:0"))?.map((l) => l.line),
      ["0", "1", "2"],
    );
    assertEquals(await again.read("unknown"), undefined);
    // Purged from the state, but within the grace: kept.
    assertEquals(await again.sweep(() => false, 60_000), []);
    now += 60_001;
    assertEquals(await again.sweep((id) => id !== "web:d1:0", 60_000), [
      "web:d1:0",
    ]);
    assertEquals(await again.read("web:d1:0"), undefined);
    assertEquals([...Deno.readDirSync(`${dir}/ended-logs`)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("EndedLogs keeps at most ENDED_LOGS_ALLOCS_MAX allocs, dropping the oldest ended", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mill-ended-logs-" });
  let now = 0;
  try {
    const store = new EndedLogs(dir, () => now++);
    await store.open(() => {});
    for (let i = 0; i <= ENDED_LOGS_ALLOCS_MAX; i++) {
      await store.save(`a${i}`, lines(1));
    }
    assertEquals(store.allocIds.length, ENDED_LOGS_ALLOCS_MAX);
    assertEquals(store.has("a0"), false);
    assertEquals(store.has(`a${ENDED_LOGS_ALLOCS_MAX}`), true);
    assertEquals([...Deno.readDirSync(dir)].length, ENDED_LOGS_ALLOCS_MAX);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
