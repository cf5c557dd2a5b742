/**
 * Seeded random WAL histories checked against an in-memory model: appends
 * (some replacing a conflicting suffix), deferred commits, compactions,
 * clean reopens and crashes that cut the last batch at a random byte. After
 * a crash the recovered log must equal the model before that batch plus
 * some prefix of the batch — never anything else.
 */
import { deepStrictEqual as assertEquals } from "node:assert/strict";
import { SeededRng } from "../rng.ts";
import type { Entry } from "../types.ts";
import { Wal } from "./wal.ts";

const SEEDS = 25;
const STEPS = 40;
const SEGMENT_BYTES = 300;

interface Model {
  base: { index: number; term: number };
  entries: Entry[];
}

function cloneModel(model: Model): Model {
  return { base: { ...model.base }, entries: [...model.entries] };
}

function applyAppend(model: Model, batch: readonly Entry[]): void {
  for (const entry of batch) {
    model.entries.length = entry.index - model.base.index - 1;
    model.entries.push(entry);
  }
}

function lastIndex(model: Model): number {
  return model.base.index + model.entries.length;
}

async function runSeed(seed: number): Promise<void> {
  const rng = new SeededRng(seed);
  const dir = await Deno.makeTempDir({ prefix: `mill-walprop-${seed}-` });
  try {
    let model: Model = { base: { index: 0, term: 0 }, entries: [] };
    let term = 1;
    let opened = await Wal.open(dir, model.base, {
      segmentBytesMax: SEGMENT_BYTES,
    });
    let wal = opened.wal;
    for (let step = 0; step < STEPS; step++) {
      const roll = rng.nextInt(10);
      if (roll < 5) {
        const last = lastIndex(model);
        const start = model.base.index + 1 +
          rng.nextInt(last - model.base.index + 1);
        if (rng.chance(0.3)) term++;
        const count = 1 + rng.nextInt(5);
        const batch: Entry[] = Array.from({ length: count }, (_, i) => ({
          index: start + i,
          term,
          kind: "command",
          data: new TextEncoder().encode(`s${seed}-${step}-${i}`),
        }));
        const before = cloneModel(model);
        const segments = wal.segmentNames;
        const active = `${dir}/${segments[segments.length - 1]}`;
        const sizeBefore = (await Deno.stat(active)).size;
        await wal.append({ entries: batch });
        applyAppend(model, batch);
        if (rng.chance(0.25) && wal.segmentNames.length === segments.length) {
          // Crash: the last batch is cut at a random byte.
          await wal.close();
          const size = (await Deno.stat(active)).size;
          const cut = sizeBefore + rng.nextInt(size - sizeBefore);
          await Deno.truncate(active, cut);
          opened = await Wal.open(dir, model.base, {
            segmentBytesMax: SEGMENT_BYTES,
          });
          wal = opened.wal;
          const recovered = opened.recovery.entries;
          const candidates = Array.from(
            { length: batch.length + 1 },
            (_, m) => {
              const candidate = cloneModel(before);
              applyAppend(candidate, batch.slice(0, m));
              return candidate;
            },
          );
          const match = candidates.find((c) =>
            JSON.stringify(c.entries) === JSON.stringify(recovered)
          );
          assertEquals(
            match !== undefined,
            true,
            `step ${step}: recovered log is no prefix of the last batch`,
          );
          model = match!;
        }
      } else if (roll < 6) {
        wal.appendDeferred({ entries: [], commit: lastIndex(model) });
      } else if (roll < 8 && model.entries.length > 0) {
        const at = model.entries[rng.nextInt(model.entries.length)]!;
        await wal.append({
          entries: [],
          snapshot: { index: at.index, term: at.term },
        });
        await wal.removeSegmentsThrough(at.index);
        model.entries = model.entries.slice(at.index - model.base.index);
        model.base = { index: at.index, term: at.term };
      } else {
        await wal.close();
        opened = await Wal.open(dir, model.base, {
          segmentBytesMax: SEGMENT_BYTES,
        });
        wal = opened.wal;
        assertEquals(
          opened.recovery.entries,
          model.entries,
          `step ${step}: clean reopen`,
        );
      }
    }
    await wal.close();
    const last = await Wal.open(dir, model.base, {
      segmentBytesMax: SEGMENT_BYTES,
    });
    assertEquals(last.recovery.entries, model.entries);
    await last.wal.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("Wal recovers what a model predicts over seeded random histories with crashes (MILL_SEED)", async () => {
  const fixed = Deno.env.get("MILL_SEED");
  const first = fixed === undefined ? Date.now() % 1_000_000 : Number(fixed);
  const count = fixed === undefined ? SEEDS : 1;
  for (let seed = first; seed < first + count; seed++) {
    try {
      await runSeed(seed);
    } catch (err) {
      console.error(`reproduce with MILL_SEED=${seed}`);
      throw err;
    }
  }
});
