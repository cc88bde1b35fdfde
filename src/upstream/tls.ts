// TLS to https:// targets: the per-runtime compiled settings of a target (one SecureContext
// per group, so a connect never re-reads or re-parses a CA bundle), opening a socket to a
// target (plain or TLS), and naming what went wrong in a handshake.
//
//   tls.connect(host, port, servername = server_name | target host (none for an IP),
//               secureContext (ca | default roots, client cert), ALPN http/1.1,
//               session = the pool's last one) ── 'secureConnect' ──▶ pooled like plain
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import net from 'node:net';
import tls from 'node:tls';
import type { UpstreamTarget, UpstreamTlsSettings } from '../config/types.js';
import { ProxyError } from '../errors.js';

/** What every TLS connection to one target is opened with. */
export interface UpstreamTls {
  readonly context: tls.SecureContext;
  /** SNI; undefined for an IP target without server_name (SNI never carries an IP). */
  readonly servername: string | undefined;
  /** The name (or IP) the certificate must match. */
  readonly checkName: string;
  readonly verify: boolean;
}

/** One upstream target and how to reach it (an UpstreamPool is one). */
export interface UpstreamEndpoint {
  readonly target: UpstreamTarget;
  readonly tls: UpstreamTls | null;
  /** Where a host name's addresses come from (the primary's resolver, upstream/target.ts); undefined: as written / getaddrinfo. */
  readonly lookup?: net.LookupFunction | undefined;
}

/** Compiled settings of the group's https targets (contexts shared by the group's targets). */
export function compileContext(settings: UpstreamTlsSettings | undefined): tls.SecureContext {
  const options: tls.SecureContextOptions = { minVersion: 'TLSv1.2' };
  if (settings?.ca !== undefined) options.ca = readFileSync(settings.ca);
  if (settings?.cert !== undefined && settings.key !== undefined) {
    options.cert = readFileSync(settings.cert);
    options.key = readFileSync(settings.key);
  }
  return tls.createSecureContext(options);
}

export function upstreamTls(target: UpstreamTarget, settings: UpstreamTlsSettings | undefined, context: tls.SecureContext): UpstreamTls | null {
  if (target.https !== true) return null;
  const name = settings?.server_name ?? target.host;
  return { context, servername: isIP(name) === 0 ? name : undefined, checkName: name, verify: settings?.verify ?? true };
}

export interface ConnectOptions {
  /** Plain sockets read into this buffer (net `onread`); TLS sockets emit 'data'. */
  readonly onread?: { buffer: Buffer; callback: (n: number, buf: Buffer) => boolean };
  /** A TLS session to resume (from the target's last connection). */
  readonly session?: Buffer | undefined;
}

/** A socket to `e.target`: TLS when it is https (wait for 'secureConnect'), else plain ('connect'). */
export function connectEndpoint(e: UpstreamEndpoint, o: ConnectOptions = {}): net.Socket {
  const { host, port } = e.target;
  const t = e.tls;
  const lookup = e.lookup === undefined ? {} : { lookup: e.lookup };
  if (t === null) return net.connect({ host, port, noDelay: true, ...lookup, ...(o.onread === undefined ? {} : { onread: o.onread }) });
  const socket = tls.connect({
    host,
    port,
    ...lookup,
    ...(t.servername === undefined ? {} : { servername: t.servername }),
    secureContext: t.context,
    rejectUnauthorized: t.verify,
    // Checked against server_name when one is set, not the address we dialled.
    checkServerIdentity: (_host, cert) => tls.checkServerIdentity(t.checkName, cert),
    ALPNProtocols: ['http/1.1'],
    ...(o.session === undefined ? {} : { session: o.session }),
  });
  socket.setNoDelay(true);
  return socket;
}

/** One warning per upstream that accepts any certificate (tls.verify: false). */
export function insecureUpstreams(upstreams: Readonly<Record<string, { readonly tls?: UpstreamTlsSettings }>>): string[] {
  return Object.entries(upstreams).filter(([, u]) => u.tls?.verify === false)
    .map(([name]) => `upstream ${name}: tls.verify is false: any certificate is accepted from its targets (anyone on the path can read and change its traffic)`);
}

/** Certificate problems as OpenSSL/Node name them: the chain, the name, the dates. */
const CERT_CODES = /^(UNABLE_TO_|CERT_|DEPTH_ZERO_|SELF_SIGNED_|HOSTNAME_|ERR_TLS_CERT_|INVALID_CA|PATH_LENGTH|INVALID_PURPOSE|CERT_UNTRUSTED|CERT_REJECTED)/;

/** The ProxyError for a TLS socket's error during its handshake, or null when it is no TLS problem (refused, reset). */
export function handshakeError(err: NodeJS.ErrnoException): ProxyError | null {
  const code = err.code ?? '';
  if (CERT_CODES.test(code)) return new ProxyError('PC_ERR_UPSTREAM_TLS', `certificate not accepted: ${code}: ${err.message}`);
  if (code.startsWith('ERR_SSL_') || /SSL routines|alert/i.test(err.message)) return new ProxyError('PC_ERR_UPSTREAM_TLS', `handshake failed: ${err.message}`);
  return null;
}
