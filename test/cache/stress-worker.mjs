// One thread of the cache table stress test (table.test.ts): publishes, finds and removes
// entries on the shared buffers as fast as it can, and checks every entry it reads back is
// exactly the bytes some writer wrote for that key. Plain JavaScript over the compiled
// modules (dist/, `npm run build:ts`): worker threads do not run TypeScript.
//
// The key space is crafted: key k has hash (KEY_HI + k, home + 1024·j) so that a few keys
// share each home slot and the probe windows overlap, forcing evictions all the time.
import { parentPort, workerData } from 'node:worker_threads';

export const KEY_HI = 0x5e50;

/** Hash of stress key k (hi, lo as the slot stores them). 1024 is the smallest slot count. */
export function keyHash(k, homes) {
  return [KEY_HI + k, 3 + (k % homes) + 1024 * Math.floor(k / homes)];
}

export function keyName(k) {
  return `stress-key-${k}`;
}

/** The body writer `w` writes for key k at its version v: length and bytes follow from (k, w, v). */
export function bodyFor(k, w, v, maxBody) {
  let x = (Math.imul(k + 1, 0x9e3779b1) ^ Math.imul(w + 1, 0x85ebca6b) ^ Math.imul(v + 1, 0xc2b2ae35)) >>> 0 || 1;
  const next = () => {
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    return x;
  };
  const n = next() % (maxBody + 1);
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i += 4) {
    const r = next();
    out[i] = r & 0xff;
    if (i + 1 < n) out[i + 1] = (r >>> 8) & 0xff;
    if (i + 2 < n) out[i + 2] = (r >>> 16) & 0xff;
    if (i + 3 < n) out[i + 3] = r >>> 24;
  }
  return out;
}

/** The meta a stress entry carries: who wrote it and which version, so a reader can rebuild the body. */
export function metaFor(k, w, v, length) {
  return {
    key: keyName(k),
    status: 200,
    reason: `${w}:${v}:${length}`,
    // A meta whose size varies with the version, so entries do not all line up the same way.
    headers: ['x-writer', String(w), 'x-pad', 'p'.repeat(v % 37)],
    responseTime: 1_700_000_000_000 + v,
    initialAge: 0,
    lifetime: 60,
    varyNames: [],
    varyValues: [],
    authOk: false,
    encoding: '',
  };
}

/**
 * Checks one entry as read (meta decoded, body copied out while intact): null when it is
 * exactly what writer/version in its meta wrote for key k, else what is wrong.
 */
export function checkEntry(k, meta, body, maxBody) {
  if (meta.key !== keyName(k)) return `key ${JSON.stringify(meta.key)} under the hash of ${keyName(k)}`;
  const m = /^(\d+):(\d+):(\d+)$/.exec(meta.reason);
  if (m === null) return `unreadable reason ${JSON.stringify(meta.reason)}`;
  const w = Number(m[1]);
  const v = Number(m[2]);
  const expected = bodyFor(k, w, v, maxBody);
  if (Number(m[3]) !== expected.length || meta.headers[1] !== String(w) || meta.headers[3] !== 'p'.repeat(v % 37)) {
    return `meta of ${keyName(k)} does not match writer ${w} version ${v}`;
  }
  if (body.length !== expected.length) return `body of ${keyName(k)} (writer ${w} v${v}) is ${body.length} bytes, wrote ${expected.length}`;
  const at = body.findIndex((b, i) => b !== expected[i]);
  if (at !== -1) return `body of ${keyName(k)} (writer ${w} v${v}) differs at byte ${at} of ${expected.length}`;
  return null;
}

async function run() {
  const { dist, memory, go, id, keys, homes, maxBody, ms, seed, pauseEvery = 0, pauseMs = 0, minimum = null } = workerData;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  const { CacheTable } = await import(`${dist}/cache/table.js`);
  const { encodeMeta, readEntry, writeEntry } = await import(`${dist}/cache/store.js`);
  const table = new CacheTable(memory);
  const ref = { pos: 0, length: 0 };
  const stats = { writes: 0, writesRefused: 0, stalled: 0, reads: 0, verified: 0, misses: 0, lapped: 0, removes: 0, problems: [] };
  let r = (seed ^ (id * 0x27d4eb2d)) >>> 0 || 1;
  const rand = (n) => {
    r ^= r << 13; r >>>= 0;
    r ^= r >>> 17;
    r ^= r << 5; r >>>= 0;
    return r % n;
  };
  let version = 0;

  parentPort.postMessage({ ready: true });
  // Everyone starts together: the main thread flips `go` once all workers are ready.
  Atomics.wait(go, 0, 0);
  // At least `ms` of storm, and on a loaded machine (where a thread gets little CPU in that
  // time) on until this thread's share of the minimum work is done, up to `ms` + 6 s.
  const deadline = Date.now() + ms;
  const hardDeadline = deadline + 6000;
  const short = () => minimum !== null && (stats.writes < minimum.writes || stats.verified < minimum.verified || stats.removes < minimum.removes);
  let ops = 0;
  while ((ops & 63) !== 0 || Date.now() < deadline || (short() && Date.now() < hardDeadline)) {
    ops++;
    const k = rand(keys);
    const [hi, lo] = keyHash(k, homes);
    const op = rand(100);
    if (op < 45) {
      const v = version++;
      const body = bodyFor(k, id, v, maxBody);
      // Half the writes hand the body over in chunks (CacheFill does for unknown lengths).
      let parts = body.length > 2 && (v & 1) === 1 ? [body.subarray(0, body.length >> 1), body.subarray(body.length >> 1)] : body;
      // Some writers stall halfway through copying their body, as a descheduled thread or a
      // GC pause would: writeEntry copies chunks one by one, so a generator can pause it.
      if (pauseEvery > 0 && body.length > 2 && rand(pauseEvery) === 0) {
        const [a, b] = [body.subarray(0, body.length >> 1), body.subarray(body.length >> 1)];
        parts = (function* stalled() { yield a; Atomics.wait(nap, 0, 0, pauseMs); yield b; })();
        stats.stalled++;
      }
      const ok = writeEntry(table, hi, lo, encodeMeta(metaFor(k, id, v, body.length)), parts, body.length, Math.floor(Date.now() / 1000) + rand(3) - 1);
      if (ok) stats.writes++;
      else stats.writesRefused++;
    } else if (op < 95) {
      stats.reads++;
      if (!table.find(hi, lo, ref)) { stats.misses++; continue; }
      const entry = readEntry(table, ref, hi, lo);
      if (entry === null) { stats.lapped++; continue; }
      const body = Buffer.from(table.arena.subarray(entry.bodyOffset, entry.bodyOffset + entry.bodyLength));
      // The body is a view: only a copy taken while the entry was still intact counts.
      if (!table.intact(entry.pos)) { stats.lapped++; continue; }
      const problem = checkEntry(k, entry.meta, body, maxBody);
      if (problem === null) stats.verified++;
      else if (stats.problems.length < 20) stats.problems.push(problem);
    } else {
      table.remove(hi, lo);
      stats.removes++;
    }
  }
  table.releaseIfHeld();
  parentPort.postMessage({ done: true, stats });
}

if (parentPort !== null && workerData?.stress === true) {
  run().catch((err) => {
    parentPort.postMessage({ error: String(err?.stack ?? err) });
  });
}
