// The primary's side of `tls: internal`: one leaf from the local CA (tls/internal-ca.ts) for
// every name the internal listeners serve, handed to them as their default certificate, and a
// new one at two thirds of its lifetime.
import { isIP } from 'node:net';
import type { Config } from '../config/types.js';
import { InternalCa } from './internal-ca.js';
import type { CertificateManager, Log } from './manager.js';

/** A timer delay Node accepts (longer ones fire at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The names an internal leaf covers: localhost and the loopback addresses, the listeners' own
 * IPs (not 0.0.0.0 or ::), and every route host (wildcards included: a private CA may sign them).
 */
export function internalNames(config: Config): string[] {
  const names = new Set<string>(['localhost', '127.0.0.1', '::1']);
  for (const l of config.listen) {
    if (l.tls?.internal !== true) continue;
    if (isIP(l.host) !== 0 && l.host !== '0.0.0.0' && l.host !== '::') names.add(l.host);
  }
  for (const r of config.routes) if (r.host !== undefined) names.add(r.host);
  return [...names];
}

export interface InternalIssuer {
  readonly ca: InternalCa;
  stop(): void;
}

/** Opens (or creates) the CA, serves a leaf on every internal listener and keeps it renewed; null when none is internal. */
export async function startInternalIssuer(config: Config, certs: CertificateManager, log: Log): Promise<InternalIssuer | null> {
  const keys = certs.internalListeners();
  if (keys.length === 0) return null;
  const ca = await InternalCa.open(config.state_dir);
  const names = internalNames(config);
  let timer: NodeJS.Timeout | null = null;
  let stopped = false;
  const issue = async (): Promise<void> => {
    const pair = await ca.issue(names);
    if (stopped) return;
    certs.provide(keys, pair, true);
    const renewAt = pair.notBefore + ((pair.notAfter - pair.notBefore) * 2) / 3;
    timer = setTimeout(() => {
      issue().catch((err: Error) => {
        log('error', `local CA: renewing the certificate for ${names.join(', ')} failed: ${err.message}; retrying in a minute`);
        timer = setTimeout(() => void issue().catch(() => {}), 60_000);
        timer.unref();
      });
    }, Math.min(MAX_TIMER_MS, Math.max(1000, renewAt - Date.now())));
    timer.unref();
  };
  await issue();
  log('info', `local CA${ca.created ? ' created' : ''}: ${ca.rootFile} signs the certificate for ${names.join(', ')}; trust it with \`curl --cacert ${ca.rootFile} ...\`, or system-wide (Debian/Ubuntu): sudo cp ${ca.rootFile} /usr/local/share/ca-certificates/portcullis-local-ca.crt && sudo update-ca-certificates`);
  return {
    ca,
    stop() {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
    },
  };
}
