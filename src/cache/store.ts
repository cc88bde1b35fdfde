// Cache entries in the shared arena: key hashing, writing an entry (header, msgpackr meta,
// body) into reserved ring space and publishing it, and reading one back as a view.
// Layout: shm/layout.ts. Used by workers and by the compression pool's threads.
import { fmix } from '../native/fallback.js';
import { Packr } from 'msgpackr';
import {
  ENTRY_HASH_HI, ENTRY_HASH_LO, ENTRY_HEADER_BYTES, ENTRY_LENGTH, ENTRY_META_LEN,
} from '../shm/layout.js';
import type { CacheTable, EntryRef } from './table.js';

/** What is stored with a body: enough to answer from the cache and to judge its freshness. */
export interface EntryMeta {
  /** The full key: a hash match is confirmed against it (no collision is ever served). */
  readonly key: string;
  readonly status: number;
  readonly reason: string;
  /** Response headers as sent to clients (filtered: no hop-by-hop, Date or framing). */
  readonly headers: string[];
  /** ms since the epoch when the response head arrived. */
  readonly responseTime: number;
  /** RFC 9111 corrected_initial_age, seconds. */
  readonly initialAge: number;
  /** Freshness lifetime, seconds (0: revalidate before every use). */
  readonly lifetime: number;
  /** The lifetime is a heuristic one (RFC 9111 §4.2.2), not the upstream's. */
  readonly heuristic: boolean;
  /** Seconds past the lifetime it may be served while one refresh runs / instead of an upstream error (-1: none). */
  readonly staleWhileRevalidate: number;
  readonly staleIfError: number;
  /** must-revalidate, proxy-revalidate, s-maxage or no-cache: never served stale. */
  readonly noStale: boolean;
  /** Targeted cache fields (RFC 9213) as received: kept for a 304's merge, never sent to clients. */
  readonly targeted: string[];
  /** The upstream's Date ('' when it sent none): If-Modified-Since is judged by it without Last-Modified. */
  readonly date: string;
  /** Vary: the header names (lowercase) and the values the storing request had. */
  readonly varyNames: string[];
  readonly varyValues: string[];
  /** May answer requests carrying Authorization (RFC 9111 §3.5). */
  readonly authOk: boolean;
  /** Content-Encoding of this body as stored: '' for the upstream's own, else a variant we made. */
  readonly encoding: string;
  /**
   * The target the client asked for (normalised path, then `?query` when there is one), when the
   * key's differs from it (strip_prefix or a rewrite changed the path the upstream is told): a
   * prefix purge matches the URL clients see.
   */
  readonly target?: string;
  /** Vary marker only (no response): the variants' key hashes as (hi, lo) pairs, newest first. */
  readonly variants?: number[];
  /** Vary marker only: the latest EXPIRES of its variants. */
  readonly until?: number;
}

/** An entry found in the arena. The body is a view into shared memory: check `intact` before and after using it. */
export interface StoredEntry {
  readonly meta: EntryMeta;
  readonly pos: number;
  /** Entry bytes (header, meta and body). */
  readonly length: number;
  /** Arena offset and length of the body. */
  readonly bodyOffset: number;
  readonly bodyLength: number;
  /** The slot's flags when it was found (FLAG_SOFT_PURGED). */
  readonly flags: number;
}

// Plain maps and arrays: msgpackr's record structures would live in one thread's Packr.
const packr = new Packr({ useRecords: false, moreTypes: false });

/**
 * Decoded metas by ring position, per thread. A position is never reused (the cursor only
 * grows), so a position names one entry for ever: a hit on a known entry decodes nothing.
 * (Decoding from the shared arena is also slow: msgpackr's native string extractor refuses
 * SharedArrayBuffer views, throws, and falls back, about 12 µs a time; a private copy
 * decodes in about 2.) Bounded; the oldest decoded goes first.
 */
const decodedByArena = new WeakMap<ArrayBufferLike, Map<number, EntryMeta>>();
const DECODED_MAX = 4096;

/** What reading entries out of one arena needs, made once per arena. */
interface ArenaReader {
  readonly buffer: ArrayBufferLike;
  /**
   * One DataView over the arena's whole buffer, for reading entry headers: a DataView per read
   * is a call into V8's C++ runtime (about 1% of a 13 B hit). Offsets into it are the arena
   * offsets the slots hold.
   */
  readonly view: DataView;
  /** This arena's decoded metas (decodedByArena). */
  readonly decoded: Map<number, EntryMeta>;
}

/** The reader readEntry used last: a worker has one arena, so a one-entry memo suffices (no WeakMap get per hit). */
let lastReader: ArenaReader | null = null;
/** The table lastReader was looked up for: the same table skips reading its arena's buffer (a getter). */
let lastTable: CacheTable | null = null;
function readerOf(table: CacheTable): ArenaReader {
  if (table === lastTable) return lastReader!;
  const buffer = table.arena.buffer;
  lastTable = table;
  if (lastReader !== null && lastReader.buffer === buffer) return lastReader;
  let decoded = decodedByArena.get(buffer);
  if (decoded === undefined) decodedByArena.set(buffer, (decoded = new Map()));
  return (lastReader = { buffer, view: new DataView(buffer), decoded });
}

/**
 * The key's 64-bit hash as two int32s (the slot's representation); 0/0 is reserved for "empty".
 * Two 32-bit lanes take the key's UTF-16 code units one at a time (multiply, then rotate, so
 * high bits reach low ones); the finish mixes in the length and runs murmur3's fmix on both.
 * Every thread hashes the same way; a collision is caught by the full key stored with the entry.
 *
 * Code units one at a time, so that a key can be hashed by its parts (KeyPrefix.hashAfter):
 * a request's key shares its prefix (route, upstream, scheme, host) with the route's other
 * requests, and reading a string's characters costs some 2 ns each here. Hashing only the path
 * and query of a 13 B hit's key, and never flattening the key string for it, measured 390 → 160
 * ns per request (session 10).
 */
export function hashKey(key: string): [hi: number, lo: number] {
  lane1 = SEED1;
  lane2 = SEED2;
  absorb(key);
  return finishHash(key.length);
}

const SEED1 = 0x50c4;
const SEED2 = 0x9e3779b9 | 0;

/** The lanes between absorb() calls (module state, so that hashing allocates nothing until the finish). */
let lane1 = 0;
let lane2 = 0;

function absorb(s: string): void {
  let h1 = lane1;
  let h2 = lane2;
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 0x9e3779b1);
    h1 = (h1 << 13) | (h1 >>> 19);
    h2 = Math.imul(h2 ^ c, 0x85ebca77);
    h2 = (h2 << 17) | (h2 >>> 15);
  }
  lane1 = h1;
  lane2 = h2;
}

function finishHash(length: number): [hi: number, lo: number] {
  let h1 = lane1 ^ length;
  let h2 = lane2;
  h1 = (h1 + h2) | 0;
  h2 = (h2 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h1 = (h1 + h2) | 0;
  h2 = (h2 + h1) | 0;
  return h1 === 0 && h2 === 0 ? [0, 1] : [h1, h2];
}

/** The start of keys, hashed once: hashAfter hashes only what follows it. */
export class KeyPrefix {
  readonly text: string;
  readonly #lane1: number;
  readonly #lane2: number;

  constructor(text: string) {
    this.text = text;
    lane1 = SEED1;
    lane2 = SEED2;
    absorb(text);
    this.#lane1 = lane1;
    this.#lane2 = lane2;
  }

  /** hashKey(`${text}${path}?${query}`), reading only `path` and `query`. */
  hashAfter(path: string, query: string): [hi: number, lo: number] {
    lane1 = this.#lane1;
    lane2 = this.#lane2;
    absorb(path);
    absorb('?');
    absorb(query);
    return finishHash(this.text.length + path.length + 1 + query.length);
  }
}

/** Seconds since the epoch when the entry stops being fresh (the slot's EXPIRES; a variant's is its base's). */
export function expiresAt(meta: EntryMeta): number {
  return Math.floor(meta.responseTime / 1000) - meta.initialAge + meta.lifetime;
}

/** Meta bytes padded so the body starts on an 8-byte boundary: copies out of the arena are 7x faster (copyBytes). */
function paddedMeta(metaBytes: number): number {
  return (metaBytes + 7) & ~7;
}

/** Bytes an entry takes in the arena (before the ring's own alignment). */
export function entryBytes(metaBytes: number, bodyBytes: number): number {
  return ENTRY_HEADER_BYTES + paddedMeta(metaBytes) + bodyBytes;
}

/**
 * Copies n bytes between the shared arena and private memory, either way. V8 copies memory
 * touching a SharedArrayBuffer quickly only when both ends are 8-byte aligned; otherwise byte
 * by byte with relaxed atomics (16 KiB: 0.7 µs aligned, 4.6 µs not). Entry bodies start
 * aligned (the meta is padded) and private buffers are, so the plain copy is the common path;
 * two ends misaligned alike copy their aligned middle as Float64 elements (same-type
 * TypedArray#set copies bytes exactly, NaN patterns included).
 */
export function copyBytes(dst: Uint8Array, dstOff: number, src: Uint8Array, srcOff: number, n: number): void {
  const d = dst.byteOffset + dstOff;
  const s = src.byteOffset + srcOff;
  if (n < 256 || ((d | s) & 7) === 0 || (d & 7) !== (s & 7)) {
    dst.set(src.subarray(srcOff, srcOff + n), dstOff);
    return;
  }
  const head = 8 - (d & 7);
  dst.set(src.subarray(srcOff, srcOff + head), dstOff);
  const words = (n - head) >>> 3;
  new Float64Array(dst.buffer, d + head, words).set(new Float64Array(src.buffer, s + head, words));
  const done = head + words * 8;
  if (done < n) dst.set(src.subarray(srcOff + done, srcOff + n), dstOff + done);
}

export function encodeMeta(meta: EntryMeta): Buffer {
  return packr.pack(meta);
}

/**
 * Writes an entry and publishes it under (hi, lo), in one locked step (CacheTable.store). The
 * body is one view or the chunks that make it up. False: nothing stored (lock busy, too big).
 */
export function writeEntry(table: CacheTable, hi: number, lo: number, meta: Buffer, body: Uint8Array | readonly Uint8Array[], bodyLength: number, expires: number): boolean {
  const length = entryBytes(meta.length, bodyLength);
  const arena = table.arena;
  return table.store(hi, lo, length, expires, (at) => {
    const header = new DataView(arena.buffer, at, ENTRY_HEADER_BYTES);
    header.setUint32(ENTRY_LENGTH * 4, length, true);
    header.setUint32(ENTRY_HASH_HI * 4, hi >>> 0, true);
    header.setUint32(ENTRY_HASH_LO * 4, lo >>> 0, true);
    header.setUint32(ENTRY_META_LEN * 4, meta.length, true);
    arena.set(meta, at + ENTRY_HEADER_BYTES);
    let p = at + ENTRY_HEADER_BYTES + paddedMeta(meta.length);
    if (body instanceof Uint8Array) {
      copyBytes(arena, p, body, 0, body.length);
    } else {
      for (const chunk of body) { copyBytes(arena, p, chunk, 0, chunk.length); p += chunk.length; }
    }
  });
}

/**
 * Reads the entry a slot points at, or null when it was overwritten, is not the entry the
 * slot announced (a torn read), or its meta does not decode. The caller compares meta.key.
 */
export function readEntry(table: CacheTable, ref: Pick<EntryRef, 'pos' | 'length'> & { flags?: number }, hi: number, lo: number): StoredEntry | null {
  const { pos, length } = ref;
  // Checked against the ring once, after every read of the entry: a writer moves the cursor
  // over an entry before it writes a byte of it, so an entry still intact after the reads was
  // intact during them. (A check before them only spared the reads of an entry overwritten
  // already, whose header then fails the hash check; it cost a cursor load per hit.)
  const at = table.offset(pos);
  if (at + length > table.capacity || length < ENTRY_HEADER_BYTES) return null;
  const reader = readerOf(table);
  const header = reader.view;
  const metaLength = header.getUint32(at + ENTRY_META_LEN * 4, true);
  if (header.getUint32(at + ENTRY_LENGTH * 4, true) !== length
    || (header.getUint32(at + ENTRY_HASH_HI * 4, true) | 0) !== hi
    || (header.getUint32(at + ENTRY_HASH_LO * 4, true) | 0) !== lo
    || ENTRY_HEADER_BYTES + paddedMeta(metaLength) > length) return null;
  const decoded = reader.decoded;
  let meta = decoded.get(pos);
  if (meta === undefined) {
    try {
      meta = packr.unpack(Buffer.from(table.arena.subarray(at + ENTRY_HEADER_BYTES, at + ENTRY_HEADER_BYTES + metaLength))) as EntryMeta;
    } catch {
      return null;
    }
    if (!table.intact(pos)) return null;
    if (decoded.size >= DECODED_MAX) decoded.delete(decoded.keys().next().value!);
    decoded.set(pos, meta);
  } else if (!table.intact(pos)) {
    return null;
  }
  const metaBytes = ENTRY_HEADER_BYTES + paddedMeta(metaLength);
  return { meta, pos, length, bodyOffset: at + metaBytes, bodyLength: length - metaBytes, flags: ref.flags ?? 0 };
}
