// Runs every fuzz corpus input through the native scanHead/hash64 and the TypeScript twins (dist/) and
// fails on the first disagreement. Input framing as in head_fuzz.cc: byte 0 picks the limit.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
const { native, js } = await import(new URL('../../dist/src/native/index.js', import.meta.url).href);
const { scanOut, OUT_COUNT, OUT_HEADERS, OUT_ERROR } = await import(new URL('../../dist/src/native/layout.js', import.meta.url).href);
if (native.kind !== 'native') { console.error('parity: the native addon did not load'); process.exit(2); }
let n = 0;
for (const dir of process.argv.slice(2)) {
  for (const f of readdirSync(dir)) {
    const data = readFileSync(join(dir, f));
    if (data.length < 1) continue;
    const max = data[0] < 16 ? (data[0] + 1) * 4 : 64 * 1024;
    const buf = data.subarray(1);
    for (const start of [0, 1, 7]) {
      if (start > buf.length) continue;
      const o1 = scanOut(max), o2 = scanOut(max);
      const a = native.scanHead(buf, start, buf.length, max, o1);
      const b = js.scanHead(buf, start, buf.length, max, o2);
      let same = a === b && (a !== -1 || o1[OUT_ERROR] === o2[OUT_ERROR]);
      if (same && a > 0) for (let i = 0; i < OUT_HEADERS + 4 * o1[OUT_COUNT]; i++) if (o1[i] !== o2[i]) same = false;
      const h1 = new Uint32Array(2), h2 = new Uint32Array(2);
      native.hash64(buf, start, buf.length, 0, h1);
      js.hash64(buf, start, buf.length, 0, h2);
      if (h1[0] !== h2[0] || h1[1] !== h2[1]) same = false;
      if (!same) {
        console.error(`parity: MISMATCH on ${join(dir, f)} start=${start}: native ${a}/${o1[OUT_ERROR]}, twin ${b}/${o2[OUT_ERROR]}`);
        process.exit(1);
      }
      n++;
    }
  }
}
console.log(`parity: native and twin agree on ${n} corpus runs`);
