// The access log on a disk that fills up and frees again (a real tmpfs of a few pages, mounted
// for the test: runs as root, like CI): the disk takes part of a batch, cut inside a line, and
// refuses the rest. Once space is back, every line written is whole and parses on its own line
// (it was glued to the cut one: one broken JSON line for two requests), the proxy said the
// lines were being lost and then how many, and it served every request meanwhile.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { until } from '../helpers/admin.js';

let dir: string;
let mounted = false;
let origin: Origin;
let proxy: RunningProxy | undefined;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'portcullis-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=128k', 'tmpfs', dir], { stdio: 'ignore' });
    mounted = true;
  } catch { /* not root, or no CAP_SYS_ADMIN: the test says so and skips */ }
  origin = await startOrigin((_req, res) => res.end('ok'));
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
  if (mounted) execFileSync('umount', ['-l', dir]);
  rmSync(dir, { recursive: true, force: true });
});

/** Fills the disk to the last byte with a file of its own. */
function fill(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(1024, 0x2e);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
    // The last partial chunk: byte by byte to the very end.
    try { for (;;) writeSync(fd, chunk, 0, 1); } catch { /* full */ }
  } finally {
    closeSync(fd);
  }
}

test('ENOSPC: a cut line is never glued to the next one; the loss is said, then counted', async (ctx) => {
  if (!mounted) ctx.skip('cannot mount a tmpfs here (needs root)');
  const log = join(dir, 'access.log');
  const filler = join(dir, 'filler');
  proxy = await startProxy({ access_log: { format: 'json', output: log }, upstreams: { app: { targets: [origin.url] } } }, { workers: 2 });
  const p = proxy;
  const text = (): string => readFileSync(log, 'utf8');
  for (let i = 0; i < 3; i++) expect((await request(p.port, { path: `/before-${i}` })).status).toBe(200);
  await until(() => text().split('\n').length > 3, 10_000, 'the first lines');

  fill(filler);
  // Requests until the disk has cut a line (the file ends inside one) and the proxy said so.
  let n = 0;
  await until(async () => {
    expect((await request(p.port, { path: `/during-${n++}` })).status).toBe(200);
    if (!/access log: ENOSPC; lines are being lost/.test(p.output())) return false;
    if (!text().endsWith('\n')) return true;
    // The disk ran out exactly at the end of a line (rare): free a page for another try.
    truncateSync(filler, Math.max(0, statSync(filler).size - 4096));
    return false;
  }, 30_000, () => `a line cut by the full disk (${n} requests, log ends ${JSON.stringify(text().slice(-40))}):\n${p.output()}`);

  rmSync(filler);
  const after = 20;
  for (let i = 0; i < after; i++) expect((await request(p.port, { path: `/after-${i}` })).status).toBe(200);
  await until(() => (text().match(/\/after-/g) ?? []).length >= after, 15_000, () => `every line after the disk freed:\n${text().slice(-2000)}`);

  const lines = text().split('\n').filter((l) => l !== '');
  const parses = (l: string): boolean => { try { JSON.parse(l); return true; } catch { return false; } };
  const broken = lines.filter((l) => !parses(l));
  // Only the cut line is broken, and none of the lines written after it.
  expect(broken.length, broken.join('\n')).toBe(1);
  expect(broken[0]).not.toMatch(/after-/);
  const paths = lines.filter(parses).map((l) => (JSON.parse(l) as { path: string }).path).filter((x) => x.startsWith('/after-'));
  expect(paths.sort()).toEqual(Array.from({ length: after }, (_, i) => `/after-${i}`).sort());
  await until(() => /access log: writing again; \d+ lines? lost/.test(p.output()), 10_000, () => `the count of lost lines:\n${p.output()}`);
});
