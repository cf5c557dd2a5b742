import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { PMap } from "./pmap.ts";
import { testSeeds, withSeed } from "./seed_testing.ts";
import { Rng } from "./testing.ts";

function sortedEntries<V>(entries: Iterable<[string, V]>): [string, V][] {
  return [...entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

Deno.test("PMap matches a plain Map over random sets and deletes", () => {
  for (const seed of testSeeds(10)) {
    withSeed(seed, () => {
      const rng = new Rng(seed);
      let map = PMap.empty<number>();
      const reference = new Map<string, number>();
      for (let step = 0; step < 5000; step++) {
        const key = `k${rng.int(0, 800)}`;
        if (rng.bool(0.35)) {
          map = map.delete(key);
          reference.delete(key);
        } else {
          map = map.set(key, step);
          reference.set(key, step);
        }
        if (step % 500 === 0) {
          strictEqual(map.size, reference.size);
          deepStrictEqual(sortedEntries(map), sortedEntries(reference));
        }
        strictEqual(map.get(key), reference.get(key));
      }
      strictEqual(map.size, reference.size);
      deepStrictEqual(sortedEntries(map), sortedEntries(reference));
      deepStrictEqual([...map.keys()].length, reference.size);
    });
  }
});

Deno.test("PMap leaves earlier versions unchanged", () => {
  const empty = PMap.empty<string>();
  const one = empty.set("a", "1");
  const two = one.set("b", "2");
  const changed = two.set("a", "changed");
  const removed = changed.delete("b");
  strictEqual(empty.size, 0);
  strictEqual(one.get("a"), "1");
  strictEqual(one.has("b"), false);
  strictEqual(two.get("a"), "1");
  strictEqual(changed.get("a"), "changed");
  strictEqual(changed.get("b"), "2");
  strictEqual(removed.has("b"), false);
  strictEqual(removed.size, 1);
});

Deno.test("PMap.delete of an absent key returns the same map", () => {
  const map = PMap.from([["a", 1], ["b", 2]]);
  strictEqual(map.delete("zzz"), map);
});

Deno.test("PMap holds thousands of keys and finds each", () => {
  let map = PMap.empty<number>();
  for (let index = 0; index < 20_000; index++) {
    map = map.set(`alloc-${index}`, index);
  }
  strictEqual(map.size, 20_000);
  for (let index = 0; index < 20_000; index += 7) {
    strictEqual(map.get(`alloc-${index}`), index);
  }
  strictEqual(map.get("alloc-20000"), undefined);
  let emptied = map;
  for (let index = 0; index < 20_000; index++) {
    emptied = emptied.delete(`alloc-${index}`);
  }
  strictEqual(emptied.size, 0);
  deepStrictEqual([...emptied], []);
});
