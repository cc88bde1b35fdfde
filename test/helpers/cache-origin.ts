// An origin for cache tests: per-path behaviours registered by each test, a count of the
// requests that reached each path, and the requests themselves (method, headers).
import type http from 'node:http';
import { startOrigin, type Origin } from './origin.js';

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
  /** 1 for the first request to this path, 2 for the second… */
  readonly n: number;
}

/** What the origin answers for one request. */
export interface Answer {
  status?: number;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** Interim responses sent at once (status, headers), e.g. 103 Early Hints; the final answer follows `after`. */
  interim?: { status: number; headers: Record<string, string> }[];
  /** Answer only once this settles (the test decides when the origin is "done thinking"). */
  after?: Promise<unknown>;
  /** Send the head and the first byte of the body at once, the rest once this settles. */
  bodyAfter?: Promise<unknown>;
  /** Send the head and part of the body, then drop the connection. */
  die?: boolean;
  /** Drop the connection without answering. */
  hangUp?: boolean;
}

export type Behaviour = (req: SeenRequest) => Answer;

export interface CacheOrigin {
  readonly origin: Origin;
  readonly url: string;
  /** Registers what `path` answers; returns a function counting the requests that reached it. */
  on(path: string, b: Behaviour): () => number;
  /** The requests that reached `path` (path without query, or the full URL when registered so). */
  seen(path: string): SeenRequest[];
  /** Resolves when `path` has seen `n` requests (event-driven, with a deadline). */
  waitFor(path: string, n: number, ms?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startCacheOrigin(): Promise<CacheOrigin> {
  const behaviours = new Map<string, Behaviour>();
  const requests = new Map<string, SeenRequest[]>();
  const waiters = new Set<() => void>();
  const origin = await startOrigin((req, res, body) => {
    const url = req.url ?? '/';
    const path = url.split('?')[0]!;
    const key = behaviours.has(url) ? url : path;
    const list = requests.get(key) ?? [];
    requests.set(key, list);
    const seen: SeenRequest = { method: req.method ?? 'GET', url, headers: req.headers, n: list.length + 1 };
    list.push(seen);
    for (const w of waiters) w();
    const b = behaviours.get(key);
    if (b === undefined) { res.writeHead(404); res.end(); return; }
    const out = b(seen);
    // Interim responses go out at once; the final answer (or the hang-up) after `after`.
    for (const i of out.interim ?? []) {
      if (i.status === 103) res.writeEarlyHints(i.headers);
      else if (i.status === 100) res.writeContinue();
      else res.writeProcessing();
    }
    const send = (): void => {
      if (out.hangUp) { res.socket?.destroy(); return; }
      const payload = out.body ?? `body ${url} #${seen.n} ${body.length}`;
      const status = out.status ?? 200;
      if (out.die) {
        res.writeHead(status, { 'content-length': String(Buffer.byteLength(payload) + 1000), ...out.headers });
        res.write(payload);
        setTimeout(() => res.destroy(), 20);
        return;
      }
      const bodyless = status === 304 || status === 204 || req.method === 'HEAD';
      const chunked = out.headers?.['transfer-encoding'] !== undefined;
      res.writeHead(status, { ...(bodyless || chunked ? {} : { 'content-length': String(Buffer.byteLength(payload)) }), ...out.headers });
      if (out.bodyAfter !== undefined && !bodyless) {
        const bytes = Buffer.from(payload);
        res.write(bytes.subarray(0, 1));
        void out.bodyAfter.then(() => res.end(bytes.subarray(1)));
        return;
      }
      res.end(bodyless ? undefined : payload);
    };
    if (out.after !== undefined) void out.after.then(send, send);
    else send();
  // Long keep-alive: an idle pooled connection never closes under a request the proxy just sent
  // (the idle race the forwarder retries, which would count as a second request here).
  }, { keepAliveTimeout: 120_000 });
  return {
    origin,
    url: origin.url,
    on(path, b) {
      behaviours.set(path, b);
      return () => requests.get(path)?.length ?? 0;
    },
    seen: (path) => requests.get(path) ?? [],
    waitFor(path, n, ms = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          if ((requests.get(path)?.length ?? 0) >= n) { waiters.delete(check); clearTimeout(timer); resolve(); }
        };
        const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`${path}: ${requests.get(path)?.length ?? 0} of ${n} requests after ${ms} ms`)); }, ms);
        waiters.add(check);
        check();
      });
    },
    close: () => origin.close(),
  };
}

/** A promise and the function that settles it: the test decides when the origin answers. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => { open = r; });
  return { promise, open };
}

/** An HTTP-date `seconds` from now. */
export function httpDate(seconds: number): string {
  return new Date(Date.now() + seconds * 1000).toUTCString();
}
