// Every listener of one worker, from the config's `listen` entries: plain addresses share
// the front end's own uWS App (downstream/server.ts); each TLS entry is a handle of its own
// (tls/uws-listener.ts) that can take new certificates while it serves. One spec in, one
// handle out, so a reload can open and close listeners one by one.
import type { Listener } from '../config/types.js';
import { EMPTY_CERT_SET, listenerKey, type TlsCertSet } from '../tls/cert-set.js';
import { UwsTlsListener } from '../tls/uws-listener.js';
import type { UwsFrontEnd } from './server.js';

/** One listener that is not a plain address. */
export interface ListenerHandle {
  /** listenerKey(spec): how messages and reloads name it. */
  readonly key: string;
  readonly spec: Listener;
  listen(): Promise<void>;
  /** New handshakes use `set`; open connections keep theirs. */
  setCertificates(set: TlsCertSet): Promise<void>;
  stopAccepting(): void;
  /** Closes every connection (a uWS App left open when the thread ends aborts the process). */
  close(): void;
}

/** The handle serving `spec` (which has `tls`), with the certificates it starts with. */
export function openListener(spec: Listener, front: UwsFrontEnd, certs: TlsCertSet): ListenerHandle {
  const listener = new UwsTlsListener(spec, certs, front.mount('https'));
  return {
    key: listenerKey(spec),
    spec,
    listen: () => listener.listen(),
    setCertificates: (set) => listener.setCertificates(set),
    stopAccepting: () => listener.stopAccepting(),
    close: () => listener.close(),
  };
}

export class Listeners {
  readonly #front: UwsFrontEnd;
  readonly #plain: Listener[];
  readonly #handles = new Map<string, ListenerHandle>();

  constructor(front: UwsFrontEnd, specs: readonly Listener[], certs: Readonly<Record<string, TlsCertSet>>) {
    this.#front = front;
    this.#plain = specs.filter((s) => s.tls === undefined);
    for (const spec of specs) {
      if (spec.tls === undefined) continue;
      const key = listenerKey(spec);
      this.#handles.set(key, openListener(spec, front, certs[key] ?? EMPTY_CERT_SET));
    }
  }

  /** Resolves when every listener listens; rejects with the first that cannot. */
  listen(): Promise<void> {
    return Promise.all([this.#front.listen(this.#plain), ...[...this.#handles.values()].map((h) => h.listen())]).then(() => undefined);
  }

  /** A TLS listener's certificates changed; unknown keys are ignored (a listener closed since). */
  setCertificates(key: string, set: TlsCertSet): Promise<void> {
    return this.#handles.get(key)?.setCertificates(set) ?? Promise.resolve();
  }

  stopAccepting(): void {
    this.#front.stopAccepting();
    for (const h of this.#handles.values()) h.stopAccepting();
  }

  close(): void {
    for (const h of this.#handles.values()) h.close();
    this.#front.close();
  }
}
