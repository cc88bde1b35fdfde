// Request smuggling shapes, sent as raw bytes: each is refused (400 from the proxy, or
// dropped by the uWS parser before any handler runs) and never reaches the upstream.
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

// [name, bytes, how it is refused]
// '400': the request reaches our handler and the proxy answers 400 with a reason.
// 'closed': the uWS parser closes the connection at once, with no response.
// 'ignored': the uWS parser never completes the request; no response, closed at its
//            ~10 s timeout. docs/limits.md lists every shape and its outcome.
const shapes: [string, string, '400' | 'closed' | 'ignored'][] = [
  ['Content-Length with Transfer-Encoding', `${H}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`, 'closed'],
  ['Transfer-Encoding then Content-Length', `${H}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`, 'closed'],
  ['differing duplicate Content-Length', `${H}Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!`, '400'],
  ['Content-Length list with differing values', `${H}Content-Length: 5, 6\r\n\r\nhello!`, 'closed'],
  ['non-numeric Content-Length', `${H}Content-Length: 5x\r\n\r\nhello`, 'closed'],
  ['gzip, chunked transfer coding', `${H}Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, '400'],
  ['chunked, chunked', `${H}Transfer-Encoding: chunked, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, '400'],
  ['two Transfer-Encoding headers', `${H}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`, '400'],
  ['identity transfer coding', `${H}Transfer-Encoding: identity\r\n\r\nhello`, 'closed'],
  ['invalid chunk size', `${H}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`, 'closed'],
  ['obs-fold', `GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n`, 'ignored'],
  ['bare LF line endings', `GET / HTTP/1.1\nHost: a\n\n`, 'ignored'],
  ['space before colon', `GET / HTTP/1.1\r\nHost : a\r\n\r\n`, 'ignored'],
  ['two Host headers', `GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`, '400'],
];

describe('smuggling shapes never reach the upstream', () => {
  test.each(shapes)('%s', async (_name, bytes, how) => {
    const before = origin.seen.length;
    const r = await rawRequest(proxy.port, bytes, 1500);
    if (how === '400') {
      expect(r.status).toBe(400);
      expect(r.data).toMatch(/PC_ERR_[A-Z_]+/);
    } else if (how === 'closed') {
      expect(r.data).toBe('');
      expect(r.closed).toBe(true);
      expect(r.ms).toBeLessThan(1000);
    } else {
      expect(r.data).toBe('');
      expect(r.closed).toBe(false);
    }
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
