// `tls: internal`: a certificate authority Portcullis creates once in the state directory and
// leaf certificates it signs for the names a listener serves, like Caddy's `tls internal`.
// Users trust the root once (curl --cacert, or the system store); leaves are short-lived and
// renewed by the primary at two thirds of their lifetime.
//
//   <state_dir>/                 0700
//     ca/                        0700
//       root.crt                 0644  the root to trust (10 years)
//       root.key                 0600
//
// Two processes starting at once on one state directory: each builds the CA in a directory
// of its own and renames it to ca/; rename refuses a non-empty target, so the loser reads
// the winner's and both use the same root.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isPairError, parsePair, type CertificatePair } from './certificate.js';
import { createCa, issueLeaf, type PemPair } from './x509.js';

const DAY = 86_400_000;
const ROOT_LIFETIME_MS = 3650 * DAY;
/** Leaves live a week (renewed at two thirds): a leaked key is soon worthless. */
export const LEAF_LIFETIME_MS = 7 * DAY;
/** Backdated so a client whose clock is a little behind still accepts a fresh leaf. */
const BACKDATE_MS = 3_600_000;

/** The state directory, made private if it is new. */
export function ensureStateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

export class InternalCa {
  /** Path of the root certificate users trust. */
  readonly rootFile: string;
  readonly #root: PemPair;
  /** The CA was created by this call (so the caller tells the user to trust it). */
  readonly created: boolean;

  private constructor(rootFile: string, root: PemPair, created: boolean) {
    this.rootFile = rootFile;
    this.#root = root;
    this.created = created;
  }

  /** Loads the CA of `stateDir`, creating it on first use. */
  static async open(stateDir: string): Promise<InternalCa> {
    ensureStateDir(stateDir);
    const dir = join(stateDir, 'ca');
    const certFile = join(dir, 'root.crt');
    const keyFile = join(dir, 'root.key');
    let created = false;
    if (!existsSync(certFile)) {
      const now = Date.now();
      const root = await createCa('Portcullis Local CA', new Date(now - BACKDATE_MS), new Date(now + ROOT_LIFETIME_MS));
      const tmp = mkdtempSync(join(stateDir, '.ca-'));
      writeFileSync(join(tmp, 'root.key'), root.keyPem, { mode: 0o600 });
      writeFileSync(join(tmp, 'root.crt'), root.certPem, { mode: 0o644 });
      chmodSync(tmp, 0o700);
      try {
        renameSync(tmp, dir);
        created = true;
      } catch (err) {
        // Another process made it first (ENOTEMPTY/EEXIST): use theirs.
        rmSync(tmp, { recursive: true, force: true });
        if (!existsSync(certFile)) throw err;
      }
    }
    const root = { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') };
    const check = parsePair(root.certPem, root.keyPem, certFile, keyFile, false);
    if (isPairError(check)) throw new Error(`local CA in ${dir}: ${check.error}`);
    if (check.notAfter <= Date.now()) throw new Error(`local CA ${certFile} expired on ${new Date(check.notAfter).toISOString()}; delete ${dir} to make a new one`);
    return new InternalCa(certFile, root, created);
  }

  /** A leaf for `names` (DNS names, wildcards, IP literals), valid from now for `lifetimeMs`. */
  async issue(names: readonly string[], lifetimeMs = LEAF_LIFETIME_MS): Promise<CertificatePair> {
    const now = Date.now();
    const leaf = await issueLeaf(this.#root, { names, notBefore: new Date(now - BACKDATE_MS), notAfter: new Date(now + lifetimeMs) });
    const pair = parsePair(leaf.certPem, leaf.keyPem, 'internal certificate', 'internal key');
    if (isPairError(pair)) throw new Error(pair.error);
    return pair;
  }
}
