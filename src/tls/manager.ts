// The primary's certificate bookkeeping: for every TLS listener, the certificates it serves
// (configured files, and later issued ones) composed into the TlsCertSet workers load, kept
// current by polling the configured files. Done once in the primary, never per worker: a
// change is checked once, copied once (tls/snapshots.ts) and announced to every worker.
//
//   cert/key files ──poll 1 s──▶ readPair (parse, key matches) ──▶ snapshot copy ──▶ set
//   issued pairs (acme, internal) ──────────────────────────────────▶ snapshot copy ──┘
//   set changed ──▶ onChange(listener key, set) ──▶ supervisor ──▶ every worker
import { statSync } from 'node:fs';
import type { Config, Listener } from '../config/types.js';
import { isPairError, nameMatches, readPair, type CertificatePair } from './certificate.js';
import type { CertFiles, TlsCertSet } from './cert-set.js';
import { listenKey } from '../config/diff.js';
import { CertSnapshots } from './snapshots.js';

/** Counts a TLS event for the primary's metrics (tls/primary.ts): which family, which label value. */
export type TlsCount = (family: 'acme' | 'on_demand' | 'reload', label: string) => void;

/** How often configured certificate files are looked at. */
export const POLL_MS = 1000;

export type Log = (level: 'info' | 'warn' | 'error', msg: string) => void;

/** A configured cert/key pair and what was last read from it. */
interface WatchedPair {
  readonly cert: string;
  readonly key: string;
  /** stat fingerprint of both files when last read. */
  signature: string;
  pair: CertificatePair;
  /** The last problem reported, so a file mid-rewrite is reported once, not every second. */
  problem: string;
}

interface ListenerCerts {
  readonly key: string;
  readonly spec: Listener;
  readonly files: WatchedPair[];
  /** Issued certificates (ACME, internal CA) by name; configured files win over them. */
  readonly issued: Map<string, CertificatePair>;
  /** An issued certificate that is the default when no file is configured. */
  issuedDefault: CertificatePair | null;
  set: TlsCertSet;
}

function statSignature(paths: readonly string[]): string {
  return paths.map((p) => {
    try {
      const s = statSync(p);
      return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
    } catch {
      return 'missing';
    }
  }).join('|');
}

export class CertificateManager {
  readonly #snapshots: CertSnapshots;
  readonly #listeners: ListenerCerts[] = [];
  readonly #log: Log;
  readonly #onChange: (key: string, set: TlsCertSet) => void;
  #timer: NodeJS.Timeout | null = null;

  /** Reads every configured pair now; throws when one cannot be used (start-up must fail). */
  readonly #count: TlsCount;

  constructor(config: Config, log: Log, onChange: (key: string, set: TlsCertSet) => void, snapshotDir?: string, count: TlsCount = () => {}) {
    this.#log = log;
    this.#count = count;
    this.#onChange = onChange;
    this.#snapshots = new CertSnapshots(snapshotDir);
    try {
      for (const spec of config.listen) {
        if (spec.tls === undefined) continue;
        const files = spec.tls.certificates.map((c): WatchedPair => {
          const signature = statSignature([c.cert, c.key]);
          const pair = readPair(c.cert, c.key);
          if (isPairError(pair)) throw new Error(`listen ${listenKey(spec)}: ${pair.error}`);
          return { cert: c.cert, key: c.key, signature, pair, problem: '' };
        });
        const l: ListenerCerts = { key: listenKey(spec), spec, files, issued: new Map(), issuedDefault: null, set: { default: null, names: {} } };
        l.set = this.#compose(l);
        this.#listeners.push(l);
      }
    } catch (err) {
      this.#snapshots.remove();
      throw err;
    }
  }

  /** The current set of every TLS listener, by listener key (what a new worker boots with). */
  sets(): Record<string, TlsCertSet> {
    return Object.fromEntries(this.#listeners.map((l) => [l.key, l.set]));
  }

  /** How this manager names a listener (its address). */
  keyOf(spec: Listener): string {
    return listenKey(spec);
  }

  /** True when each of the listeners `keys` has a configured certificate file naming `host`. */
  coveredByFiles(keys: readonly string[], host: string): boolean {
    return keys.every((key) => this.#listeners.find((l) => l.key === key)?.files.some((w) => w.pair.names.some((n) => nameMatches(n, host))) ?? false);
  }

  /** Keys of the listeners with `tls.internal`. */
  internalListeners(): string[] {
    return this.#listeners.filter((l) => l.spec.tls?.internal === true).map((l) => l.key);
  }

  /**
   * Serves an issued certificate (internal CA, ACME) on the listeners `keys` for each of its
   * DNS names, under any configured file naming the same host; `asDefault`: also the default
   * of a listener that has no configured files.
   */
  provide(keys: readonly string[], pair: CertificatePair, asDefault: boolean): void {
    for (const l of this.#listeners) {
      if (!keys.includes(l.key)) continue;
      for (const name of pair.names) l.issued.set(name, pair);
      if (asDefault) l.issuedDefault = pair;
      this.#publish(l);
    }
  }

  /** Starts watching the configured files. */
  start(): void {
    if (this.#listeners.length === 0 || this.#timer !== null) return;
    this.#timer = setInterval(() => this.poll(), POLL_MS);
    this.#timer.unref();
  }

  /** Looks at every configured file once (the timer's work; tests call it directly too). */
  poll(): void {
    for (const l of this.#listeners) {
      let changed = false;
      for (const w of l.files) {
        const signature = statSignature([w.cert, w.key]);
        if (signature === w.signature) continue;
        const pair = readPair(w.cert, w.key);
        if (isPairError(pair)) {
          // Often a rotation half done (new cert, old key): keep serving the old pair; the
          // next change of either file is read again.
          if (pair.error !== w.problem) { this.#count('reload', 'kept'); this.#log('warn', `listen ${l.key}: keeping the current certificate: ${pair.error}`); }
          w.problem = pair.error;
          w.signature = signature;
          continue;
        }
        w.signature = signature;
        w.problem = '';
        if (pair.id === w.pair.id) continue;
        if (pair.notAfter <= Date.now()) this.#log('warn', `listen ${l.key}: ${w.cert} has expired (${new Date(pair.notAfter).toISOString()}); serving it anyway, as it is what the file holds`);
        w.pair = pair;
        changed = true;
        this.#count('reload', 'loaded');
        this.#log('info', `listen ${l.key}: certificate ${w.cert} reloaded (${pair.names.join(', ')}; valid until ${new Date(pair.notAfter).toISOString()})`);
      }
      if (changed) this.#publish(l);
    }
  }

  #publish(l: ListenerCerts): void {
    l.set = this.#compose(l);
    this.#collect();
    this.#onChange(l.key, l.set);
  }

  /** Configured files first (in order; the first is the default), then issued certificates. */
  #compose(l: ListenerCerts): TlsCertSet {
    const names: Record<string, CertFiles> = {};
    const add = (name: string, files: CertFiles): void => { if (names[name] === undefined) names[name] = files; };
    for (const w of l.files) {
      const files = this.#snapshots.files(w.pair);
      for (const n of w.pair.names) add(n, files);
    }
    for (const [name, pair] of l.issued) add(name, this.#snapshots.files(pair));
    const first = l.files[0]?.pair ?? l.issuedDefault;
    return { default: first === null ? null : this.#snapshots.files(first), names };
  }

  #collect(): void {
    const inUse = new Set<string>();
    for (const l of this.#listeners) {
      if (l.set.default !== null) inUse.add(l.set.default.id);
      for (const f of Object.values(l.set.names)) inUse.add(f.id);
    }
    this.#snapshots.collect(inUse);
  }

  stop(): void {
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    this.#snapshots.remove();
  }
}
