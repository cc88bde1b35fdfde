// A worker's listeners: one front end per `listen` entry, so a reload opens the addresses it
// adds and drains the ones it removes without touching the others' connections. A plain
// address is one uWS App (UwsFrontEnd); a TLS entry is a UwsFrontEnd whose Apps come from
// tls/uws-listener.ts (SSLApp, SNI, certificate swaps), or with `protocols: [h1, h2]` Node's
// http2 server (h2/listener.ts). Every front end serves the current generation; a removed one
// stops accepting, tells its keep-alive clients to close, sends its tunnels 1001, and closes
// once idle or at the drain deadline.
import type { Listener } from '../config/types.js';
import { listenKey } from '../config/diff.js';
import { coversHost, EMPTY_CERT_SET, type TlsCertSet } from '../tls/cert-set.js';
import { hstsValue } from '../tls/hsts.js';
import { UwsTlsListener } from '../tls/uws-listener.js';
import { Http2Listener } from '../h2/listener.js';
import type { ChallengeAnswers, HttpsRedirect, ListenerContext } from './contract.js';
import type { Generation } from './generations.js';
import { UwsFrontEnd } from './server.js';
import type { Tunnel } from '../upstream/tunnel.js';
import { gauge } from '../observe/metrics.js';

/** Read by the admin dashboard (primary/operations.ts); worker 0 alone reports it (gauges sum over workers). */
const expiry = gauge('portcullis_tls_certificate_expiry_timestamp_seconds', 'When each certificate a TLS listener serves expires (Unix seconds), by name', ['name']);

export interface ListenerInfo {
  readonly address: string;
  readonly inflight: number;
  readonly tunnels: number;
  readonly draining: boolean;
}

/** What every kind of listener does for the worker (UwsFrontEnd, Http2Listener). */
export interface FrontEnd {
  listen(addresses: readonly Listener[]): Promise<void>;
  setGeneration(gen: Generation): void;
  goAwayWhere(changed: (t: Tunnel) => boolean, reason: string): number;
  stopAccepting(): void;
  idle(deadlineMs: number): Promise<void>;
  close(): void;
  readonly inflight: number;
  readonly tunnels: ReadonlySet<Tunnel>;
  readonly draining: boolean;
}

/** A TLS listener's certificates, for swaps and for redirect_https. */
interface Certified {
  readonly certificates: TlsCertSet;
  setCertificates(set: TlsCertSet): Promise<void>;
}

/** What opening listeners needs besides their specs. */
export interface ListenerDeps {
  /** Each TLS listener's certificates at start, by listen key (tls/primary.ts). */
  readonly certs: Readonly<Record<string, TlsCertSet>>;
  /** HTTP-01 answers for plain listeners, while some listener uses ACME; null otherwise. */
  readonly challenges: ChallengeAnswers | null;
  /** A handshake on an ACME listener named a host no certificate covers; null: nobody asks. */
  readonly onDemand: ((name: string) => void) | null;
  /** This worker's id (an HTTP/2 listener that cannot share its port is served by worker 0). */
  readonly workerId: number;
}

export class Listeners implements HttpsRedirect {
  readonly #open = new Map<string, FrontEnd>();
  /** Removed by a reload, finishing their requests. */
  readonly #draining = new Set<FrontEnd>();
  readonly #drainingInfo = new Map<FrontEnd, string>();
  /** TLS listeners by key, in config order (redirect_https picks the first that covers a host). */
  readonly #tls = new Map<string, { spec: Listener; certified: Certified }>();
  readonly #maxMessage: number;
  readonly #deps: ListenerDeps;

  /** `maxMessage`: the WebSocket message limit every App of this worker gets (fixed until a restart). */
  constructor(maxMessage: number, deps: ListenerDeps) {
    this.#maxMessage = maxMessage;
    this.#deps = deps;
  }

  keys(): string[] { return [...this.#open.keys()]; }

  /** The front end serving `spec`, with the TLS listener behind it when there is one. */
  #make(spec: Listener, gen: Generation, key: string): { front: FrontEnd; certified: Certified | null } {
    const deps = this.#deps;
    const tls = spec.tls;
    if (tls === undefined) {
      // Plain: the ACME challenges, and redirect_https when asked; nothing at all otherwise.
      const redirect = spec.redirect_https ? this : null;
      const listener: ListenerContext | undefined = redirect === null && deps.challenges === null ? undefined : { scheme: 'http', redirect, challenges: deps.challenges };
      return { front: new UwsFrontEnd(gen, this.#maxMessage, listener === undefined ? {} : { listener }), certified: null };
    }
    const certs = deps.certs[key] ?? EMPTY_CERT_SET;
    const onMissing = tls.acme ? deps.onDemand : null;
    if (spec.protocols?.includes('h2')) {
      // HTTP/2 needs ALPN, which uWS does not offer: such a listener is Node's.
      const h2 = new Http2Listener(spec, certs, gen, hstsValue(tls.hsts), deps.workerId, onMissing);
      return { front: h2, certified: h2 };
    }
    let apps: UwsTlsListener | null = null;
    const front = new UwsFrontEnd(gen, this.#maxMessage, {
      listener: { scheme: 'https', redirect: null, challenges: null },
      hsts: hstsValue(tls.hsts),
      tls: (mount) => (apps = new UwsTlsListener(spec, certs, mount, onMissing)),
    });
    return { front, certified: apps! };
  }

  /**
   * Opens the entries not open yet, serving `gen`. Resolves with the keys it opened; on a
   * failure closes what it opened and rejects (the others are untouched).
   */
  async open(listen: readonly Listener[], gen: Generation): Promise<string[]> {
    const added: [string, FrontEnd, Listener, Certified | null][] = [];
    try {
      for (const spec of listen) {
        const key = listenKey(spec);
        if (this.#open.has(key)) continue;
        const { front, certified } = this.#make(spec, gen, key);
        added.push([key, front, spec, certified]);
        await front.listen([spec]);
      }
    } catch (err) {
      for (const [, front] of added) front.close();
      throw err;
    }
    for (const [key, front, spec, certified] of added) {
      this.#open.set(key, front);
      if (certified !== null) { this.#tls.set(key, { spec, certified }); this.#reportExpiry(certified.certificates); }
    }
    return added.map(([key]) => key);
  }

  /** HttpsRedirect: the first TLS listener (config order) with a certificate naming `host`. */
  httpsPort(host: string): number | null {
    for (const { spec, certified } of this.#tls.values()) if (coversHost(certified.certificates, host)) return spec.port;
    return null;
  }

  /** A TLS listener's certificates changed; unknown keys are ignored (a listener closed since). */
  setCertificates(key: string, set: TlsCertSet): Promise<void> {
    const tls = this.#tls.get(key);
    if (tls === undefined) return Promise.resolve();
    this.#reportExpiry(set);
    return tls.certified.setCertificates(set);
  }

  #reportExpiry(set: TlsCertSet): void {
    if (this.#deps.workerId !== 0) return;
    for (const [name, files] of Object.entries(set.names)) expiry.with(name).set(files.notAfter / 1000);
  }

  /** Closes listeners `open` just made (a reload that was called off). */
  discard(keys: readonly string[]): void {
    for (const key of keys) {
      const front = this.#open.get(key);
      if (front === undefined) continue;
      this.#open.delete(key);
      this.#tls.delete(key);
      front.close();
    }
  }

  setGeneration(gen: Generation): void {
    for (const front of this.#open.values()) front.setGeneration(gen);
    for (const front of this.#draining) front.setGeneration(gen);
  }

  /** Tunnels on every front end for which `changed` says yes get 1001. */
  goAwayWhere(changed: (t: Tunnel) => boolean, reason: string): number {
    let n = 0;
    for (const front of this.#fronts()) n += front.goAwayWhere(changed, reason);
    return n;
  }

  /** Drains and closes the listeners of `keys` (removed by a reload). */
  drain(keys: readonly string[], deadlineMs: number): void {
    for (const key of keys) {
      const front = this.#open.get(key);
      if (front === undefined) continue;
      this.#open.delete(key);
      this.#tls.delete(key);
      this.#draining.add(front);
      this.#drainingInfo.set(front, key);
      front.stopAccepting();
      void front.idle(deadlineMs).then(() => {
        this.#draining.delete(front);
        this.#drainingInfo.delete(front);
        front.close();
      });
    }
  }

  /** Worker drain: every listener stops accepting. */
  stopAccepting(): void {
    for (const front of this.#fronts()) front.stopAccepting();
  }

  /** Resolves when no front end has a request in flight, or after deadlineMs. */
  async idle(deadlineMs: number): Promise<void> {
    await Promise.all([...this.#fronts()].map((f) => f.idle(deadlineMs)));
  }

  close(): void {
    for (const front of this.#fronts()) {
      try { front.close(); } catch { /* already closed */ }
    }
    this.#open.clear();
    this.#draining.clear();
    this.#tls.clear();
  }

  get inflight(): number {
    let n = 0;
    for (const front of this.#fronts()) n += front.inflight;
    return n;
  }

  *tunnels(): Iterable<Tunnel> {
    for (const front of this.#fronts()) yield* front.tunnels;
  }

  info(): ListenerInfo[] {
    const out: ListenerInfo[] = [];
    for (const [address, f] of this.#open) out.push({ address, inflight: f.inflight, tunnels: f.tunnels.size, draining: f.draining });
    for (const f of this.#draining) out.push({ address: this.#drainingInfo.get(f) ?? '?', inflight: f.inflight, tunnels: f.tunnels.size, draining: true });
    return out;
  }

  *#fronts(): Iterable<FrontEnd> {
    yield* this.#open.values();
    yield* this.#draining;
  }
}
