// What ACME leaves on disk, per directory (CA), so a restart reuses the account and the
// certificates instead of asking again (Let's Encrypt rate-limits repeated issuance):
//
//   <state_dir>/acme/<directory>/         0700   <directory>: host_port-path of the directory URL
//     account.key                         0600   ECDSA P-256, PEM
//     account.json                        0600   { "url": account URL }
//     certs/<name>/cert.pem               0600   chain, leaf first
//     certs/<name>/key.pem                0600
//
// Every file is written to a temporary name and renamed, so a reader sees the old or the new
// file, never half of one. A crash between a key and its certificate leaves a pair that does
// not match: it reads as missing and is issued again.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isPairError, parsePair, type CertificatePair } from './certificate.js';

/** A directory URL as a file name: `acme-v02.api.letsencrypt.org-directory`. */
export function directoryKey(url: string): string {
  const u = new URL(url);
  return `${u.host}${u.pathname}`.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^-+|-+$/g, '').toLowerCase();
}

function writePrivate(path: string, data: string): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode: 0o600 });
  renameSync(tmp, path);
}

function readOrNull(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

export class AcmeStore {
  readonly dir: string;

  constructor(stateDir: string, directoryUrl: string) {
    this.dir = join(stateDir, 'acme', directoryKey(directoryUrl));
    mkdirSync(join(this.dir, 'certs'), { recursive: true, mode: 0o700 });
  }

  accountKey(): string | null { return readOrNull(join(this.dir, 'account.key')); }
  saveAccountKey(pem: string): void { writePrivate(join(this.dir, 'account.key'), pem); }

  accountUrl(): string | null {
    const text = readOrNull(join(this.dir, 'account.json'));
    if (text === null) return null;
    try {
      const url = (JSON.parse(text) as { url?: unknown }).url;
      return typeof url === 'string' ? url : null;
    } catch {
      return null;
    }
  }

  saveAccountUrl(url: string): void { writePrivate(join(this.dir, 'account.json'), `${JSON.stringify({ url })}\n`); }

  /** The stored pair for `name` when it is whole and names it; null otherwise. */
  certificate(name: string): CertificatePair | null {
    const dir = join(this.dir, 'certs', name);
    const cert = readOrNull(join(dir, 'cert.pem'));
    const key = readOrNull(join(dir, 'key.pem'));
    if (cert === null || key === null) return null;
    const pair = parsePair(cert, key, `${dir}/cert.pem`, `${dir}/key.pem`);
    return isPairError(pair) || !pair.names.includes(name) ? null : pair;
  }

  saveCertificate(name: string, certPem: string, keyPem: string): void {
    const dir = join(this.dir, 'certs', name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writePrivate(join(dir, 'key.pem'), keyPem);
    writePrivate(join(dir, 'cert.pem'), certPem);
  }
}
