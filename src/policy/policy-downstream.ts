// The client side of an exchange as the policies see it: the front end's Downstream with
// what the policy phase adds on the way out. Every answer (upstream, cache hit, error,
// refusal) passes writeHead or respond, so this is the one place for the route's response
// header edits, the RateLimit fields of this request, and the check for an upstream that
// redirects a client to the very URL it asked for. While an auth check is pending, it also
// holds the request body (uWS delivers a body only to a handler attached at once).
import type { Downstream } from '../downstream/contract.js';
import type { Exchange } from '../exchange.js';
import { counter } from '../observe/metrics.js';
import { applyResponseEdits, type ResponseEdits } from './response-edits.js';

const selfRedirects = counter('portcullis_upstream_self_redirects_total', 'Answers redirecting the client to the URL it asked for (a loop), by route', ['route']);
/** Routes warned about recently (one warning per route per minute). */
const warnedAt = new Map<string, number>();

type BodyCb = (chunk: Uint8Array, last: boolean) => void;

/**
 * Most request body held while a check is pending. uWS 20.57 keeps reading a paused client
 * (docs/limits.md), so an unauthenticated client could otherwise make us hold its upload: past
 * this the body is dropped and the request refused (PC_ERR_UPLOAD_BACKLOG) once the check ends.
 */
export const HELD_BODY_BYTES = 8 * 1024 * 1024;

export class PolicyDownstream implements Downstream {
  readonly #inner: Downstream;
  readonly #ex: Exchange;
  readonly #edits: ResponseEdits | null;
  #extra: string[] | null = null;
  /** Body chunks held while a check was pending (copies), then handed to the real reader. */
  #held: { chunk: Buffer; last: boolean }[] | null = null;
  #bodyCb: BodyCb | null = null;
  #holding = false;
  #heldBytes = 0;
  /** More than HELD_BODY_BYTES arrived while a check was pending: the request is refused. */
  overflowed = false;
  /** The body reader asked for a pause: replaying must not resume behind its back. */
  #readerPaused = false;

  constructor(inner: Downstream, ex: Exchange, edits: ResponseEdits | null) {
    this.#inner = inner;
    this.#ex = ex;
    this.#edits = edits;
  }

  get done(): boolean { return this.#inner.done; }
  get committed(): boolean { return this.#inner.committed; }

  /** Adds [name, value, …] to every answer of this exchange (RateLimit fields). */
  addResponseHeaders(...pairs: string[]): void {
    if (this.#extra === null) this.#extra = pairs;
    else this.#extra.push(...pairs);
  }

  #headers(headers: readonly string[]): readonly string[] {
    const e = this.#edits;
    if (e === null) return this.#extra === null ? headers : [...headers, ...this.#extra];
    const id = this.#ex.identity;
    return applyResponseEdits(headers, e, (id?.proto ?? this.#ex.head.scheme) === 'https', this.#extra);
  }

  writeHead(status: number, reason: string, headers: readonly string[], bodyLength: number, noBody: boolean): void {
    if (status >= 300 && status < 400) this.#checkSelfRedirect(headers);
    this.#inner.writeHead(status, reason, this.#headers(headers), bodyLength, noBody);
  }

  respond(status: number, reason: string, headers: readonly string[], body: string, closeConnection: boolean, headOnly: boolean): void {
    this.#inner.respond(status, reason, this.#headers(headers), body, closeConnection, headOnly);
  }

  writeBody(chunk: Buffer): boolean { return this.#inner.writeBody(chunk); }
  onWritable(cb: () => void): void { this.#inner.onWritable(cb); }
  end(): void { this.#inner.end(); }
  close(): void { this.#inner.close(); }
  pauseBody(): void { this.#readerPaused = true; this.#inner.pauseBody(); }
  resumeBody(): void {
    this.#readerPaused = false;
    if (!this.#holding) this.#inner.resumeBody();
  }
  onAbort(cb: () => void): void { this.#inner.onAbort(cb); }

  onBody(cb: BodyCb): void {
    if (this.#held === null) { this.#inner.onBody(cb); return; }
    this.#bodyCb = cb;
    // Handed over from a microtask: the reader (a Forwarder) registers in its constructor.
    queueMicrotask(() => this.#replay());
  }

  /** Starts holding the body: called synchronously by the phase before it waits for a check. */
  holdBody(): void {
    this.#held = [];
    this.#holding = true;
    this.#inner.onBody((chunk, last) => {
      if (this.#bodyCb !== null && this.#held === null) { this.#bodyCb(chunk, last); return; }
      if (this.overflowed) return;
      this.#heldBytes += chunk.length;
      if (this.#heldBytes > HELD_BODY_BYTES) {
        this.overflowed = true;
        this.#held = [];
        return;
      }
      // The ArrayBuffer dies after this callback: copy. Reading is paused (uWS 20.57 may go on
      // delivering: the cap above bounds what is kept).
      this.#held ??= [];
      this.#held.push({ chunk: Buffer.from(chunk), last });
      if (!last) this.#inner.pauseBody();
    });
  }

  /** The check passed: the next phase reads the body. */
  releaseBody(): void {
    this.#holding = false;
  }

  #replay(): void {
    const cb = this.#bodyCb!;
    const held = this.#held;
    this.#held = null;
    if (held !== null) for (const h of held) { if (this.#inner.done) return; cb(h.chunk, h.last); }
    if (held !== null && held.length > 0 && held.at(-1)!.last) return;
    // Reading stopped after the held chunk: go on unless the reader paused meanwhile.
    if (!this.#readerPaused) this.#inner.resumeBody();
  }

  /** A 3xx whose Location is the URL the client asked for: the client would loop. */
  #checkSelfRedirect(headers: readonly string[]): void {
    let location: string | undefined;
    for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'location') { location = headers[i + 1]; break; }
    if (location === undefined) return;
    const ex = this.#ex;
    const id = ex.identity;
    if (id === null || id.host === '') return;
    const own = `${id.proto}://${id.host}${ex.head.rawPath}${ex.head.query === '' ? '' : `?${ex.head.query}`}`;
    let target: string;
    try {
      const base = new URL(own);
      target = new URL(location, base).href;
      if (target !== base.href) return;
    } catch {
      return;
    }
    const route = ex.route?.name ?? '';
    selfRedirects.with(route).inc();
    const now = Date.now();
    if ((warnedAt.get(route) ?? 0) + 60_000 <= now) {
      warnedAt.set(route, now);
      process.stderr.write(`portcullis: warn: upstream of route ${route} redirected ${own} to itself (a redirect loop for the client; check its idea of scheme and host: X-Forwarded-Proto/Host)\n`);
    }
  }
}
