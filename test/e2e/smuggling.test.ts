// Request smuggling shapes, sent as raw bytes: each is refused (by the proxy, or by the uWS
// parser before any handler runs), the connection is closed, and nothing reaches the upstream.
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';
import { rawRequest } from '../helpers/raw.js';

let origin: Origin;
let proxy: RunningProxy;

beforeAll(async () => {
  origin = await startOrigin();
  proxy = await startProxy({ upstreams: { app: { targets: [origin.url] } } });
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
});

const H = 'POST / HTTP/1.1\r\nHost: a\r\n';
const HIDDEN = 'GET /hidden HTTP/1.1\r\nHost: a\r\n\r\n';

// [name, bytes, status, who answers]
// 'proxy': the request reaches our handler and the proxy answers with a PC_ERR_* code.
// 'uws':   uWS 20.57's parser refuses it before any handler runs (docs/limits.md lists them).
// Either way the answer closes the connection at once, so no byte after the bad head is read
// as another request.
const shapes: [string, string, number, 'proxy' | 'uws'][] = [
  ['Content-Length with Transfer-Encoding', `${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 400, 'uws'],
  ['Transfer-Encoding then Content-Length', `${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`, 400, 'uws'],
  ['differing duplicate Content-Length', `${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`, 400, 'proxy'],
  ['Content-Length list with differing values', `${H}Content-Length: 5, 6\r\n\r\nhello!`, 400, 'uws'],
  ['non-numeric Content-Length', `${H}Content-Length: 5x\r\n\r\nhello`, 400, 'uws'],
  ['gzip, chunked transfer coding', `${H}Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, 400, 'proxy'],
  ['chunked, chunked', `${H}Transfer-Encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, 400, 'proxy'],
  ['two Transfer-Encoding headers', `${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, 400, 'proxy'],
  ['identity transfer coding', `${H}Transfer-Encoding: identity\r\n\r\nhello`, 400, 'uws'],
  ['invalid chunk size', `${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`, 400, 'uws'],
  ['obs-fold', `GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n`, 400, 'uws'],
  ['bare LF line endings', `GET / HTTP/1.1\nHost: a\n\n`, 505, 'uws'],
  ['space before colon', `GET / HTTP/1.1\r\nHost : a\r\n\r\n`, 400, 'uws'],
  ['two Host headers', `GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`, 400, 'uws'],
];

describe('smuggling shapes never reach the upstream', () => {
  test.each(shapes)('%s', async (_name, bytes, status, who) => {
    const before = origin.seen.length;
    const r = await rawRequest(proxy.port, bytes, 1500);
    expect(r.status).toBe(status);
    if (who === 'proxy') expect(r.data).toMatch(/PC_ERR_[A-Z_]+/);
    else expect(r.data).not.toMatch(/PC_ERR_/);
    expect(r.closed).toBe(true);
    expect(r.ms).toBeLessThan(1000);
    // Give a forwarded request time to arrive, then check none did.
    await new Promise((res) => setTimeout(res, 100));
    expect(origin.seen.length).toBe(before);
  });

  // The same shapes with a complete second request hidden behind the bad head: whatever the
  // first request's fate, the hidden one is never served (issue 9: a 400 used to leave the
  // connection parsing on, and the hidden request reached the origin).
  test.each(shapes)('%s, with a request hidden behind it, never serves the hidden request', async (_name, bytes, status) => {
    const before = origin.seen.length;
    const r = await rawRequest(proxy.port, bytes + HIDDEN, 1500);
    expect(r.closed).toBe(true);
    expect(r.ms).toBeLessThan(1000);
    // At most one answer, the refusal (or none when the hidden bytes made uWS drop the connection).
    const answers = r.data.match(/HTTP\/1\.1 \d{3}/g) ?? [];
    expect(answers.length).toBeLessThanOrEqual(1);
    if (answers.length === 1) expect(r.status).toBe(status);
    await new Promise((res) => setTimeout(res, 100));
    expect(origin.seen.slice(before).map((s) => s.url)).not.toContain('/hidden');
  });

  // uWS 20.57 decodes chunked bodies laxly (docs/limits.md "Chunked request bodies"): it ends a
  // size line at a bare LF, reads ';' and other bytes up to 'g' as hex digits (so a chunk
  // extension misstates the size), does not check the CRLF after chunk data, and takes two
  // bytes after the last chunk whatever they are (no trailers). None of that reaches the
  // origin as framing: the proxy sends the body it decoded with framing of its own, and a
  // request hidden behind such a body is never served, whichever way uWS cut the bytes.
  const CH = `${H}Transfer-Encoding: chunked\r\n\r\n`;
  const laxChunked: [string, string][] = [
    ['bare LF after the last chunk', `${CH}5\r\nhello\r\n0\n\nX`],
    ['bare LF after a chunk size', `${CH}5\nhello\r\n0\r\n\r\n`],
    ['a chunk extension', `${CH}5;a=b\r\nhello\r\n0\r\n\r\n`],
    ['a size with a non-hex digit', `${CH}g\r\n0123456789abcdef\r\n0\r\n\r\n`],
    ['no CRLF after chunk data', `${CH}5\r\nhelloXX0\r\n\r\n`],
    ['a trailer field', `${CH}5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n`],
  ];
  test.each(laxChunked)('chunked framing with %s never serves a request hidden behind it', async (_name, bytes) => {
    const before = origin.seen.length;
    await rawRequest(proxy.port, bytes + HIDDEN, 1500);
    await new Promise((res) => setTimeout(res, 100));
    expect(origin.seen.slice(before).map((s) => s.url)).not.toContain('/hidden');
    // Whatever was forwarded went with our own framing: the origin (Node's strict parser) never
    // saw a malformed message.
    for (const s of origin.seen.slice(before)) expect(s.url).toBe('/');
  });

  test('a connection that carried a chunked body serves nothing more: a trailer split across reads cannot smuggle the next request', async () => {
    // A strict parser reads `a: GET /SMUG HTTP/1.1` as a trailer field; uWS takes any two bytes
    // after the last chunk and would read `GET /SMUG` as the next request (black-box QA).
    const before = origin.seen.length;
    const got = await new Promise<string>((resolve) => {
      const s = net.connect(proxy.port, '127.0.0.1');
      let data = '';
      s.on('data', (d: Buffer) => { data += d.toString('latin1'); });
      s.on('close', () => resolve(data));
      s.on('error', () => {});
      s.write(`${H}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\na:`);
      setTimeout(() => { if (!s.destroyed) s.write('GET /SMUG HTTP/1.1\r\nHost: a\r\n\r\n'); }, 800);
      setTimeout(() => s.destroy(), 4000);
    });
    await new Promise((res) => setTimeout(res, 100));
    expect(origin.seen.slice(before).map((x) => x.url)).not.toContain('/SMUG');
    expect(got.match(/HTTP\/1\.1 \d{3}/g)).toEqual(['HTTP/1.1 200']);
    expect(got).toMatch(/\r\nconnection: close\r\n/i);
  });

  test('a valid chunked request still works after the refusals', async () => {
    const before = origin.seen.length;
    const r = await rawRequest(proxy.port, `${H}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n`);
    expect(r.status).toBe(200);
    expect(origin.seen.length).toBe(before + 1);
    expect(origin.seen.at(-1)!.bodyBytes).toBe(5);
  });
});
