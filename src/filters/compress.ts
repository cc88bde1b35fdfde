// Response compression: Accept-Encoding negotiation (RFC 9110 §12.5.3), the rules for what may be
// compressed, the header rewrite (Content-Encoding, Vary, weak ETag), and the body transform.
//
//   onResponseHead ─ openCompression() ── null ──▶ pass-through (forward.ts: one null check per chunk)
//                                    └─ OneShot   known length ≤ sync_max_bytes: gather, compress once on the
//                                                 worker thread (libdeflate / zstd / brotli), send with a length
//                                    └─ Streamed  unknown or larger length: gzip/br on node:zlib's async mode
//                                                 (libuv pool, off the worker thread), flushed per upstream
//                                                 chunk. zstd is offered for one-shot bodies only: Node 20
//                                                 has no async zstd, and large bodies stay off this thread.
//
// Not compressed: HEAD/204/304/206, Content-Encoding already set, Content-Range, Cache-Control: no-transform,
// text/event-stream, media types outside `types`, Content-Length below min_bytes.
import zlib from 'node:zlib';
import type { CompressionConfig } from '../config/types.js';
import type { Downstream } from '../downstream/contract.js';
import type { Exchange } from '../exchange.js';
import type { ResponseHead } from '../http/response-parser.js';
import { native } from '../native/index.js';

export type Encoding = 'zstd' | 'br' | 'gzip';

/** What the transform needs from the forwarder. */
export interface CompressionSink {
  readonly ds: Downstream;
  /** Read from the upstream again (the transform returned false from push and has caught up). */
  resumeUpstream(): void;
}

export interface ResponseCompression {
  readonly encoding: Encoding;
  /** Upstream body bytes (a view valid only during the call, unless push returned false). False: pause the upstream. */
  push(chunk: Buffer): boolean;
  /** The upstream body ended: flush, finish the response, then call done. */
  end(done: () => void): void;
  /** The exchange ended abnormally: free the codec. */
  destroy(): void;
}

// ---- negotiation -----------------------------------------------------------------------------------------

/** RFC 9110 §12.4.2 qvalue. */
const QVALUE = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/;

/**
 * The coding to use for `accept` among `offered` (server preference order), or null for identity.
 * Highest q wins, ties go to the server's order; `*` covers codings not listed; q=0 refuses (RFC 9110 §12.5.3).
 */
export function negotiate(accept: string | undefined, offered: readonly Encoding[]): Encoding | null {
  if (accept === undefined || accept === '') return null;
  let star = -1;
  const q = new Map<string, number>();
  for (const part of accept.split(',')) {
    const params = part.split(';');
    let coding = params[0]!.trim().toLowerCase();
    if (coding === '') continue;
    if (coding === 'x-gzip') coding = 'gzip';
    let weight = 1;
    for (let k = 1; k < params.length; k++) {
      const p = params[k]!;
      const eq = p.indexOf('=');
      if (eq === -1 || p.slice(0, eq).trim().toLowerCase() !== 'q') continue;
      const v = p.slice(eq + 1).trim();
      // A malformed q-value makes the element meaningless: ignore it rather than guess.
      weight = QVALUE.test(v) ? Number(v) : -1;
    }
    if (weight < 0) continue;
    if (coding === '*') star = Math.max(star, weight);
    else q.set(coding, Math.max(q.get(coding) ?? -1, weight));
  }
  let best: Encoding | null = null;
  let bestQ = 0;
  for (const enc of offered) {
    const w = q.get(enc) ?? (star >= 0 ? star : 0);
    if (w > bestQ) {
      best = enc;
      bestQ = w;
    }
  }
  return best;
}

// ---- per-config compilation ------------------------------------------------------------------------------

interface Compiled {
  readonly config: CompressionConfig;
  readonly offered: readonly Encoding[];
  readonly exact: ReadonlySet<string>;
  readonly prefixes: readonly string[];
  readonly suffixes: readonly string[];
  /** Offered for streamed bodies: those with an off-thread (async) compressor. */
  readonly streamOffered: readonly Encoding[];
  /** Accept-Encoding value → choice. Browsers send a handful of distinct values: cached, bounded. */
  readonly choices: Map<string, Encoding | null>;
  readonly streamChoices: Map<string, Encoding | null>;
  readonly brotliOptions: zlib.BrotliOptions;
  readonly gzipOptions: zlib.ZlibOptions;
}

const compiled = new WeakMap<CompressionConfig, Compiled>();

/** Codings this build can produce: zstd only with the native addon built against libzstd. */
export function available(): readonly Encoding[] {
  return native.zstd !== null && native.ZstdStream !== null ? ['zstd', 'br', 'gzip'] : ['br', 'gzip'];
}

function compile(config: CompressionConfig): Compiled {
  let c = compiled.get(config);
  if (c !== undefined) return c;
  const can = available();
  const exact = new Set<string>();
  const prefixes: string[] = [];
  const suffixes: string[] = [];
  for (const t of config.types) {
    if (t.endsWith('/*')) prefixes.push(t.slice(0, -1));
    else if (t.includes('/*+')) suffixes.push(t.slice(t.indexOf('/*+') + 2));
    else exact.add(t);
  }
  c = {
    config,
    offered: config.encodings.filter((e) => can.includes(e)),
    streamOffered: config.encodings.filter((e) => can.includes(e) && e !== 'zstd'),
    exact,
    prefixes,
    suffixes,
    choices: new Map(),
    streamChoices: new Map(),
    brotliOptions: {
      params: {
        [zlib.constants.BROTLI_PARAM_QUALITY]: config.brotli_quality,
        [zlib.constants.BROTLI_PARAM_MODE]: zlib.constants.BROTLI_MODE_TEXT,
        [zlib.constants.BROTLI_PARAM_LGWIN]: 22,
      },
    },
    gzipOptions: { level: config.gzip_level },
  };
  compiled.set(config, c);
  return c;
}

function choose(c: Compiled, accept: string | undefined, streamed: boolean): Encoding | null {
  if (accept === undefined) return null;
  const cache = streamed ? c.streamChoices : c.choices;
  let enc = cache.get(accept);
  if (enc !== undefined) return enc;
  enc = negotiate(accept, streamed ? c.streamOffered : c.offered);
  if (cache.size >= 256) cache.clear();
  cache.set(accept, enc);
  return enc;
}

/** Bodies compressed in one go on the worker thread; the rest stream through an async compressor. */
function isOneShot(head: ResponseHead, config: CompressionConfig): boolean {
  return head.bodyKind === 'length' && head.contentLength <= config.sync_max_bytes;
}

/** Media type of a Content-Type value, lowercased, without parameters. */
function mediaType(contentType: string): string {
  const semi = contentType.indexOf(';');
  return (semi === -1 ? contentType : contentType.slice(0, semi)).trim().toLowerCase();
}

export function isCompressibleType(contentType: string | undefined, config: CompressionConfig): boolean {
  if (contentType === undefined) return false;
  const t = mediaType(contentType);
  // Server-sent events must reach the client event by event; a compressor would hold them back.
  if (t === 'text/event-stream') return false;
  const c = compile(config);
  if (c.exact.has(t)) return true;
  for (const p of c.prefixes) if (t.startsWith(p)) return true;
  for (const s of c.suffixes) if (t.endsWith(s) && t.indexOf('/') < t.length - s.length) return true;
  return false;
}

function hasToken(list: string, token: string): boolean {
  for (const part of list.split(',')) if (part.trim().toLowerCase() === token) return true;
  return false;
}

// ---- the decision ----------------------------------------------------------------------------------------

/**
 * Decides for one response and rewrites `headers` (the filtered list about to be written) when the answer
 * depends on Accept-Encoding: Vary is added for every eligible response; Content-Encoding, a weakened ETag
 * and no Accept-Ranges when compressing. Returns the coding, or null to pass the body through.
 * `wholeBody`: the body is complete already (a cached one): every offered coding is possible.
 */
export function selectEncoding(ex: Exchange, head: ResponseHead, headers: string[], config: CompressionConfig, wholeBody = false): Encoding | null {
  const status = head.statusCode;
  if (status < 200 || status === 204 || status === 206 || status === 304 || head.bodyKind === 'none') return null;
  if (ex.head.method === 'HEAD') return null;
  if (head.contentLength !== -1 && head.contentLength < config.min_bytes) return null;
  let contentType: string | undefined;
  let vary = -1;
  for (let i = 0; i < headers.length; i += 2) {
    switch (headers[i]) {
      case 'content-encoding':
      case 'content-range':
        return null;
      case 'cache-control':
        if (hasToken(headers[i + 1]!, 'no-transform')) return null;
        break;
      case 'content-type':
        contentType ??= headers[i + 1];
        break;
      case 'vary':
        if (vary === -1) vary = i;
        if (headers[i + 1]!.trim() === '*' || hasToken(headers[i + 1]!, 'accept-encoding')) vary = -2;
        break;
    }
  }
  if (!isCompressibleType(contentType, config)) return null;
  const c = compile(config);
  if (c.offered.length === 0) return null;
  if (vary !== -2) headers.push('vary', 'Accept-Encoding');
  // A whole body at hand (a cached one) can take any coding; a streamed one only those with an off-thread compressor.
  const enc = choose(c, ex.headerList('accept-encoding'), !wholeBody && !isOneShot(head, config));
  if (enc === null) return null;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (name === 'etag') {
      // The compressed bytes differ from the upstream's: a strong validator would lie (RFC 9110 §8.8.1).
      const v = headers[i + 1]!;
      if (v.startsWith('"')) headers[i + 1] = `W/${v}`;
    } else if (name === 'accept-ranges') {
      headers.splice(i, 2);
      i -= 2;
    }
  }
  headers.push('content-encoding', enc);
  return enc;
}

/**
 * The hook forward.ts calls on a response head when compression is enabled. Returns null (pass-through,
 * the caller writes the head) or a transform that has taken over writing the head and the body.
 */
export function openCompression(ex: Exchange, head: ResponseHead, headers: string[], config: CompressionConfig, sink: CompressionSink): ResponseCompression | null {
  const enc = selectEncoding(ex, head, headers, config);
  if (enc === null) return null;
  const c = compile(config);
  if (isOneShot(head, config)) return new OneShot(enc, c, sink.ds, head, headers);
  sink.ds.writeHead(head.statusCode, head.reason, headers, -1, false);
  return new ZlibStreamed(enc as 'br' | 'gzip', c, sink);
}

// ---- one-shot codecs -------------------------------------------------------------------------------------

/** Compresses a whole body at once, on the calling thread. */
export function compressWhole(enc: Encoding, body: Uint8Array, config: CompressionConfig): Buffer {
  switch (enc) {
    case 'gzip':
      return native.gzip(body, config.gzip_level);
    case 'br': {
      const c = compile(config);
      return zlib.brotliCompressSync(body, c.brotliOptions);
    }
    case 'zstd': {
      const out = native.zstd !== null ? native.zstd(body, config.zstd_level) : null;
      if (out === null) throw new Error('zstd is not available in this build');
      return out;
    }
  }
}

/** Known, small length: gather (bounded by sync_max_bytes), compress once, send with a Content-Length. */
class OneShot implements ResponseCompression {
  readonly encoding: Encoding;
  readonly #c: Compiled;
  readonly #ds: Downstream;
  readonly #status: number;
  readonly #reason: string;
  readonly #headers: readonly string[];
  readonly #length: number;
  #body: Buffer | null = null;
  #filled = 0;

  constructor(enc: Encoding, c: Compiled, ds: Downstream, head: ResponseHead, headers: readonly string[]) {
    this.encoding = enc;
    this.#c = c;
    this.#ds = ds;
    this.#status = head.statusCode;
    this.#reason = head.reason;
    this.#headers = headers;
    this.#length = head.contentLength;
  }

  push(chunk: Buffer): boolean {
    const n = Math.min(chunk.length, this.#length - this.#filled);
    if (n <= 0) return true;
    if (this.#filled === 0 && n === this.#length) {
      // The whole body in one read (the common case): keep the view, compress it right now.
      this.#body = this.#compress(chunk.subarray(0, n));
      this.#filled = n;
      return true;
    }
    const body = (this.#body ??= Buffer.allocUnsafe(this.#length));
    chunk.copy(body, this.#filled, 0, n);
    this.#filled += n;
    if (this.#filled === this.#length) this.#body = this.#compress(body);
    return true;
  }

  #compress(body: Buffer): Buffer {
    return compressWhole(this.encoding, body, this.#c.config);
  }

  end(done: () => void): void {
    const ds = this.#ds;
    const out = this.#filled === this.#length ? this.#body ?? this.#compress(Buffer.alloc(0)) : null;
    this.#body = null;
    if (out === null) {
      // Fewer bytes than announced: the parser reports that as an error before end; never send half.
      ds.close();
      done();
      return;
    }
    ds.writeHead(this.#status, this.#reason, this.#headers, out.length, false);
    ds.writeBody(out);
    ds.end();
    done();
  }

  destroy(): void {
    this.#body = null;
  }
}

// ---- streaming codecs ------------------------------------------------------------------------------------

/** Bytes handed to zlib and not yet compressed above which the upstream is paused. */
const ZLIB_HIGH_WATER = 256 * 1024;

/** gzip/brotli on node:zlib's async mode: the deflate work runs on libuv's pool, never on the worker thread. */
class ZlibStreamed implements ResponseCompression {
  readonly encoding: Encoding;
  readonly #z: zlib.Gzip | zlib.BrotliCompress;
  readonly #sink: CompressionSink;
  readonly #flushKind: number;
  /** A writeBody returned false: the client's onWritable resumes the upstream, not us. */
  #blocked = false;
  /** push returned false because of #queued: a flush callback owes the upstream a resume. */
  #owed = false;
  #queued = 0;
  /** Sizes of the chunks in flight, oldest first (flush callbacks come back in order). */
  readonly #sizes: number[] = [];
  #ended: (() => void) | null = null;
  #destroyed = false;
  readonly #afterFlush = (): void => this.#flushed();

  constructor(enc: Encoding, c: Compiled, sink: CompressionSink) {
    this.encoding = enc;
    this.#sink = sink;
    if (enc === 'br') {
      this.#z = zlib.createBrotliCompress(c.brotliOptions);
      this.#flushKind = zlib.constants.BROTLI_OPERATION_FLUSH;
    } else {
      this.#z = zlib.createGzip(c.gzipOptions);
      this.#flushKind = zlib.constants.Z_SYNC_FLUSH;
    }
    const ds = sink.ds;
    this.#z.on('data', (out: Buffer) => {
      if (this.#destroyed) return;
      // writeBody corks by itself, in sessions that fit uWS's cork buffer; an outer cork
      // would merge them into one (downstream/contract.ts).
      if (!ds.writeBody(out)) this.#blocked = true;
    });
    this.#z.on('end', () => {
      const done = this.#ended;
      this.#ended = null;
      if (done === null || this.#destroyed) return;
      ds.end();
      done();
    });
    this.#z.on('error', () => {
      if (this.#destroyed) return;
      this.destroy();
      ds.close();
    });
  }

  push(chunk: Buffer): boolean {
    if (this.#destroyed || chunk.length === 0) return true;
    // The chunk is a view of a read buffer that is reused as soon as we return: zlib reads it later, on
    // the pool, so it gets a copy. Each chunk is flushed so the client sees it without waiting for more.
    this.#z.write(Buffer.from(chunk));
    this.#z.flush(this.#flushKind, this.#afterFlush);
    this.#queued += chunk.length;
    this.#sizes.push(chunk.length);
    this.#blocked = false;
    if (this.#queued <= ZLIB_HIGH_WATER) return true;
    this.#owed = true;
    return false;
  }

  #flushed(): void {
    this.#queued -= this.#sizes.shift() ?? 0;
    if (!this.#owed || this.#destroyed || this.#ended !== null || this.#queued > ZLIB_HIGH_WATER / 2) return;
    this.#owed = false;
    if (!this.#blocked) this.#sink.resumeUpstream();
  }

  end(done: () => void): void {
    if (this.#destroyed) { done(); return; }
    this.#ended = done;
    this.#z.end();
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#ended = null;
    this.#z.destroy();
  }
}
