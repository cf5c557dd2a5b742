/**
 * A persistent (immutable, structurally shared) map from string keys to
 * values: a hash trie with 32-way branches and small leaf buckets.
 *
 * The FSM changes one alloc or node per command; copying a whole `Map` of
 * 10,000 allocs per command would cost O(n). Here `set` and `delete` copy one
 * path of at most `DEPTH_MAX` branches (32 slots each) plus one bucket of at
 * most `BUCKET_MAX` entries, and share everything else with the old map.
 *
 * Iteration order follows the key hashes: deterministic for a given history,
 * but callers that need a stable order sort (snapshots and queries do).
 */

const BITS = 5;
const WIDTH = 1 << BITS;
const MASK = WIDTH - 1;
/** A bucket splits into a branch past this many entries. */
const BUCKET_MAX = 16;
/** Six levels use 30 of the 32 hash bits; deeper buckets just grow. */
const DEPTH_MAX = 6;

interface Bucket<V> {
  readonly kind: "bucket";
  readonly hashes: readonly number[];
  readonly keys: readonly string[];
  readonly values: readonly V[];
}

interface Branch<V> {
  readonly kind: "branch";
  readonly children: readonly (Trie<V> | undefined)[];
}

type Trie<V> = Bucket<V> | Branch<V>;

/** FNV-1a over UTF-16 code units: fast, and the same on every node. */
function hashKey(key: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < key.length; index++) {
    hash ^= key.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function slotOf(hash: number, depth: number): number {
  return (hash >>> (depth * BITS)) & MASK;
}

const EMPTY_BUCKET: Bucket<never> = {
  kind: "bucket",
  hashes: [],
  keys: [],
  values: [],
};

/** The readonly view the rest of mill sees of FSM collections. */
export interface ReadonlyPMap<V> extends Iterable<[string, V]> {
  readonly size: number;
  get(key: string): V | undefined;
  has(key: string): boolean;
  keys(): IterableIterator<string>;
  values(): IterableIterator<V>;
  entries(): IterableIterator<[string, V]>;
}

/**
 * An immutable map; `set` and `delete` return a new map.
 *
 * @example
 * ```ts
 * const a = PMap.empty<number>().set("x", 1);
 * const b = a.set("y", 2); // a still has only "x"
 * ```
 */
export class PMap<V> implements ReadonlyPMap<V> {
  readonly #root: Trie<V>;
  readonly size: number;

  private constructor(root: Trie<V>, size: number) {
    this.#root = root;
    this.size = size;
  }

  static empty<V>(): PMap<V> {
    return new PMap<V>(EMPTY_BUCKET, 0);
  }

  static from<V>(entries: Iterable<readonly [string, V]>): PMap<V> {
    let map = PMap.empty<V>();
    for (const [key, value] of entries) map = map.set(key, value);
    return map;
  }

  get(key: string): V | undefined {
    const hash = hashKey(key);
    let node: Trie<V> | undefined = this.#root;
    for (let depth = 0; node !== undefined; depth++) {
      if (node.kind === "bucket") {
        for (let index = 0; index < node.keys.length; index++) {
          if (node.hashes[index] === hash && node.keys[index] === key) {
            return node.values[index];
          }
        }
        return undefined;
      }
      node = node.children[slotOf(hash, depth)];
    }
    return undefined;
  }

  has(key: string): boolean {
    return this.get(key) !== undefined;
  }

  /** A map with `key` bound to `value` (values may not be `undefined`). */
  set(key: string, value: V): PMap<V> {
    const hash = hashKey(key);
    const result = setIn(this.#root, 0, hash, key, value);
    return new PMap(result.trie, this.size + (result.added ? 1 : 0));
  }

  /** A map without `key`; the same map when `key` is absent. */
  delete(key: string): PMap<V> {
    const hash = hashKey(key);
    const trie = deleteIn(this.#root, 0, hash, key);
    if (trie === this.#root) return this;
    return new PMap(trie ?? EMPTY_BUCKET, this.size - 1);
  }

  *entries(): IterableIterator<[string, V]> {
    yield* walk(this.#root);
  }

  *keys(): IterableIterator<string> {
    for (const [key] of walk(this.#root)) yield key;
  }

  *values(): IterableIterator<V> {
    for (const [, value] of walk(this.#root)) yield value;
  }

  [Symbol.iterator](): IterableIterator<[string, V]> {
    return this.entries();
  }
}

function* walk<V>(node: Trie<V>): Generator<[string, V]> {
  if (node.kind === "bucket") {
    for (let index = 0; index < node.keys.length; index++) {
      yield [node.keys[index] as string, node.values[index] as V];
    }
    return;
  }
  for (const child of node.children) {
    if (child !== undefined) yield* walk(child);
  }
}

function setIn<V>(
  node: Trie<V>,
  depth: number,
  hash: number,
  key: string,
  value: V,
): { trie: Trie<V>; added: boolean } {
  if (node.kind === "branch") {
    const slot = slotOf(hash, depth);
    const child = node.children[slot] ?? EMPTY_BUCKET;
    const result = setIn(child, depth + 1, hash, key, value);
    const children = node.children.slice();
    children[slot] = result.trie;
    return { trie: { kind: "branch", children }, added: result.added };
  }
  const index = indexInBucket(node, hash, key);
  if (index >= 0) {
    const values = node.values.slice();
    values[index] = value;
    return { trie: { ...node, values }, added: false };
  }
  const bucket: Bucket<V> = {
    kind: "bucket",
    hashes: [...node.hashes, hash],
    keys: [...node.keys, key],
    values: [...node.values, value],
  };
  if (bucket.keys.length <= BUCKET_MAX || depth >= DEPTH_MAX) {
    return { trie: bucket, added: true };
  }
  return { trie: splitBucket(bucket, depth), added: true };
}

function splitBucket<V>(bucket: Bucket<V>, depth: number): Branch<V> {
  const children: (Trie<V> | undefined)[] = new Array(WIDTH).fill(undefined);
  for (let index = 0; index < bucket.keys.length; index++) {
    const hash = bucket.hashes[index] as number;
    const slot = slotOf(hash, depth);
    const child = children[slot] ?? EMPTY_BUCKET;
    children[slot] = setIn(
      child,
      depth + 1,
      hash,
      bucket.keys[index] as string,
      bucket.values[index] as V,
    ).trie;
  }
  return { kind: "branch", children };
}

function indexInBucket<V>(bucket: Bucket<V>, hash: number, key: string) {
  for (let index = 0; index < bucket.keys.length; index++) {
    if (bucket.hashes[index] === hash && bucket.keys[index] === key) {
      return index;
    }
  }
  return -1;
}

/** The trie without `key`: the same node when absent, undefined when emptied. */
function deleteIn<V>(
  node: Trie<V>,
  depth: number,
  hash: number,
  key: string,
): Trie<V> | undefined {
  if (node.kind === "bucket") {
    const index = indexInBucket(node, hash, key);
    if (index < 0) return node;
    if (node.keys.length === 1) return undefined;
    return {
      kind: "bucket",
      hashes: node.hashes.filter((_, at) => at !== index),
      keys: node.keys.filter((_, at) => at !== index),
      values: node.values.filter((_, at) => at !== index),
    };
  }
  const slot = slotOf(hash, depth);
  const child = node.children[slot];
  if (child === undefined) return node;
  const updated = deleteIn(child, depth + 1, hash, key);
  if (updated === child) return node;
  const children = node.children.slice();
  children[slot] = updated;
  if (children.every((entry) => entry === undefined)) return undefined;
  return { kind: "branch", children };
}
