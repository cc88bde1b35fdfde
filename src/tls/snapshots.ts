// Private copies of the certificates workers load. uWS reads certificate and key from file
// paths when an App or SNI entry is created, so the files it reads must be the ones the
// primary checked: a file being rewritten in place (cp, an editor) could otherwise be read
// half-written, and uWS then silently serves the default certificate instead. Each checked
// pair is written once, named by its content hash, into a directory only this user can read
// (0700, files 0600) that is removed when the process exits.
//
//   $TMPDIR/portcullis-tls-XXXXXX/   0700
//     <id>.crt  <id>.key              0600, never rewritten (a new content is a new id)
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CertificatePair } from './certificate.js';
import type { CertFiles } from './cert-set.js';

/** How long a copy no set refers to any more is kept (a worker may be loading it right now). */
const KEEP_UNUSED_MS = 60_000;

export class CertSnapshots {
  readonly dir: string;
  readonly #written = new Map<string, CertFiles>();
  /** Copies waiting to be deleted, by id (a pair that comes back before that keeps its copy). */
  readonly #unused = new Map<string, { files: CertFiles; timer: NodeJS.Timeout }>();
  #removed = false;

  constructor(parent = tmpdir()) {
    this.dir = mkdtempSync(join(parent, 'portcullis-tls-'));
  }

  /** The files for `pair`, written on first use. */
  files(pair: CertificatePair): CertFiles {
    const known = this.#written.get(pair.id);
    if (known !== undefined) return known;
    const unused = this.#unused.get(pair.id);
    if (unused !== undefined) {
      clearTimeout(unused.timer);
      this.#unused.delete(pair.id);
      this.#written.set(pair.id, unused.files);
      return unused.files;
    }
    const files: CertFiles = { id: pair.id, cert: join(this.dir, `${pair.id}.crt`), key: join(this.dir, `${pair.id}.key`), notAfter: pair.notAfter };
    writeFileSync(files.key, pair.keyPem, { mode: 0o600, flag: 'wx' });
    writeFileSync(files.cert, pair.certPem, { mode: 0o600, flag: 'wx' });
    this.#written.set(pair.id, files);
    return files;
  }

  /** Deletes, after a grace period, every copy whose id is not in `inUse`. */
  collect(inUse: ReadonlySet<string>): void {
    for (const [id, files] of this.#written) {
      if (inUse.has(id)) continue;
      this.#written.delete(id);
      const timer = setTimeout(() => {
        this.#unused.delete(id);
        for (const f of [files.cert, files.key]) { try { unlinkSync(f); } catch { /* gone */ } }
      }, KEEP_UNUSED_MS);
      timer.unref();
      this.#unused.set(id, { files, timer });
    }
  }

  remove(): void {
    if (this.#removed) return;
    this.#removed = true;
    for (const u of this.#unused.values()) clearTimeout(u.timer);
    this.#unused.clear();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
