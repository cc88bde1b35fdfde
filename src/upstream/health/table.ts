// Reads and writes of the shared target table (layout: shm/target-table.ts): one TargetCell per
// (upstream name, target URL), opened by every worker and by the primary's health checker over
// the same buffer. Every field is read and written with Atomics; the 64-bit times through a
// BigInt64Array (read only off the hot path: when a snapshot is rebuilt or a failure recorded).
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6 } from '../../net/address.js';
import { slotKey } from '../../shm/key.js';
import { findOrClaimSlot, type SlotTable } from '../../shm/slots.js';
import {
  ADDR_INTS, ADDR_MAX, ADDR_RESOLVED, allocateTargetTable, H_GEN, H_LOCK, H_SLOTS, HEADER_INTS, S64_EJECTED_UNTIL, S64_FIRST_FAIL_AT,
  S64_LAST_EJECT_END, S64_RECOVERED_AT, S_ADDR_BASE, S_ADDR_COUNT, S_ADDR_FAM, S_ADDR_GEN, S_ADDR_SEQ, S_ADDR_STATE,
  S_CHECK_FAIL, S_CHECK_OK, S_EJECTIONS, S_FAILS, S_I64_BASE, S_STATE, SLOT_I64S, SLOT_INTS, type TargetTableMemory,
} from '../../shm/target-table.js';

/** The identity a target's shared state is kept under: stable across reloads and restarts. */
export function targetKey(upstream: string, url: string): string {
  return `${upstream}\n${url}`;
}

export class TargetTable {
  readonly #ints: Int32Array;
  readonly #i64: BigInt64Array;
  readonly #slots: SlotTable;
  /** Cells that found no room in the shared table: private to this thread, still correct for it. */
  overflowed = 0;

  constructor(mem: TargetTableMemory) {
    this.#ints = new Int32Array(mem.buffer);
    this.#i64 = new BigInt64Array(mem.buffer);
    const slots = this.#ints[H_SLOTS]!;
    this.#slots = { ints: this.#ints, lock: H_LOCK, slots, first: HEADER_INTS, stride: SLOT_INTS };
  }

  /** A table in this thread's own memory: a runtime without a supervisor (tools, unit tests). */
  static private(targets: number): TargetTable {
    return new TargetTable(allocateTargetTable(targets, false));
  }

  /** Bumped on every change a balancer reads; one load per request on the hot path. */
  generation(): number {
    return Atomics.load(this.#ints, H_GEN);
  }

  bump(): void {
    Atomics.add(this.#ints, H_GEN, 1);
  }

  /** The cell for a target; a private one (and `overflowed` counts it) when the shared table is full. */
  cell(upstream: string, url: string): TargetCell {
    const [hi, lo] = slotKey(targetKey(upstream, url));
    const slot = findOrClaimSlot(this.#slots, hi, lo);
    if (slot < 0) {
      this.overflowed++;
      const own = TargetTable.private(1);
      return own.cell(upstream, url);
    }
    return new TargetCell(this, this.#ints, this.#i64, HEADER_INTS + slot * SLOT_INTS, HEADER_INTS / 2 + slot * SLOT_I64S + S_I64_BASE);
  }
}

const groups = new Uint16Array(8);

export class TargetCell {
  readonly table: TargetTable;
  readonly #ints: Int32Array;
  readonly #i64: BigInt64Array;
  readonly #base: number;
  readonly #base64: number;

  constructor(table: TargetTable, ints: Int32Array, i64: BigInt64Array, base: number, base64: number) {
    this.table = table;
    this.#ints = ints;
    this.#i64 = i64;
    this.#base = base;
    this.#base64 = base64;
  }

  #load(field: number): number { return Atomics.load(this.#ints, this.#base + field); }
  #store(field: number, v: number): void { Atomics.store(this.#ints, this.#base + field, v); }
  #time(field: number): number { return Number(Atomics.load(this.#i64, this.#base64 + field)); }
  #setTime(field: number, ms: number): void { Atomics.store(this.#i64, this.#base64 + field, BigInt(Math.round(ms))); }

  // Active health (written by the primary) -------------------------------------------------------
  get state(): number { return this.#load(S_STATE); }
  get checkOk(): number { return this.#load(S_CHECK_OK); }
  get checkFail(): number { return this.#load(S_CHECK_FAIL); }

  setChecks(ok: number, fail: number): void {
    this.#store(S_CHECK_OK, ok);
    this.#store(S_CHECK_FAIL, fail);
  }

  /** A new active-health state; `recoveredAt` starts slow start when it is healthy again. */
  setState(state: number, recoveredAt: number | null): void {
    if (recoveredAt !== null) this.#setTime(S64_RECOVERED_AT, recoveredAt);
    this.#store(S_STATE, state);
    this.table.bump();
  }

  get recoveredAt(): number { return this.#time(S64_RECOVERED_AT); }

  // Passive health (written by workers) ----------------------------------------------------------
  get fails(): number { return this.#load(S_FAILS); }
  get firstFailAt(): number { return this.#time(S64_FIRST_FAIL_AT); }
  get ejectedUntil(): number { return this.#time(S64_EJECTED_UNTIL); }
  get ejections(): number { return this.#load(S_EJECTIONS); }
  get lastEjectEnd(): number { return this.#time(S64_LAST_EJECT_END); }

  /** A success: the failure count starts over (a load, and a store only when there were failures). */
  clearFails(): void {
    if (this.#load(S_FAILS) !== 0) this.#store(S_FAILS, 0);
  }

  /** One more failure; a failure after `window` since the first of the run starts a new run. Returns the count. */
  addFail(now: number, window: number): number {
    const first = this.#time(S64_FIRST_FAIL_AT);
    if (this.#load(S_FAILS) === 0 || now - first > window) {
      this.#setTime(S64_FIRST_FAIL_AT, now);
      this.#store(S_FAILS, 1);
      return 1;
    }
    return Atomics.add(this.#ints, this.#base + S_FAILS, 1) + 1;
  }

  /**
   * Ejects until `until` unless another worker ejected it since `seenUntil` was read (one
   * compareExchange decides: exactly one worker reports an ejection). True when this call did.
   */
  eject(seenUntil: number, until: number, ejections: number): boolean {
    const old = BigInt(Math.round(seenUntil));
    if (Atomics.compareExchange(this.#i64, this.#base64 + S64_EJECTED_UNTIL, old, BigInt(Math.round(until))) !== old) return false;
    this.#store(S_EJECTIONS, ejections);
    this.#store(S_FAILS, 0);
    if (seenUntil > 0) this.#setTime(S64_LAST_EJECT_END, seenUntil);
    this.table.bump();
    return true;
  }

  // Addresses (written by the primary's resolver) ------------------------------------------------
  get addrState(): number { return this.#load(S_ADDR_STATE); }
  get addrGen(): number { return this.#load(S_ADDR_GEN); }

  setAddrState(state: number): void {
    if (this.#load(S_ADDR_STATE) === state) return;
    this.#store(S_ADDR_STATE, state);
    this.table.bump();
  }

  /** Publishes a resolved address list (at most ADDR_MAX; IPv4 and IPv6 text). False when it did not change. */
  setAddresses(list: readonly string[]): boolean {
    const words: number[] = [];
    let fam = 0;
    let count = 0;
    for (const text of list) {
      if (count === ADDR_MAX) break;
      const v4 = parseIPv4(text);
      if (v4 >= 0) {
        words.push(v4 | 0, 0, 0, 0);
      } else if (parseIPv6(text, 0, text.length, groups)) {
        fam |= 1 << count;
        for (let g = 0; g < 8; g += 2) words.push(((groups[g]! << 16) | groups[g + 1]!) | 0);
      } else {
        continue;
      }
      count++;
    }
    if (count === this.#load(S_ADDR_COUNT) && fam === this.#load(S_ADDR_FAM) && this.#load(S_ADDR_STATE) === ADDR_RESOLVED) {
      let same = true;
      for (let i = 0; i < words.length && same; i++) same = this.#load(S_ADDR_BASE + i) === words[i];
      if (same) return false;
    }
    // Seqlock: odd while writing, so a reader never takes half of an old and half of a new list.
    Atomics.add(this.#ints, this.#base + S_ADDR_SEQ, 1);
    for (let i = 0; i < words.length; i++) this.#store(S_ADDR_BASE + i, words[i]!);
    this.#store(S_ADDR_COUNT, count);
    this.#store(S_ADDR_FAM, fam);
    Atomics.add(this.#ints, this.#base + S_ADDR_SEQ, 1);
    Atomics.add(this.#ints, this.#base + S_ADDR_GEN, 1);
    this.#store(S_ADDR_STATE, ADDR_RESOLVED);
    this.table.bump();
    return true;
  }

  /** The resolved addresses (a consistent copy; empty while none). */
  addresses(): string[] {
    for (;;) {
      const seq = this.#load(S_ADDR_SEQ);
      if ((seq & 1) === 1) continue;
      const count = Math.min(this.#load(S_ADDR_COUNT), ADDR_MAX);
      const fam = this.#load(S_ADDR_FAM);
      const out: string[] = [];
      for (let i = 0; i < count; i++) {
        const at = S_ADDR_BASE + i * ADDR_INTS;
        if ((fam & (1 << i)) === 0) {
          out.push(formatIPv4(this.#load(at) >>> 0));
        } else {
          for (let w = 0; w < 4; w++) {
            const v = this.#load(at + w) >>> 0;
            groups[w * 2] = v >>> 16;
            groups[w * 2 + 1] = v & 0xffff;
          }
          out.push(formatIPv6(groups));
        }
      }
      if (this.#load(S_ADDR_SEQ) === seq) return out;
    }
  }
}
