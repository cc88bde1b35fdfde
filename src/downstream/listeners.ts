// Every listener of one worker, from the config's `listen` entries: plain addresses share
// the front end's own uWS App (downstream/server.ts); every other entry (TLS, or plain with
// redirect_https) is a handle of its own that can take new certificates while it serves.
// One spec in, one handle out, so a reload can open and close listeners one by one.
import { uWS } from '../uws/load.js';
import type { TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { Listener } from '../config/types.js';
import { coversHost, EMPTY_CERT_SET, listenerKey, type TlsCertSet } from '../tls/cert-set.js';
import { hstsValue } from '../tls/hsts.js';
import { UwsTlsListener } from '../tls/uws-listener.js';
import { Http2Listener } from '../h2/listener.js';
import type { ChallengeAnswers, HttpsRedirect, ListenerContext } from './contract.js';
import type { Mount, UwsFrontEnd } from './server.js';

/** One listener that is not a plain address on the shared App. */
export interface ListenerHandle {
  /** listenerKey(spec): how messages and reloads name it. */
  readonly key: string;
  readonly spec: Listener;
  /** The certificates new handshakes get (TLS listeners; the empty set otherwise). */
  readonly certificates: TlsCertSet;
  listen(): Promise<void>;
  /** New handshakes use `set`; open connections keep theirs. A no-op on plain listeners. */
  setCertificates(set: TlsCertSet): Promise<void>;
  stopAccepting(): void;
  /** Closes every connection (a uWS App left open when the thread ends aborts the process). */
  close(): void;
}

/** What opening a listener needs besides its spec. */
export interface ListenerDeps {
  readonly front: UwsFrontEnd;
  /** For redirect_https: which TLS listener has a certificate for a host. */
  readonly redirect: HttpsRedirect;
  /** HTTP-01 answers for plain listeners, while some listener uses ACME; null otherwise. */
  readonly challenges: ChallengeAnswers | null;
  /** acme.on_demand: a handshake named a host no certificate covers (on ACME listeners); null: never asked. */
  readonly onDemand: ((name: string) => void) | null;
  /** This worker's id (an HTTP/2 listener that cannot share its port is served by worker 0). */
  readonly workerId: number;
}

/** A plain listener with an App of its own (redirect_https). */
function plainHandle(spec: Listener, mount: Mount): ListenerHandle {
  const app: TemplatedApp = uWS.App();
  mount.configure(app);
  mount.on(app);
  let socket: us_listen_socket | null = null;
  return {
    key: listenerKey(spec),
    spec,
    certificates: EMPTY_CERT_SET,
    listen: () => new Promise((resolve, reject) => {
      app.listen(spec.host, spec.port, (s) => {
        if (s) { socket = s; resolve(); } else reject(new Error(`cannot listen on ${spec.host}:${spec.port} (address in use or not available)`));
      });
    }),
    setCertificates: () => Promise.resolve(),
    stopAccepting: () => { if (socket !== null) uWS.us_listen_socket_close(socket); socket = null; },
    close() { this.stopAccepting(); (app as TemplatedApp & { close(): void }).close(); },
  };
}

/** The handle serving `spec` (TLS, or plain with redirect_https), TLS ones with the certificates they start with. */
export function openListener(spec: Listener, deps: ListenerDeps, certs: TlsCertSet): ListenerHandle {
  if (spec.tls === undefined) {
    const context: ListenerContext = { scheme: 'http', redirect: spec.redirect_https ? deps.redirect : null, challenges: deps.challenges };
    return plainHandle(spec, deps.front.mount(context));
  }
  const onMissing = spec.tls.acme ? deps.onDemand : null;
  // HTTP/2 needs ALPN, which uWS does not offer: such a listener is Node's (h2/listener.ts).
  const listener = spec.protocols?.includes('h2')
    ? new Http2Listener(spec, certs, deps.front, hstsValue(spec.tls.hsts), deps.workerId, onMissing)
    : new UwsTlsListener(spec, certs, deps.front.mount({ scheme: 'https', redirect: null, challenges: null }, hstsValue(spec.tls.hsts)), onMissing);
  return {
    key: listenerKey(spec),
    spec,
    get certificates() { return listener.certificates; },
    listen: () => listener.listen(),
    setCertificates: (set) => listener.setCertificates(set),
    stopAccepting: () => listener.stopAccepting(),
    close: () => listener.close(),
  };
}

export class Listeners implements HttpsRedirect {
  readonly #front: UwsFrontEnd;
  readonly #plain: Listener[];
  readonly #handles = new Map<string, ListenerHandle>();

  constructor(front: UwsFrontEnd, specs: readonly Listener[], certs: Readonly<Record<string, TlsCertSet>>, more: Omit<ListenerDeps, 'front' | 'redirect'>) {
    this.#front = front;
    this.#plain = specs.filter((s) => s.tls === undefined && !s.redirect_https);
    const deps: ListenerDeps = { front, redirect: this, ...more };
    for (const spec of specs) {
      if (spec.tls === undefined && !spec.redirect_https) continue;
      const key = listenerKey(spec);
      this.#handles.set(key, openListener(spec, deps, certs[key] ?? EMPTY_CERT_SET));
    }
  }

  /** HttpsRedirect: the first TLS listener (config order) with a certificate naming `host`. */
  httpsPort(host: string): number | null {
    for (const h of this.#handles.values()) if (h.spec.tls !== undefined && coversHost(h.certificates, host)) return h.spec.port;
    return null;
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
