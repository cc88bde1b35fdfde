// Server-sent events and other streaming responses (issue 3): each upstream chunk reaches
// the client as it is sent, never buffered, and a quiet stream stays open.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import http from 'node:http';
import zlib from 'node:zlib';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startProxy, type RunningProxy } from '../helpers/proxy.js';

let origin: Origin;
let proxy: RunningProxy;
/** When the origin wrote each event, by event id (performance.now(), same process as the client). */
const sentAt = new Map<string, number>();

beforeAll(async () => {
  origin = await startOrigin((req, res) => {
    if ((req.url ?? '').startsWith('/gzipped-events')) {
      // What Express's compression middleware does for SSE: gzip, flushed per event.
      res.writeHead(200, { 'content-type': 'text/event-stream', 'content-encoding': 'gzip' });
      const gz = zlib.createGzip();
      gz.pipe(res);
      let i = 0;
      const timer = setInterval(() => {
        gz.write(`id: gz-${i}\ndata: event ${i}\n\n`);
        gz.flush();
        if (++i === 3) { clearInterval(timer); gz.end(); }
      }, 50);
      return;
    }
    const q = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
    const tag = q.get('tag') ?? '';
    const gaps = (q.get('gaps') ?? '300').split(',').map(Number);
    const ndjson = (req.url ?? '').startsWith('/ndjson');
    res.writeHead(200, {
      'content-type': ndjson ? 'application/x-ndjson' : 'text/event-stream',
      'cache-control': 'no-cache',
    });
    res.flushHeaders();
    let i = 0;
    const next = (): void => {
      if (i === gaps.length) { res.end(); return; }
      const id = `${tag}-${i}`;
      setTimeout(() => {
        sentAt.set(id, performance.now());
        res.write(ndjson ? `${JSON.stringify({ id })}\n` : `id: ${id}\ndata: event ${i}\n\n`);
        i++;
        next();
      }, gaps[i]);
    };
    next();
  }, { keepAliveTimeout: 60_000 });
  proxy = await startProxy({ upstreams: { app: { targets: [origin.url] } } });
});

afterAll(async () => {
  await proxy?.stop();
  await origin?.close();
});

interface Received { id: string; at: number }

/** Reads a stream through the proxy, noting when each event (SSE id or NDJSON line) arrived. */
function stream(path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; events: Received[]; headAt: number }> {
  return new Promise((resolve, reject) => {
    const events: Received[] = [];
    http.get({ host: '127.0.0.1', port: proxy.port, path, agent: false }, (res) => {
      const headAt = performance.now();
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        const at = performance.now();
        buf += chunk;
        for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          const sse = /^id: (.*)$/.exec(line);
          if (sse) events.push({ id: sse[1]!, at });
          else if (line.startsWith('{')) events.push({ id: (JSON.parse(line) as { id: string }).id, at });
        }
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, events, headAt }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

describe('server-sent events', () => {
  test('an event stream the upstream encoded itself passes byte for byte (no comment line in front)', async () => {
    const body = await new Promise<Buffer>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: proxy.port, path: '/gzipped-events', agent: false }, (res) => {
        expect(res.headers['content-encoding']).toBe('gzip');
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve(Buffer.concat(chunks)));
        res.on('error', reject);
      }).on('error', reject);
    });
    expect(zlib.gunzipSync(body).toString()).toBe('id: gz-0\ndata: event 0\n\nid: gz-1\ndata: event 1\n\nid: gz-2\ndata: event 2\n\n');
  });

  test('the response head reaches the client at once, before the first event', async () => {
    const r = await stream('/events?tag=head&gaps=600');
    expect(r.status).toBe(200);
    // The head (EventSource "open") must not wait for the first event 600 ms later.
    expect(sentAt.get('head-0')! - r.headAt).toBeGreaterThan(400);
    expect(r.events.map((e) => e.id)).toEqual(['head-0']);
  });

  test('the first event is delivered within 100 ms of being sent', async () => {
    const r = await stream('/events?tag=first&gaps=300');
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toBe('text/event-stream');
    expect(r.headers['content-length']).toBeUndefined();
    expect(r.headers['content-encoding']).toBeUndefined();
    expect(r.events.map((e) => e.id)).toEqual(['first-0']);
    expect(r.events[0]!.at - sentAt.get('first-0')!).toBeLessThan(100);
  });

  test('every event arrives as it is sent, not batched', async () => {
    const r = await stream('/events?tag=each&gaps=50,150,150,150,150');
    expect(r.events.map((e) => e.id)).toEqual(['each-0', 'each-1', 'each-2', 'each-3', 'each-4']);
    for (const e of r.events) expect(e.at - sentAt.get(e.id)!).toBeLessThan(100);
  });

  test('a stream quiet for 5 s stays open and delivers what follows', async () => {
    const r = await stream('/events?tag=quiet&gaps=10,5500,10');
    expect(r.events.map((e) => e.id)).toEqual(['quiet-0', 'quiet-1', 'quiet-2']);
    expect(r.events[1]!.at - sentAt.get('quiet-1')!).toBeLessThan(100);
  }, 15_000);
});

describe('other streaming responses', () => {
  test('NDJSON lines are delivered one by one', async () => {
    const r = await stream('/ndjson?tag=nd&gaps=20,200,200');
    expect(r.headers['content-type']).toBe('application/x-ndjson');
    expect(r.events.map((e) => e.id)).toEqual(['nd-0', 'nd-1', 'nd-2']);
    for (const e of r.events) expect(e.at - sentAt.get(e.id)!).toBeLessThan(100);
  });

  test('many concurrent streams each get their events promptly', async () => {
    const all = await Promise.all(Array.from({ length: 50 }, (_, i) => stream(`/events?tag=c${i}&gaps=100,100`)));
    for (const r of all) {
      expect(r.events).toHaveLength(2);
      for (const e of r.events) expect(e.at - sentAt.get(e.id)!).toBeLessThan(150);
    }
  });
});

test('a stream quiet for 12 s (longer than uWS\'s 10 s HTTP idle timeout) stays open', async () => {
  const r = await stream('/events?tag=long&gaps=10,12000,10');
  expect(r.events.map((e) => e.id)).toEqual(['long-0', 'long-1', 'long-2']);
}, 30_000);
