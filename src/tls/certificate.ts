// A certificate/key pair read from PEM files and checked the way a TLS server will use it:
// the leaf parses, the key matches it, and the host names it serves come from its
// subjectAltName (RFC 6125 §6.4.4: the CN only when there is no DNS SAN).
import { createHash, createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface CertificatePair {
  /** The certificate chain as read (leaf first), PEM. */
  readonly certPem: string;
  readonly keyPem: string;
  /** Lowercase DNS names (exact or '*.example.com') the leaf is valid for. */
  readonly names: readonly string[];
  /** IP addresses in the leaf's subjectAltName (served to clients that send no SNI). */
  readonly ips: readonly string[];
  readonly notBefore: number;
  readonly notAfter: number;
  /** sha256 over the chain and key: identical files give identical ids. */
  readonly id: string;
}

export type PairResult = CertificatePair | { readonly error: string; readonly field: 'cert' | 'key' };

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

function readText(path: string): string | { error: string } {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { error: code === 'ENOENT' ? `cannot read ${path}: file not found` : `cannot read ${path}: ${(err as Error).message}` };
  }
}

/** DNS names and IPs of a leaf: SAN entries, else the CN (RFC 6125 §6.4.4). */
export function leafNames(cert: X509Certificate): { names: string[]; ips: string[] } {
  const names: string[] = [];
  const ips: string[] = [];
  for (const entry of (cert.subjectAltName ?? '').split(', ')) {
    if (entry.startsWith('DNS:')) names.push(entry.slice(4).toLowerCase());
    else if (entry.startsWith('IP Address:')) ips.push(entry.slice(11).toLowerCase());
  }
  if (names.length === 0) {
    const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject)?.[1];
    if (cn !== undefined && /^(\*\.)?[a-z0-9.-]+$/i.test(cn)) names.push(cn.toLowerCase());
  }
  return { names: [...new Set(names)], ips: [...new Set(ips)] };
}

/** Parses PEM text of a chain and a key into a pair, or says which part is wrong and why. */
export function parsePair(certPem: string, keyPem: string, certLabel = 'certificate', keyLabel = 'key', requireNames = true): PairResult {
  const blocks = certPem.match(PEM_CERT);
  if (blocks === null) return { field: 'cert', error: `${certLabel} is not a PEM certificate (no "BEGIN CERTIFICATE" block)` };
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(blocks[0]!);
  } catch (err) {
    return { field: 'cert', error: `${certLabel}: cannot parse the certificate: ${(err as Error).message}` };
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    const msg = (err as Error).message;
    return { field: 'key', error: /passphrase|encrypted/i.test(msg) ? `${keyLabel} is encrypted; give an unencrypted key` : `${keyLabel} is not a PEM private key: ${msg}` };
  }
  if (!leaf.checkPrivateKey(key)) return { field: 'key', error: `${keyLabel} does not belong to ${certLabel} (the public keys differ)` };
  const { names, ips } = leafNames(leaf);
  if (requireNames && names.length === 0 && ips.length === 0) return { field: 'cert', error: `${certLabel} names no host (no DNS or IP subjectAltName, no CN)` };
  const id = createHash('sha256').update(certPem).update('\0').update(keyPem).digest('hex').slice(0, 32);
  return { certPem, keyPem, names, ips, notBefore: Date.parse(leaf.validFrom), notAfter: Date.parse(leaf.validTo), id };
}

/** Reads and checks a certificate file and its key file (`requireNames`: a server certificate must name a host). */
export function readPair(certPath: string, keyPath: string, requireNames = true): PairResult {
  const cert = readText(certPath);
  if (typeof cert !== 'string') return { field: 'cert', error: cert.error };
  const key = readText(keyPath);
  if (typeof key !== 'string') return { field: 'key', error: key.error };
  return parsePair(cert, key, certPath, keyPath, requireNames);
}

/** Why a CA bundle file cannot be used (unreadable, no certificate in it), or null. */
export function caFileProblem(path: string): string | null {
  const text = readText(path);
  if (typeof text !== 'string') return text.error;
  const blocks = text.match(PEM_CERT);
  if (blocks === null) return `${path} holds no PEM certificate`;
  for (const b of blocks) {
    try {
      new X509Certificate(b);
    } catch (err) {
      return `${path}: cannot parse a certificate: ${(err as Error).message}`;
    }
  }
  return null;
}

export function isPairError(r: PairResult): r is { readonly error: string; readonly field: 'cert' | 'key' } {
  return 'error' in r;
}

/**
 * Whether `host` (lowercase, no port) is covered by `pattern`: equal, or `*.rest` where the
 * wildcard stands for exactly one label (RFC 6125 §6.4.3: `*.example.com` does not cover
 * `example.com` nor `a.b.example.com`).
 */
export function nameMatches(pattern: string, host: string): boolean {
  if (!pattern.startsWith('*.')) return pattern === host;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot + 1) === pattern.slice(2);
}
