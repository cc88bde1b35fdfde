// TLS for tests: a throwaway CA and certificates written to a temp dir, and a raw TLS
// client (node:tls) that reports what the handshake gave (certificate, protocol, ALPN,
// resumption) along with one HTTP/1.1 answer.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { createCa, issueLeaf, type PemPair } from '../../src/tls/x509.js';

const DAY = 86_400_000;

export interface TestCa {
  readonly dir: string;
  readonly ca: PemPair;
  /** Path of the CA certificate (what clients trust). */
  readonly caFile: string;
  /** Issues a certificate for `names` and writes it as `<file>.crt` / `<file>.key` in `dir`. */
  issue(file: string, names: readonly string[], opts?: { notBefore?: number; notAfter?: number; clientAuth?: boolean }): Promise<{ cert: string; key: string; pem: PemPair }>;
  /** Writes a pair to `<file>.crt`/`.key` (replacing them in place). */
  write(file: string, pem: PemPair): { cert: string; key: string };
  remove(): void;
}

export async function createTestCa(name = 'Portcullis Test CA'): Promise<TestCa> {
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-test-tls-'));
  const now = Date.now();
  const ca = await createCa(name, new Date(now - DAY), new Date(now + 30 * DAY));
  const caFile = join(dir, 'ca.crt');
  writeFileSync(caFile, ca.certPem);
  const write = (file: string, pem: PemPair): { cert: string; key: string } => {
    const cert = join(dir, `${file}.crt`);
    const key = join(dir, `${file}.key`);
    writeFileSync(cert, pem.certPem);
    writeFileSync(key, pem.keyPem);
    return { cert, key };
  };
  return {
    dir,
    ca,
    caFile,
    async issue(file, names, opts = {}) {
      const pem = await issueLeaf(ca, { names, notBefore: new Date(opts.notBefore ?? now - DAY), notAfter: new Date(opts.notAfter ?? now + 7 * DAY), clientAuth: opts.clientAuth ?? false });
      return { ...write(file, pem), pem };
    },
    write,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface TlsAnswer {
  /** Subject CN and SAN of the certificate the server presented. */
  readonly cn: string | undefined;
  readonly san: string | undefined;
  /** Serial number of the presented certificate (hex, as node:crypto X509Certificate prints it). */
  readonly serial: string;
  readonly authorized: boolean;
  readonly authorizationError: string | null;
  readonly protocol: string | null;
  readonly cipher: string;
  readonly alpn: string | false;
  readonly reused: boolean;
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly session: Buffer | undefined;
  readonly socket: tls.TLSSocket;
}

export interface TlsGetOptions extends tls.ConnectionOptions {
  readonly target?: string;
  readonly hostHeader?: string;
  readonly requestHeaders?: Record<string, string>;
  /** Leave the connection open (caller destroys `socket`). */
  readonly keepOpen?: boolean;
}

/** A whole chunked body, or null while its last chunk has not arrived. */
function dechunk(data: Buffer): Buffer | null {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = data.indexOf('\r\n', at);
    if (eol < 0) return null;
    const size = parseInt(data.subarray(at, eol).toString('latin1'), 16);
    if (size === 0) return data.indexOf('\r\n', eol + 2) < 0 ? null : Buffer.concat(parts);
    if (data.length < eol + 2 + size + 2) return null;
    parts.push(data.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/** Reads one HTTP/1.1 response with a Content-Length (or none) from a TLS socket. */
export function readResponse(socket: tls.TLSSocket): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      buf = Buffer.concat([buf, d]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
      const status = Number(lines[0]!.split(' ')[1]);
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const c = l.indexOf(':');
        const name = l.slice(0, c).toLowerCase();
        const value = l.slice(c + 1).trim();
        headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
      }
      let body: Buffer;
      if (headers['transfer-encoding'] === 'chunked') {
        const chunks = dechunk(buf.subarray(end + 4));
        if (chunks === null) return;
        body = chunks;
      } else {
        const length = Number(headers['content-length'] ?? 0);
        if (buf.length - end - 4 < length) return;
        body = buf.subarray(end + 4, end + 4 + length);
      }
      socket.off('data', onData);
      socket.off('error', reject);
      resolve({ status, headers, body: body.toString() });
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

/** One TLS handshake and one GET; resolves with what was negotiated and answered. */
export function tlsGet(port: number, opts: TlsGetOptions = {}): Promise<TlsAnswer> {
  return new Promise((resolve, reject) => {
    let session: Buffer | undefined;
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts }, () => {
      const cert = socket.getPeerCertificate();
      const host = opts.hostHeader ?? (opts.servername || 'localhost');
      const extra = Object.entries(opts.requestHeaders ?? {}).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      socket.write(`GET ${opts.target ?? '/'} HTTP/1.1\r\nhost: ${host}\r\n${extra}\r\n`);
      readResponse(socket).then((r) => {
        const answer: TlsAnswer = {
          cn: cert.subject?.CN as string | undefined,
          san: cert.subjectaltname,
          serial: cert.serialNumber,
          authorized: socket.authorized,
          authorizationError: socket.authorizationError ? String(socket.authorizationError) : null,
          protocol: socket.getProtocol(),
          cipher: socket.getCipher().name,
          alpn: socket.alpnProtocol ?? false,
          reused: socket.isSessionReused(),
          ...r,
          get session() { return session; },
          socket,
        };
        // TLS 1.3 tickets arrive after the handshake: give them a moment before closing.
        if (opts.keepOpen) resolve(answer);
        else setTimeout(() => { socket.destroy(); resolve(answer); }, 50);
      }, reject);
    });
    socket.on('session', (s: Buffer) => { session = s; });
    socket.once('error', reject);
  });
}

/** The error a handshake ends with (rejects if it succeeds). */
export function handshakeError(port: number, opts: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...opts }, () => {
      socket.destroy();
      reject(new Error(`handshake succeeded (${socket.getProtocol()})`));
    });
    socket.once('error', (err) => resolve(err.message));
  });
}
