/**
 * Little-endian binary writer and reader shared by the WAL, the snapshot
 * files and the transport's message frames. Integers up to 2^53 are written
 * as u64 (two u32 halves); strings as u32 length + UTF-8; byte strings as
 * u32 length + bytes.
 */

const TWO_32 = 0x1_0000_0000;
const ENCODER = new TextEncoder();
const DECODER = new TextDecoder("utf-8", { fatal: true });

/** Raised when bytes end early or hold an impossible value. */
export class DecodeError extends Error {
  override name = "DecodeError";
  readonly code = "raft.decode";
}

/** A growable buffer; `bytes()` returns a view of what was written. */
export class ByteWriter {
  #buf: Uint8Array<ArrayBuffer>;
  #view: DataView;
  #len = 0;

  constructor(capacity = 256) {
    this.#buf = new Uint8Array(capacity);
    this.#view = new DataView(this.#buf.buffer);
  }

  get length(): number {
    return this.#len;
  }

  #reserve(n: number): void {
    const need = this.#len + n;
    if (need <= this.#buf.length) return;
    let capacity = this.#buf.length * 2;
    while (capacity < need) capacity *= 2;
    const next = new Uint8Array(capacity);
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
  }

  u8(value: number): this {
    this.#reserve(1);
    this.#buf[this.#len++] = value;
    return this;
  }

  u32(value: number): this {
    this.#reserve(4);
    this.#view.setUint32(this.#len, value, true);
    this.#len += 4;
    return this;
  }

  /** Overwrites a u32 already written at `offset` (length/CRC back-patching). */
  patchU32(offset: number, value: number): void {
    if (offset + 4 > this.#len) throw new RangeError("patchU32 past the end");
    this.#view.setUint32(offset, value, true);
  }

  u64(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`u64 out of range: ${value}`);
    }
    this.u32(value % TWO_32);
    return this.u32(Math.floor(value / TWO_32));
  }

  bytes(value: Uint8Array): this {
    this.u32(value.length);
    return this.raw(value);
  }

  raw(value: Uint8Array): this {
    this.#reserve(value.length);
    this.#buf.set(value, this.#len);
    this.#len += value.length;
    return this;
  }

  string(value: string): this {
    return this.bytes(ENCODER.encode(value));
  }

  /** A view of the written bytes (valid until the next write). */
  view(): Uint8Array<ArrayBuffer> {
    return this.#buf.subarray(0, this.#len);
  }

  /** Views bytes written from `start` up to now. */
  viewFrom(start: number): Uint8Array<ArrayBuffer> {
    return this.#buf.subarray(start, this.#len);
  }
}

/** Reads what a `ByteWriter` wrote; throws `DecodeError` on short input. */
export class ByteReader {
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  #pos = 0;

  constructor(buf: Uint8Array) {
    this.#buf = buf;
    this.#view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get remaining(): number {
    return this.#buf.length - this.#pos;
  }

  #need(n: number): void {
    if (this.#pos + n > this.#buf.length) {
      throw new DecodeError(
        `Need ${n} bytes at offset ${this.#pos} but only ${this.remaining} remain`,
      );
    }
  }

  u8(): number {
    this.#need(1);
    return this.#buf[this.#pos++]!;
  }

  u32(): number {
    this.#need(4);
    const value = this.#view.getUint32(this.#pos, true);
    this.#pos += 4;
    return value;
  }

  u64(): number {
    const lo = this.u32();
    const hi = this.u32();
    const value = hi * TWO_32 + lo;
    if (!Number.isSafeInteger(value)) {
      throw new DecodeError(`u64 beyond 2^53 at offset ${this.#pos - 8}`);
    }
    return value;
  }

  /** Reads a length-prefixed byte string (a copy, safe to keep). */
  bytes(): Uint8Array {
    const n = this.u32();
    this.#need(n);
    const value = this.#buf.slice(this.#pos, this.#pos + n);
    this.#pos += n;
    return value;
  }

  string(): string {
    const n = this.u32();
    this.#need(n);
    try {
      return DECODER.decode(this.#buf.subarray(this.#pos, this.#pos + n));
    } catch (err) {
      throw new DecodeError(`Invalid UTF-8 at offset ${this.#pos}`, {
        cause: err,
      });
    } finally {
      this.#pos += n;
    }
  }

  /** Throws unless every byte was consumed. */
  end(): void {
    if (this.remaining !== 0) {
      throw new DecodeError(
        `${this.remaining} trailing bytes at offset ${this.#pos}`,
      );
    }
  }
}
