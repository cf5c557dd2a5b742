import {
  deepStrictEqual as assertEquals,
  ok as assert,
} from "node:assert/strict";
import { SeededRng } from "../rng.ts";
import type { Entry, Snapshot } from "../types.ts";
import { SimDisk } from "./disk.ts";

const SNAPSHOT: Snapshot = {
  meta: { index: 0, term: 0, membership: { voters: ["a"], learners: [] } },
  data: new Uint8Array(),
};

function entries(from: number, to: number, term: number): Entry[] {
  const list: Entry[] = [];
  for (let index = from; index <= to; index++) {
    list.push({
      index,
      term,
      kind: "command",
      data: new TextEncoder().encode(`e${index}t${term}`),
    });
  }
  return list;
}

Deno.test("SimDisk keeps every fsynced entry through crashes that tear the writes in flight", () => {
  for (let seed = 1; seed <= 200; seed++) {
    const rng = new SeededRng(seed);
    const disk = new SimDisk(SNAPSHOT);
    let term = 1;
    let last = 0;
    let synced = 0;
    for (let step = 0; step < 60; step++) {
      if (rng.chance(0.2)) term++;
      const count = 1 + rng.nextInt(6);
      disk.stage({
        hardState: { term, vote: "a", commit: synced },
        entries: entries(last + 1, last + count, term),
      });
      last += count;
      if (rng.chance(0.7)) {
        disk.sync();
        synced = last;
        continue;
      }
      disk.crash(rng);
      // recover() throws a SafetyViolation ("durability") on a lost entry.
      const recovery = disk.recover();
      assert(recovery.ok, `seed ${seed}: refused without corruption`);
      const recovered = recovery.entries.length;
      assert(
        recovered >= synced && recovered <= last,
        `seed ${seed} step ${step}: ${recovered} entries, ${synced} fsynced, ${last} written`,
      );
      assert(recovery.hardState.term >= (recovery.entries.at(-1)?.term ?? 0));
      last = recovered;
      synced = recovered;
    }
  }
});

Deno.test("SimDisk can keep the hard state without the WAL write, or the WAL write without the hard state", () => {
  const seen = new Set<string>();
  for (let seed = 1; seed <= 200 && seen.size < 2; seed++) {
    const rng = new SeededRng(seed);
    const disk = new SimDisk(SNAPSHOT);
    disk.stage({
      hardState: { term: 1, vote: "a", commit: 0 },
      entries: entries(1, 2, 1),
    });
    disk.sync();
    disk.stage({
      hardState: { term: 2, vote: null, commit: 0 },
      entries: entries(3, 4, 2),
    });
    const outcome = disk.crash(rng);
    const recovery = disk.recover();
    assert(recovery.ok);
    const walKept = recovery.entries.length > 2;
    if (outcome.hardStateKept && !walKept) seen.add("hard state only");
    if (!outcome.hardStateKept && walKept) {
      // The log is ahead of the hard state: recovery raises the term.
      assertEquals(recovery.hardState.term, 2);
      assertEquals(recovery.hardState.vote, null);
      assert(recovery.termRaised);
      seen.add("WAL only");
    }
  }
  assertEquals(seen, new Set(["hard state only", "WAL only"]));
});

Deno.test("SimDisk refuses to recover after a bit flips in its fsynced WAL", () => {
  for (let seed = 1; seed <= 100; seed++) {
    const rng = new SeededRng(seed);
    const disk = new SimDisk(SNAPSHOT);
    for (let i = 0; i < 10; i++) {
      disk.stage({
        hardState: { term: 1, vote: "a", commit: i * 3 },
        entries: entries(i * 3 + 1, i * 3 + 3, 1),
      });
      disk.sync();
    }
    const flip = disk.flipBit(rng);
    disk.crash(rng);
    const recovery = disk.recover();
    assert(!recovery.ok, `seed ${seed}: ${JSON.stringify(flip)} not refused`);
    assert(recovery.message.includes("corrupt"), recovery.message);
  }
});
