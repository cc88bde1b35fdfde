// redirect_https: a plain listener sends clients to the https:// URL of the same request,
// with 308 (RFC 9110 §15.4.9: the method and body are kept, unlike 301), for hosts that
// have a certificate on a TLS listener. Not when a trusted TLS-terminating proxy says the
// client already uses https (identity proto): that would loop (the proxy would ask us
// over http again, forever).
import type { HttpsRedirect } from '../downstream/contract.js';

/** The Location for `host` (lowercase, no port), `port` of the TLS listener, and the request target as sent. */
export function httpsLocation(host: string, port: number, rawPath: string, query: string): string {
  const authority = port === 443 ? host : `${host}:${port}`;
  return `https://${authority}${rawPath}${query === '' ? '' : `?${query}`}`;
}

/**
 * Where a request on a redirecting listener should go, or null to serve it here: no
 * redirect listener, already https at the client (trusted proxy), or no certificate.
 */
export function redirectTarget(redirect: HttpsRedirect | null, clientProto: 'http' | 'https', host: string, rawPath: string, query: string): string | null {
  if (redirect === null || clientProto === 'https' || host === '') return null;
  const port = redirect.httpsPort(host);
  return port === null ? null : httpsLocation(host, port, rawPath, query);
}
