// Request smuggling shapes, sent as raw bytes: each is refused (by the proxy, or by the uWS
// parser before any handler runs), the connection is closed, and nothing reaches the upstream.
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

  test('a valid chunked request still works after the refusals', async () => {
    const before = origin.seen.length;
    const r = await rawRequest(proxy.port, `${H}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n`);
    expect(r.status).toBe(200);
    expect(origin.seen.length).toBe(before + 1);
    expect(origin.seen.at(-1)!.bodyBytes).toBe(5);
  });
});
