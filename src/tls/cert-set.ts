// The certificates one TLS listener serves, as the primary hands them to workers: files to
// load (immutable snapshots, src/tls/snapshots.ts) by SNI name, plus the default. Plain
// data (it crosses postMessage), with the pure diff a worker applies on a change.

/** One certificate as a worker loads it. `id` changes whenever the content does. */
export interface CertFiles {
  readonly id: string;
  /** Path of the PEM chain file, leaf first. */
  readonly cert: string;
  /** Path of the PEM private key file. */
  readonly key: string;
  /** When the certificate expires (ms since epoch). */
  readonly notAfter: number;
}

export interface TlsCertSet {
  /** For clients that send no SNI name or one nothing below covers; null: the handshake fails. */
  readonly default: CertFiles | null;
  /** SNI name (lowercase, exact or '*.example.com') → certificate. */
  readonly names: Readonly<Record<string, CertFiles>>;
}

export const EMPTY_CERT_SET: TlsCertSet = Object.freeze({ default: null, names: Object.freeze({}) });

export interface CertSetChange {
  /** The default certificate differs (the uWS App must be replaced: it cannot swap its own). */
  readonly defaultChanged: boolean;
  /** Names no longer served. */
  readonly removed: readonly string[];
  /** Names new or served with another certificate. */
  readonly added: readonly (readonly [string, CertFiles])[];
}

/** What a worker must do to go from `before` to `after`. */
export function diffCertSets(before: TlsCertSet, after: TlsCertSet): CertSetChange {
  const removed = Object.keys(before.names).filter((n) => after.names[n] === undefined);
  const added = Object.entries(after.names).filter(([n, c]) => before.names[n]?.id !== c.id);
  return { defaultChanged: (before.default?.id ?? null) !== (after.default?.id ?? null), removed, added };
}

/** True when `host` has a certificate in the set: an exact name, or a one-label wildcard. */
export function coversHost(set: TlsCertSet, host: string): boolean {
  if (set.names[host] !== undefined) return true;
  const dot = host.indexOf('.');
  return dot > 0 && set.names[`*${host.slice(dot)}`] !== undefined;
}
