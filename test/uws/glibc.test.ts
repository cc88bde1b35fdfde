// The ELF patch that lets uWebSockets.js 20.57 load on glibc < 2.38 (native/uws-glibc.cjs):
// checked on the real binary in node_modules against readelf and the dynamic linker itself
// (each load in a child process, the way the proxy loads it), and on tiny fixture libraries
// built here with g++ against a stub libc that defines GLIBC_2.38.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { addonPath } from '../../src/native/addon.js';
import { uwsGlibc } from '../../src/uws/glibc.js';

const ORIGINAL = join(uwsGlibc.uwsPackageDir(), uwsGlibc.binaryName());
/** True on this machine (Debian 12, glibc 2.36) and in CI; false on glibc ≥ 2.38. */
const OLD_GLIBC = uwsGlibc.needsPatch();

let dir: string;
let patched: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'pc-uws-glibc-'));
  patched = uwsGlibc.writePatchedCopy({ dir });
});

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** `readelf --dyn-syms`: each C23 symbol's version as readelf prints it ('' when it has none). */
function c23Versions(file: string): Record<string, string> {
  const out = execFileSync('readelf', ['--dyn-syms', '-W', file], { encoding: 'utf8' });
  const versions: Record<string, string> = {};
  for (const line of out.split('\n')) {
    const m = /\sUND\s+(__isoc23_\w+|strlcpy)(?:@(\S+))?/.exec(line);
    if (m) versions[m[1]!] = m[2] ?? '';
  }
  return versions;
}

/** `readelf -V`: the flags of the GLIBC_2.38 entry in .gnu.version_r, or null when there is none. */
function glibc238Flags(file: string): string | null {
  const out = execFileSync('readelf', ['-V', '-W', file], { encoding: 'utf8' });
  const m = /Name: GLIBC_2\.38\s+Flags: (\S+)/.exec(out);
  return m ? m[1]! : null;
}

interface LoadResult { error?: string; body?: string; headStatus?: string; bindings: string }

/**
 * Loads `file` with process.dlopen in a fresh Node (as src/uws/load.ts does: the addon first,
 * RTLD_GLOBAL, when `withAddon`), then serves one request on a loopback port with it, a head
 * bigger than uWS's default 4 KiB limit, which UWS_HTTP_MAX_HEADERS_SIZE (read by uWS through
 * strtol at load) raises. LD_DEBUG=bindings shows where each symbol was bound.
 */
function loadInChild(file: string, withAddon: boolean): LoadResult {
  const script = `
    const { constants } = require('node:os');
    const net = require('node:net');
    const say = (o) => process.stdout.write(JSON.stringify(o));
    if (${withAddon}) process.dlopen({ exports: {} }, ${JSON.stringify(addonPath())}, constants.dlopen.RTLD_NOW | constants.dlopen.RTLD_GLOBAL);
    const m = { exports: {} };
    try { process.dlopen(m, ${JSON.stringify(file)}, constants.dlopen.RTLD_NOW); } catch (e) { say({ error: e.message }); process.exit(0); }
    const uws = m.exports;
    const app = uws.App();
    app.get('/*', (res) => res.end('served'));
    app.listen('127.0.0.1', 0, (ls) => {
      const port = uws.us_socket_local_port(ls);
      const s = net.connect(port, '127.0.0.1', () => s.write('GET / HTTP/1.1\\r\\nHost: a\\r\\nX-Big: ' + 'a'.repeat(6000) + '\\r\\n\\r\\n'));
      let got = '';
      s.on('data', (d) => {
        got += d;
        const end = got.indexOf('\\r\\n\\r\\n');
        if (end < 0 || !/content-length: (\\d+)/i.test(got)) return;
        const length = Number(/content-length: (\\d+)/i.exec(got)[1]);
        if (got.length < end + 4 + length) return;
        s.destroy();
        uws.us_listen_socket_close(ls);
        app.close();
        say({ headStatus: got.slice(0, got.indexOf('\\r\\n')), body: got.slice(end + 4) });
      });
    });`;
  const r = spawnSync(process.execPath, ['-e', script], {
    encoding: 'utf8',
    timeout: 20_000,
    maxBuffer: 256 * 1024 * 1024, // LD_DEBUG output
    env: { ...process.env, LD_DEBUG: 'bindings', UWS_HTTP_MAX_HEADERS_SIZE: '65536' },
  });
  if (r.status !== 0) throw new Error(`child exited ${r.status} ${r.signal ?? ''}: ${r.stderr.split('\n').filter((l) => !/binding file/.test(l)).join('\n').slice(0, 2000)}`);
  return { ...(JSON.parse(r.stdout) as Omit<LoadResult, 'bindings'>), bindings: r.stderr };
}

/** The library each of uWS's C23 symbols was bound to, from LD_DEBUG=bindings output. */
function c23Bindings(bindings: string, from: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of bindings.split('\n')) {
    const m = /binding file (\S+) \[\d+\] to (\S+) \[\d+\]: normal symbol `(__isoc23_\w+)'/.exec(line);
    if (m && m[1] === from) out[m[3]!] = m[2]!;
  }
  return out;
}

describe('patchElf on the real uWebSockets.js binary', () => {
  test('the package binary asks GLIBC_2.38 for exactly the three C23 functions (what compat.cc provides)', () => {
    expect(c23Versions(ORIGINAL)).toEqual({ __isoc23_sscanf: 'GLIBC_2.38', __isoc23_strtol: 'GLIBC_2.38', __isoc23_strtoul: 'GLIBC_2.38' });
    expect(glibc238Flags(ORIGINAL)).toBe('none');
  });

  test('the patched copy: the three lose their version, GLIBC_2.38 turns weak, nothing else changes', () => {
    const before = readFileSync(ORIGINAL);
    const buf = Buffer.from(before);
    const result = uwsGlibc.patchElf(buf);
    expect({ ...result, unversioned: [...result.unversioned].sort() }).toEqual({ unversioned: [...uwsGlibc.C23_SYMBOLS].sort(), weakened: true, needed: true });
    expect(buf.equals(readFileSync(patched))).toBe(true);
    expect(c23Versions(patched)).toEqual({ __isoc23_sscanf: '', __isoc23_strtol: '', __isoc23_strtoul: '' });
    expect(glibc238Flags(patched)).toBe('WEAK');
    // Three 2-byte .gnu.version entries and one vna_flags field: at most 4 differing bytes.
    let differing = 0;
    for (let i = 0; i < buf.length; i++) if (buf[i] !== before[i]) differing++;
    expect(differing).toBeGreaterThanOrEqual(4);
    expect(differing).toBeLessThanOrEqual(8);
    expect(buf.length).toBe(before.length);
  });

  test('patching an already patched copy changes nothing', () => {
    const buf = readFileSync(patched);
    const copy = Buffer.from(buf);
    expect(uwsGlibc.patchElf(buf)).toEqual({ unversioned: [], weakened: false, needed: true });
    expect(buf.equals(copy)).toBe(true);
  });

  test('writePatchedCopy never modifies the package binary', () => {
    expect(c23Versions(ORIGINAL)['__isoc23_strtol']).toBe('GLIBC_2.38');
  });

  test.runIf(OLD_GLIBC)('the package binary is refused on this glibc, with the GLIBC_2.38 error, even with the addon loaded', () => {
    for (const withAddon of [false, true]) {
      const r = loadInChild(ORIGINAL, withAddon);
      expect(r.error).toMatch(/version `GLIBC_2\.38' not found/);
    }
  });

  test.runIf(!OLD_GLIBC)('the package binary loads as is on glibc ≥ 2.38', () => {
    const r = loadInChild(ORIGINAL, false);
    expect(r.error).toBeUndefined();
    expect(r.body).toBe('served');
  });

  test('the patched copy loads after the addon (RTLD_GLOBAL), binds the C23 functions and serves', () => {
    const r = loadInChild(patched, true);
    expect(r.error).toBeUndefined();
    expect(r.body).toBe('served');
    // UWS_HTTP_MAX_HEADERS_SIZE=65536 was parsed (through those functions): a 6 KB head passes.
    expect(r.headStatus).toBe('HTTP/1.1 200 OK');
    const bound = c23Bindings(r.bindings, patched);
    expect(Object.keys(bound).sort()).toEqual([...uwsGlibc.C23_SYMBOLS].sort());
    for (const lib of Object.values(bound)) {
      // On old glibc the addon serves them; on ≥ 2.38 glibc's own win (compat.cc is compiled out).
      expect(lib).toEqual(OLD_GLIBC ? addonPath() : expect.stringMatching(/libc\.so\.6$/));
    }
  });

  test.runIf(OLD_GLIBC)('the patched copy without the addon loaded first is refused: nothing else defines the three here', () => {
    const r = loadInChild(patched, false);
    expect(r.error).toMatch(/undefined symbol: __isoc23_/);
  });
});

describe('patchElf on fixture libraries', () => {
  let fx: string;
  const build = (name: string, source: string, extra: string[] = []): string => {
    writeFileSync(join(fx, `${name}.cc`), source);
    const out = join(fx, `${name}.so`);
    execFileSync('g++', ['-shared', '-fPIC', '-o', out, join(fx, `${name}.cc`), ...extra], { cwd: fx, stdio: 'pipe' });
    return out;
  };
  let stubLibc: string;

  beforeAll(() => {
    fx = join(dir, 'fixtures');
    mkdirSync(fx);
    // A stand-in libc.so.6 that defines GLIBC_2.38 (this machine's has no such version): fixtures
    // linked against it carry the same kind of requirement as uWS's binary.
    writeFileSync(join(fx, 'stub.map'), 'GLIBC_2.38 { global: __isoc23_strtol; __isoc23_strtoul; __isoc23_sscanf; strlcpy; local: *; };\n');
    stubLibc = join(fx, 'libc.so.6');
    writeFileSync(join(fx, 'stub.cc'), `#include <cstddef>
      extern "C" {
      long __isoc23_strtol(const char*, char**, int) { return 0; }
      unsigned long __isoc23_strtoul(const char*, char**, int) { return 0; }
      int __isoc23_sscanf(const char*, const char*, ...) { return 0; }
      size_t strlcpy(char*, const char*, size_t) { return 0; }
      }`);
    execFileSync('g++', ['-shared', '-fPIC', '-nostdlib', '-Wl,-soname,libc.so.6', '-Wl,--version-script=stub.map', '-o', stubLibc, 'stub.cc'], { cwd: fx, stdio: 'pipe' });
  });

  test('a library that needs another GLIBC_2.38 symbol is refused, naming it', () => {
    const lib = build('other', `#include <cstddef>
      extern "C" long __isoc23_strtol(const char*, char**, int);
      extern "C" size_t strlcpy(char*, const char*, size_t);
      extern "C" long fixture(char* d, const char* s) { return __isoc23_strtol(s, nullptr, 0) + (long)strlcpy(d, s, 4); }`, [stubLibc]);
    expect(c23Versions(lib)).toEqual({ __isoc23_strtol: 'GLIBC_2.38', strlcpy: 'GLIBC_2.38' });
    expect(() => uwsGlibc.patchElf(readFileSync(lib))).toThrow('strlcpy needs GLIBC_2.38, which no compatibility shim provides');
    // writePatchedCopy writes nothing for it (the source stays as it was, no file appears).
    const pkg = join(fx, 'pkg');
    mkdirSync(pkg);
    copyFileSync(lib, join(pkg, uwsGlibc.binaryName('999')));
    const out = join(fx, 'out');
    expect(() => uwsGlibc.writePatchedCopy({ abi: '999', dir: out, packageDir: pkg })).toThrow(/strlcpy/);
    expect(existsSync(join(out, uwsGlibc.binaryName('999')))).toBe(false);
    expect(readFileSync(join(pkg, uwsGlibc.binaryName('999'))).equals(readFileSync(lib))).toBe(true);
  });

  test('a library needing only some of the three gets just those unversioned', () => {
    const lib = build('c23', `extern "C" long __isoc23_strtol(const char*, char**, int);
      extern "C" unsigned long __isoc23_strtoul(const char*, char**, int);
      extern "C" long fixture(const char* s) { return __isoc23_strtol(s, nullptr, 0) + (long)__isoc23_strtoul(s, nullptr, 0); }`, [stubLibc]);
    const buf = readFileSync(lib);
    expect(uwsGlibc.patchElf(buf)).toEqual({ unversioned: expect.arrayContaining(['__isoc23_strtol', '__isoc23_strtoul']), weakened: true, needed: true });
    const out = join(fx, 'c23-patched.so');
    writeFileSync(out, buf);
    expect(c23Versions(out)).toEqual({ __isoc23_strtol: '', __isoc23_strtoul: '' });
    expect(glibc238Flags(out)).toBe('WEAK');
  });

  test('a library that needs no GLIBC_2.38 is left byte for byte as it was', () => {
    // Versioned, but only on old glibc versions (strtol@GLIBC_2.2.5).
    const lib = build('plain', '#include <cstdlib>\nextern "C" long fixture(const char* s) { return strtol(s, nullptr, 10); }');
    expect(glibc238Flags(lib)).toBeNull();
    const buf = readFileSync(lib);
    const copy = Buffer.from(buf);
    expect(uwsGlibc.patchElf(buf)).toEqual({ unversioned: [], weakened: false, needed: false });
    expect(buf.equals(copy)).toBe(true);
  });

  test('a library with no symbol versions at all needs no patch', () => {
    const lib = build('unversioned', 'extern "C" int fixture(int x) { return x + 1; }', ['-nostdlib']);
    const buf = readFileSync(lib);
    const copy = Buffer.from(buf);
    expect(uwsGlibc.patchElf(buf)).toEqual({ unversioned: [], weakened: false, needed: false });
    expect(buf.equals(copy)).toBe(true);
  });

  test('what is not a 64-bit little-endian ELF file is refused', () => {
    expect(() => uwsGlibc.patchElf(Buffer.from('#!/bin/sh\necho not a library\n'.padEnd(80)))).toThrow('not an ELF file');
    const elf32 = Buffer.alloc(80);
    elf32.writeUInt32BE(0x7f454c46, 0);
    elf32[4] = 1; // ELFCLASS32
    elf32[5] = 1;
    expect(() => uwsGlibc.patchElf(elf32)).toThrow('not a 64-bit little-endian ELF file');
  });
});

describe('needsPatch', () => {
  test.each([
    [[2, 36], true], [[2, 37], true], [[2, 17], true], [[1, 99], true],
    [[2, 38], false], [[2, 41], false], [[3, 0], false], [null, false],
  ] as const)('glibc %j → %s', (version, needed) => {
    expect(uwsGlibc.needsPatch(version === null ? null : [version[0], version[1]])).toBe(needed);
  });

  test('this machine: the running glibc is read from the process report', () => {
    const v = uwsGlibc.glibcVersion();
    const reported = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime;
    expect(v === null ? undefined : v.join('.')).toBe(reported?.split('.').slice(0, 2).join('.'));
  });
});
