// The uWS loader's decision (src/uws/load.ts planUwsLoad) on both sides of glibc 2.38 and off
// glibc, what it chose on this machine, and the refusal a user sees when the patched copy or
// the addon is missing (the compiled proxy, copied without them, must not start).
import { spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { addonPath } from '../../src/native/addon.js';
import { uwsGlibc } from '../../src/uws/glibc.js';
import { currentHost, planUwsLoad, uWS, type UwsHost } from '../../src/uws/load.js';
import { freePort } from '../helpers/ports.js';

const FILE = '/opt/portcullis/build/uws/uws_linux_x64_115.node';
const host = (platform: string, glibc: [number, number] | null, patchedExists: boolean): UwsHost =>
  ({ platform, glibc, patchedFile: FILE, patchedExists });

describe('planUwsLoad', () => {
  test.each([
    ['glibc 2.38 (Ubuntu 24.04)', host('linux', [2, 38], false)],
    ['glibc 2.41 (Debian 13), a stale patched copy lying around', host('linux', [2, 41], true)],
    ['glibc 3.0', host('linux', [3, 0], false)],
    ['musl (no glibc)', host('linux', null, false)],
    ['macOS', host('darwin', null, false)],
    ['Windows', host('win32', null, false)],
  ])('%s: the package as shipped', (_name, h) => {
    expect(planUwsLoad(h)).toEqual({ kind: 'package' });
  });

  test.each([[[2, 36]], [[2, 37]], [[2, 31]]] as const)('glibc %j with the patched copy: that copy', (glibc) => {
    expect(planUwsLoad(host('linux', [glibc[0], glibc[1]], true))).toEqual({ kind: 'patched', file: FILE });
  });

  test('glibc 2.36 without the patched copy: refused, naming the file, the glibc and what to run', () => {
    const plan = planUwsLoad(host('linux', [2, 36], false));
    expect(plan.kind).toBe('refuse');
    const reason = (plan as { reason: string }).reason;
    expect(reason).toContain('glibc 2.36');
    expect(reason).toContain(FILE);
    expect(reason).toContain('npm install');
  });

  test('this machine: the plan matches its glibc, and the loaded uWS is the native binary', () => {
    const here = currentHost();
    expect(here.platform).toBe(process.platform);
    expect(here.patchedFile).toBe(join(uwsGlibc.PATCHED_DIR, `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`));
    const plan = planUwsLoad(here);
    // npm install wrote the patched copy where this glibc needs one (Debian 12 here and in CI).
    expect(plan).toEqual(uwsGlibc.needsPatch() ? { kind: 'patched', file: here.patchedFile } : { kind: 'package' });
    expect(String(uWS.App)).toMatch(/\[native code\]/);
    expect(typeof uWS.App().filter).toBe('function'); // 20.57's API (20.30 had no filter)
  });
});

/** The compiled proxy in a scratch directory: dist, config, native scripts, node_modules (linked), minus `without`. */
function scratchInstall(without: 'patched' | 'addon'): string {
  const root = fileURLToPath(new URL('../..', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'pc-uws-load-'));
  for (const part of ['package.json', 'dist', 'config', 'schema', 'native']) cpSync(join(root, part), join(dir, part), { recursive: true });
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  mkdirSync(join(dir, 'build', 'Release'), { recursive: true });
  if (without !== 'addon') cpSync(addonPath(), join(dir, 'build', 'Release', 'portcullis.node'));
  if (without !== 'patched' && uwsGlibc.needsPatch()) cpSync(uwsGlibc.PATCHED_DIR, join(dir, 'build', 'uws'), { recursive: true });
  return dir;
}

function runProxy(dir: string, port: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(dir, 'dist', 'src', 'main.js'), 'proxy', '--from', `127.0.0.1:${port}`, '--to', 'http://127.0.0.1:1'], {
      env: { ...process.env, PORTCULLIS_WORKERS: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    // A proxy that started anyway is stopped here, and the test then fails on its exit code.
    child.stdout.on('data', () => { if (/listening on/.test(out)) child.kill('SIGTERM'); });
    const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.on('close', (code) => { clearTimeout(killer); resolve({ code, out }); });
  });
}

describe.runIf(uwsGlibc.needsPatch())('a proxy that cannot load uWS refuses to start and says why', () => {
  test.each([
    ['the patched copy is missing', 'patched' as const, /uWebSockets\.js cannot load: glibc 2\.\d+ is older than the 2\.38 .*build\/uws\/uws_linux_\w+\.node is missing: run `npm install`/],
    ['the addon is missing', 'addon' as const, /uWebSockets\.js cannot load: on glibc < 2\.38 it needs the C23 functions of the Portcullis native addon, which did not load .*install python3, make and g\+\+, then run `npm install`/],
  ])('%s', async (_name, without, message) => {
    const dir = scratchInstall(without);
    try {
      const r = await runProxy(dir, await freePort());
      expect(r.out).toMatch(message);
      expect(r.out).not.toMatch(/listening on/);
      expect(r.code).not.toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
