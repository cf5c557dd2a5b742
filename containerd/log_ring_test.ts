import { assertEquals } from "./_assert_test.ts";
import { LineSplitter, LogRing } from "./log_ring.ts";

function seed(): number {
  const fromEnv = Deno.env.get("MILL_SEED");
  return fromEnv === undefined
    ? Math.floor(Math.random() * 2 ** 31)
    : Number(fromEnv);
}

function rng(state: number): () => number {
  return () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

Deno.test("LogRing keeps the newest lines in order and counts the dropped ones", () => {
  const ring = new LogRing(3);
  for (let i = 0; i < 5; i++) {
    ring.push({ timeMs: i, stream: "stdout", line: `l${i}` });
  }
  assertEquals(ring.entries().map((e) => e.line), ["l2", "l3", "l4"]);
  assertEquals(ring.entries(2).map((e) => e.line), ["l3", "l4"]);
  assertEquals(ring.droppedLines, 2);
  assertEquals(ring.size, 3);
});

Deno.test("LogRing matches a plain array's tail for random pushes", () => {
  const s = seed();
  try {
    const random = rng(s);
    for (let round = 0; round < 50; round++) {
      const capacity = 1 + Math.floor(random() * 10);
      const ring = new LogRing(capacity);
      const all: string[] = [];
      const n = Math.floor(random() * 40);
      for (let i = 0; i < n; i++) {
        const line = `x${i}`;
        all.push(line);
        ring.push({
          timeMs: i,
          stream: random() < 0.5 ? "stdout" : "stderr",
          line,
        });
      }
      assertEquals(ring.entries().map((e) => e.line), all.slice(-capacity));
    }
  } catch (error) {
    console.error(`reproduce with MILL_SEED=${s}`);
    throw error;
  }
});

Deno.test("LineSplitter joins lines split across chunks and cuts long ones", async (t) => {
  const enc = (s: string) => new TextEncoder().encode(s);
  await t.step("split across chunks", () => {
    const splitter = new LineSplitter();
    assertEquals(splitter.push(enc("hel")), []);
    assertEquals(splitter.push(enc("lo\nwor")), ["hello"]);
    assertEquals(splitter.push(enc("ld\r\n\n")), ["world", ""]);
    assertEquals(splitter.flush(), []);
  });
  await t.step("unterminated rest at the end", () => {
    const splitter = new LineSplitter();
    assertEquals(splitter.push(enc("a\nb")), ["a"]);
    assertEquals(splitter.flush(), ["b"]);
  });
  await t.step("a line over the bound is cut", () => {
    const splitter = new LineSplitter(4);
    assertEquals(splitter.push(enc("abcdefghij\n")), ["abcd", "efgh", "ij"]);
  });
});
