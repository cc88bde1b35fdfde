// Reading a config file (config/read-file.ts): a regular file of at most 16 MiB, or an error
// naming the file, and never a read that does not end (a device, a FIFO without a writer).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ConfigErrors } from '../../src/config/error.js';
import { loadConfigFile, parseConfigText } from '../../src/config/load.js';
import { MAX_CONFIG_BYTES, readConfigText } from '../../src/config/read-file.js';

const dir = mkdtempSync(join(tmpdir(), 'portcullis-read-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function errorOf(read: () => unknown): string {
  try {
    read();
  } catch (e) {
    if (!(e instanceof ConfigErrors)) throw e;
    return e.errors.map((x) => x.format()).join('\n');
  }
  throw new Error('expected a ConfigErrors');
}

describe('readConfigText', () => {
  test('a device, a FIFO, a directory: refused without reading, naming the file', () => {
    const fifo = join(dir, 'fifo.yaml');
    execFileSync('mkfifo', [fifo]);
    expect(errorOf(() => readConfigText('/dev/zero'))).toBe('/dev/zero: (file): cannot read config: a character device, not a regular file');
    expect(errorOf(() => readConfigText('/dev/null'))).toBe('/dev/null: (file): cannot read config: a character device, not a regular file');
    // Without the check, opening a FIFO nobody writes to would wait for ever.
    expect(errorOf(() => readConfigText(fifo))).toBe(`${fifo}: (file): cannot read config: a FIFO, not a regular file`);
    expect(errorOf(() => readConfigText(dir))).toBe(`${dir}: (file): cannot read config: a directory, not a regular file`);
    expect(errorOf(() => readConfigText(join(dir, 'none.yaml')))).toBe(`${join(dir, 'none.yaml')}: (file): cannot read config: file not found`);
  });

  test('16 MiB is read; one byte more is refused with its size', () => {
    const exact = join(dir, 'exact.yaml');
    writeFileSync(exact, '');
    truncateSync(exact, MAX_CONFIG_BYTES);
    expect(readConfigText(exact).length).toBe(MAX_CONFIG_BYTES);
    const over = join(dir, 'over.yaml');
    writeFileSync(over, '');
    truncateSync(over, MAX_CONFIG_BYTES + 1);
    expect(errorOf(() => readConfigText(over))).toBe(`${over}: (file): cannot read config: it is 16.0 MiB; a config file may be at most 16 MiB`);
    const big = join(dir, 'big.yaml');
    writeFileSync(big, '');
    truncateSync(big, 20 * 1024 * 1024);
    expect(errorOf(() => loadConfigFile(big))).toBe(`${big}: (file): cannot read config: it is 20.0 MiB; a config file may be at most 16 MiB`);
  });

  test('a /proc file (size 0 in stat) is read up to its end, bounded by the cap', () => {
    expect(readConfigText('/proc/self/status')).toMatch(/^Name:/);
  });

  test('a file is read whole, byte for byte, across read chunks', () => {
    const path = join(dir, 'multi.yaml');
    const text = `# ${'é'.repeat(100_000)}\nupstreams: { app: { targets: ["http://127.0.0.1:3000"] } }\n`;
    writeFileSync(path, text);
    expect(readConfigText(path)).toBe(text);
    expect(loadConfigFile(path).upstreams['app']!.targets[0]!.url).toBe('http://127.0.0.1:3000');
  });

  test('text handed over directly (a plan posted to the admin API) has the same cap', () => {
    const text = `upstreams: { app: { targets: ["http://127.0.0.1:3000"] } }\n#${'x'.repeat(MAX_CONFIG_BYTES)}`;
    expect(errorOf(() => parseConfigText(text, 'posted.yaml', {}))).toBe('posted.yaml: (file): cannot read config: it is 16.0 MiB; a config file may be at most 16 MiB');
  });
});
