// Strict-Transport-Security (RFC 6797) on every answer of a TLS listener: proxied, cached,
// errors alike (nginx `add_header ... always`). Added at the front end, the one place every
// answer passes, by wrapping the listener's Downstream; an upstream's own header wins (a
// user agent honours only the first, §8.1), so it is never sent twice.
import type { Downstream } from '../downstream/contract.js';
import type { HstsSettings } from '../config/types.js';

const NAME = 'strict-transport-security';

/** The header value, or null when HSTS is off. */
export function hstsValue(h: HstsSettings | false): string | null {
  if (h === false) return null;
  return `max-age=${h.max_age}${h.include_subdomains ? '; includeSubDomains' : ''}${h.preload ? '; preload' : ''}`;
}

function hasHeader(headers: readonly string[], name: string): boolean {
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === name) return true;
  return false;
}

export function withHsts(headers: readonly string[], value: string): readonly string[] {
  return hasHeader(headers, NAME) ? headers : [...headers, NAME, value];
}

/** A Downstream that adds Strict-Transport-Security to the head it writes. */
export class HstsDownstream implements Downstream {
  readonly #inner: Downstream;
  readonly #value: string;

  constructor(inner: Downstream, value: string) {
    this.#inner = inner;
    this.#value = value;
  }

  get done(): boolean { return this.#inner.done; }
  get committed(): boolean { return this.#inner.committed; }

  writeHead(status: number, reason: string, headers: readonly string[], bodyLength: number, noBody: boolean): void {
    this.#inner.writeHead(status, reason, withHsts(headers, this.#value), bodyLength, noBody);
  }

  respond(status: number, reason: string, headers: readonly string[], body: string, closeConnection: boolean, headOnly: boolean): void {
    this.#inner.respond(status, reason, withHsts(headers, this.#value), body, closeConnection, headOnly);
  }

  writeBody(chunk: Buffer): boolean { return this.#inner.writeBody(chunk); }
  onWritable(cb: () => void): void { this.#inner.onWritable(cb); }
  end(): void { this.#inner.end(); }
  close(): void { this.#inner.close(); }
  onBody(cb: (chunk: Uint8Array, last: boolean) => void): void { this.#inner.onBody(cb); }
  pauseBody(): void { this.#inner.pauseBody(); }
  resumeBody(): void { this.#inner.resumeBody(); }
  onAbort(cb: () => void): void { this.#inner.onAbort(cb); }
  closeConnectionAfter(): void { this.#inner.closeConnectionAfter?.(); }
}
