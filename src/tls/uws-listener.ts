// An HTTPS listener on uWS SSLApp: one App whose default context holds the default
// certificate and whose SNI entries (addServerName) hold the others, each entry with the
// same request handlers (uWS keeps routes per server name: an entry without routes would
// close every request). A new SNI name is added in place. Any other change (a name's
// certificate replaced or a name removed, a new default) builds a new App: the new App listens
// on the same port (SO_REUSEPORT), the old listen socket closes, and the old App keeps serving
// the connections it has until the last one closes.
//
// Why not removeServerName + addServerName for a replaced name: uWS deletes the name's routes
// at once, but a connection that negotiated the old certificate still finds them through its
// SSL_CTX (uSockets us_internal_ssl_socket_get_sni_userdata reads the SSL_CTX's ex_data). Its
// next request then runs on freed memory: measured on 20.57, an open connection's request was
// served by the routes of whatever name was added next (test/tls/uws-listener.test.ts). Likely
// also why an ACME renewal test holding a connection across a renewal once saw the process die.
//
//   handshake ── SNI name? ── exact / *.one-label match ──▶ that certificate
//                    └─ none / unknown ─────────────────▶ default certificate, or failure
import { uWS } from '../uws/load.js';
import type { AppOptions, TemplatedApp, us_listen_socket } from 'uWebSockets.js';
import type { Listener } from '../config/types.js';
import type { Mount, TlsApps } from '../downstream/server.js';
import { counter } from '../observe/metrics.js';
import { coversHost as isCovered, diffCertSets, type CertFiles, type TlsCertSet } from './cert-set.js';

/**
 * TLS 1.2 suites (uSockets already refuses anything below 1.2; TLS 1.3 keeps OpenSSL's
 * defaults): forward secret ECDHE with AEAD only, Mozilla's "intermediate" list without DHE
 * (no DH parameters are configured).
 */
export const TLS12_CIPHERS = [
  'ECDHE-ECDSA-AES128-GCM-SHA256', 'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384', 'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305', 'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

const swaps = counter('portcullis_tls_certificate_swaps_total', 'Certificate changes applied by a TLS listener: SNI names added in place, or a new App (a name replaced or removed, a new default certificate).', ['kind']);
const sniAdds = swaps.with('sni');
const appSwaps = swaps.with('app');

function options(c: CertFiles | null): AppOptions {
  return c === null ? { ssl_ciphers: TLS12_CIPHERS } : { key_file_name: c.key, cert_file_name: c.cert, ssl_ciphers: TLS12_CIPHERS };
}

/** An App and its open connections (uWS `filter` reports each open and close). */
interface Generation {
  readonly app: TemplatedApp;
  socket: us_listen_socket | null;
  connections: number;
  retired: boolean;
  closed: boolean;
}

type AppClose = TemplatedApp & { close(): void };

export class UwsTlsListener implements TlsApps {
  readonly spec: Listener;
  readonly #mount: Mount;
  #set: TlsCertSet;
  #current: Generation;
  /** Apps replaced by a certificate change, still serving their own connections. */
  readonly #retired = new Set<Generation>();
  #accepting = false;

  readonly #onMissingName: ((name: string) => void) | null;

  /** `onMissingName`: called (synchronously, in the handshake) for an SNI name no certificate covers. */
  constructor(spec: Listener, certs: TlsCertSet, mount: Mount, onMissingName: ((name: string) => void) | null = null) {
    this.spec = spec;
    this.#mount = mount;
    this.#onMissingName = onMissingName;
    this.#set = certs;
    this.#current = this.#build(certs);
  }

  get certificates(): TlsCertSet { return this.#set; }

  /** Apps alive (the current one plus retired ones still serving connections). */
  get apps(): number { return 1 + this.#retired.size; }

  forEachApp(fn: (app: TemplatedApp) => void): void {
    fn(this.#current.app);
    for (const gen of this.#retired) fn(gen.app);
  }

  #build(set: TlsCertSet): Generation {
    const app = uWS.SSLApp(options(set.default));
    const gen: Generation = { app, socket: null, connections: 0, retired: false, closed: false };
    app.filter((_res, count) => {
      gen.connections += Number(count);
      if (gen.retired && gen.connections <= 0) setImmediate(() => this.#closeRetired(gen));
    });
    this.#mount.configure(app);
    const missing = this.#onMissingName;
    if (missing !== null) app.missingServerName((name) => { if (!isCovered(this.#set, name)) missing(name); });
    // Default routes first: domain() below moves the App's "current router" to each name.
    this.#mount.on(app);
    for (const [name, files] of Object.entries(set.names)) this.#addName(app, name, files);
    return gen;
  }

  #addName(app: TemplatedApp, name: string, files: CertFiles): void {
    app.addServerName(name, options(files));
    this.#mount.on(app.domain(name));
  }

  listen(): Promise<void> {
    this.#accepting = true;
    return this.#listen(this.#current);
  }

  #listen(gen: Generation): Promise<void> {
    const { host, port } = this.spec;
    return new Promise((resolve, reject) => {
      gen.app.listen(host, port, (socket) => {
        if (socket) { gen.socket = socket; resolve(); }
        else reject(new Error(`cannot listen on ${host}:${port} (address in use or not available)`));
      });
    });
  }

  /**
   * Serves `next` to new handshakes from now on; open connections keep the certificate they
   * negotiated. Resolves once the change is live.
   */
  async setCertificates(next: TlsCertSet): Promise<void> {
    const before = this.#set;
    const change = diffCertSets(before, next);
    this.#set = next;
    const replaced = change.added.some(([name]) => before.names[name] !== undefined);
    if (change.defaultChanged || change.removed.length > 0 || replaced) {
      appSwaps.inc();
      const old = this.#current;
      const gen = this.#build(next);
      this.#current = gen;
      if (this.#accepting) {
        await this.#listen(gen);
        // Only now: the port is never without a listener. Closing a SO_REUSEPORT socket resets
        // the connections still in its accept queue (unless net.ipv4.tcp_migrate_req is 1), so
        // it is closed right after the loop has accepted what was queued: one timer turn later,
        // the poll phase between has emptied it and only what arrived since can be lost.
        await new Promise((resolve) => setTimeout(resolve, 0));
        this.#retire(old);
      } else {
        this.#retire(old);
      }
      return;
    }
    // Only new names: no connection can hold their routes yet.
    const app = this.#current.app;
    sniAdds.inc(change.added.length);
    for (const [name, files] of change.added) this.#addName(app, name, files);
  }

  #retire(gen: Generation): void {
    if (gen.socket !== null) { uWS.us_listen_socket_close(gen.socket); gen.socket = null; }
    gen.retired = true;
    if (gen.connections <= 0) { this.#closeApp(gen); return; }
    this.#retired.add(gen);
  }

  #closeRetired(gen: Generation): void {
    if (gen.connections > 0) return;
    this.#retired.delete(gen);
    this.#closeApp(gen);
  }

  #closeApp(gen: Generation): void {
    if (gen.closed) return;
    gen.closed = true;
    (gen.app as AppClose).close();
  }

  /** Stops accepting new connections; open ones keep being served. */
  stopAccepting(): void {
    this.#accepting = false;
    const s = this.#current.socket;
    if (s !== null) { uWS.us_listen_socket_close(s); this.#current.socket = null; }
  }

  /** Closes every connection of every App (a uWS App left open when a thread ends aborts the process). */
  close(): void {
    this.stopAccepting();
    for (const gen of [this.#current, ...this.#retired]) this.#closeApp(gen);
    this.#retired.clear();
  }
}
