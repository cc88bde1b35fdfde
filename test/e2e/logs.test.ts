// Logs (issue 14): access log formats (json, combined, common) to a file, SIGUSR1 reopening
// that file after logrotate moved it (no line lost or split), and error lines on stderr that
// carry the request id the client and the access log also see.
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy } from '../helpers/proxy.js';
import { request } from '../helpers/client.js';
import { until } from '../helpers/admin.js';
import { rawRequest } from '../helpers/raw.js';

let origin: Origin;
let dir: string;

beforeAll(async () => {
  origin = await startOrigin((_req, res) => { res.writeHead(200, { 'content-length': 5 }); res.end('hello'); });
  dir = mkdtempSync(join(tmpdir(), 'portcullis-logs-'));
});

afterAll(async () => {
  await origin?.close();
  rmSync(dir, { recursive: true, force: true });
});

const lines = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l !== '') : []);

describe('access log formats', () => {
  test('combined: the nginx/Apache line, with quotes and control bytes in client fields escaped', async () => {
    const file = join(dir, 'combined.log');
    const proxy = await startProxy({ access_log: { format: 'combined', output: file }, upstreams: { app: { targets: [origin.url] } } });
    try {
      // A tab is a legal header byte (RFC 9110 §5.5) that must not reach a log line raw.
      await request(proxy.port, { path: '/a?b=1', headers: { referer: 'http://ref.example/', 'user-agent': 'ua "quoted" \\ \t x' } });
      await rawRequest(proxy.port, 'GET /missing%20x HTTP/1.1\r\nHost: h\r\n\r\n', 1000);
      await until(() => lines(file).length >= 2, 5000, 'two log lines');
      const [first] = lines(file);
      expect(first).toMatch(/^127\.0\.0\.1 - - \[\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\] "GET \/a\?b=1 HTTP\/1\.1" 200 5 "http:\/\/ref\.example\/" "ua \\x22quoted\\x22 \\x5C \\x09 x"$/);
      expect(lines(file)[1]).toMatch(/"GET \/missing%20x HTTP\/1\.1" 200 5 "-" "-"$/);
    } finally {
      await proxy.stop();
    }
  });

  test('common: without referer and user agent; a refused request logs its status', async () => {
    const file = join(dir, 'common.log');
    const proxy = await startProxy({ access_log: { format: 'common', output: file }, upstreams: { app: { targets: [origin.url] } }, routes: [{ path: '/only/', upstream: 'app' }] });
    try {
      await request(proxy.port, { path: '/elsewhere', headers: { 'user-agent': 'x' } });
      await until(() => lines(file).length >= 1, 5000, 'a log line');
      expect(lines(file)[0]).toMatch(/^127\.0\.0\.1 - - \[[^\]]+\] "GET \/elsewhere HTTP\/1\.1" 404 \d+$/);
    } finally {
      await proxy.stop();
    }
  });

  test('json: one object per line with the request id the client got', async () => {
    const file = join(dir, 'json.log');
    // A trusted hop's id is kept (Exchange.requestId), so the line carries the id it sent.
    const proxy = await startProxy({ trusted_proxies: ['127.0.0.1'], access_log: { output: file }, upstreams: { app: { targets: [origin.url] } } });
    try {
      await request(proxy.port, { path: '/j', headers: { 'x-request-id': 'client-given-id-1' } });
      await until(() => lines(file).length >= 1, 5000, 'a log line');
      expect(JSON.parse(lines(file)[0]!)).toMatchObject({ id: 'client-given-id-1', method: 'GET', path: '/j', status: 200, res_bytes: 5, route: '/' });
    } finally {
      await proxy.stop();
    }
  });
});

describe('SIGUSR1 reopens log files (logrotate)', () => {
  test('after the file is moved, new lines go to a new file at the path; none is lost, none split', async () => {
    const file = join(dir, 'rotate.log');
    const proxy = await startProxy({ access_log: { format: 'common', output: file }, upstreams: { app: { targets: [origin.url] } } }, { workers: 2 });
    try {
      for (let i = 0; i < 20; i++) await request(proxy.port, { path: `/before/${i}` });
      await until(() => lines(file).length === 20, 5000, '20 lines before the rotation');
      // logrotate: rename, then signal (postrotate). Lines written between land in the moved file.
      renameSync(file, `${file}.1`);
      for (let i = 0; i < 5; i++) await request(proxy.port, { path: `/between/${i}` });
      proxy.child.kill('SIGUSR1');
      await until(() => /SIGUSR1: reopened log files in 2 of 2 workers/.test(proxy.output()), 5000, 'both workers to reopen');
      for (let i = 0; i < 20; i++) await request(proxy.port, { path: `/after/${i}` });
      await until(() => lines(file).filter((l) => l.includes('/after/')).length === 20, 5000, '20 lines after');
      const old = lines(`${file}.1`);
      const fresh = lines(file);
      expect(old.filter((l) => l.includes('/before/'))).toHaveLength(20);
      expect(fresh.filter((l) => l.includes('/before/'))).toHaveLength(0);
      expect(old.filter((l) => l.includes('/after/'))).toHaveLength(0);
      expect([...old, ...fresh].filter((l) => l.includes('/between/'))).toHaveLength(5);
      for (const l of [...old, ...fresh]) expect(l).toMatch(/^127\.0\.0\.1 - - \[[^\]]+\] "GET \/[a-z]+(\/\d+)? HTTP\/1\.1" 200 5$/);
    } finally {
      await proxy.stop();
    }
  });
});

describe('error lines carry the request id', () => {
  test('an upstream failure: the stderr line, the access log line and the client all show one id', async () => {
    const file = join(dir, 'errors.log');
    // Port 1 refuses connections: PC_ERR_UPSTREAM_CONNECT.
    const proxy = await startProxy({ access_log: { output: file }, upstreams: { dead: { targets: ['http://127.0.0.1:1'] } } });
    try {
      const r = await request(proxy.port, { path: '/fails' });
      expect(r.status).toBe(502);
      const id = r.headers['x-request-id'] as string;
      expect(id).toMatch(/\S{8,}/);
      await until(() => proxy.output().includes(`request ${id}:`), 5000, 'the error line');
      const line = proxy.output().split('\n').find((l) => l.includes(`request ${id}:`))!;
      expect(line).toMatch(new RegExp(`^portcullis: warn: request ${id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: upstream connection failed.* \\(PC_ERR_UPSTREAM_CONNECT\\) GET 127\\.0\\.0\\.1/fails route=/ upstream=http://127\\.0\\.0\\.1:1 client=127\\.0\\.0\\.1 status=502$`));
      await until(() => lines(file).length >= 1, 5000, 'the access log line');
      expect(JSON.parse(lines(file)[0]!)).toMatchObject({ id, status: 502, error: 'PC_ERR_UPSTREAM_CONNECT' });
      // A client's own mistake is not an error line.
      await request(proxy.port, { method: 'TRACE', path: '/' });
      await until(() => lines(file).length >= 2, 5000, 'the second access log line');
      expect(proxy.output()).not.toMatch(/PC_ERR_METHOD/);
    } finally {
      await proxy.stop();
    }
  });
});
