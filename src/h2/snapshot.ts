// The request head the pipeline sees (downstream/contract.ts), from an HTTP/2 stream's header
// block or a node:http request on the same port. Pseudo-headers become what HTTP/1.1 carries.
import type { IncomingMessage } from 'node:http';
import type { ServerHttp2Stream } from 'node:http2';
import type { ListenerContext, RequestHead } from '../downstream/contract.js';
import { normalizeAddress } from '../net/address.js';

function splitTarget(url: string): { rawPath: string; query: string } {
  const q = url.indexOf('?');
  return q < 0 ? { rawPath: url, query: '' } : { rawPath: url.slice(0, q), query: url.slice(q + 1) };
}

/** An HTTP/2 request: its flat raw header list (names lowercase, pseudo-headers first). */
export function streamSnapshot(stream: ServerHttp2Stream, raw: readonly string[], listener: ListenerContext): RequestHead {
  const headers: string[] = [];
  let method = 'GET';
  let path = '/';
  let authority = '';
  let cookie = '';
  let hasHost = false;
  let hasLength = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (name.charCodeAt(0) === 58 /* ':' */) {
      if (name === ':method') method = value;
      else if (name === ':path') path = value;
      else if (name === ':authority') authority = value;
      continue;
    }
    // RFC 9113 §8.2.3: HTTP/2 may split Cookie into several fields; HTTP/1.1 wants one.
    if (name === 'cookie') { cookie = cookie === '' ? value : `${cookie}; ${value}`; continue; }
    if (name === 'host') hasHost = true;
    else if (name === 'content-length') hasLength = true;
    headers.push(name, value);
  }
  if (cookie !== '') headers.push('cookie', cookie);
  // RFC 9113 §8.3.1: :authority stands for Host.
  if (!hasHost && authority !== '') headers.push('host', authority);
  // A body without a length is sent upstream chunked (HTTP/2 frames carry their own ends).
  if (!hasLength && !stream.endAfterHeaders) headers.push('transfer-encoding', 'chunked');
  const { rawPath, query } = splitTarget(path);
  return {
    method,
    rawPath,
    query,
    headers,
    peerIp: normalizeAddress(stream.session?.socket?.remoteAddress ?? ''),
    proxiedIp: '',
    scheme: listener.scheme,
    protocol: 'HTTP/2.0',
    listener,
  };
}

/** An HTTP/1.1 request served by node:http on an HTTP/2 listener (allowHTTP1). */
export function nodeSnapshot(req: IncomingMessage, listener: ListenerContext): RequestHead {
  const raw = req.rawHeaders;
  const headers: string[] = [];
  for (let i = 0; i < raw.length; i += 2) headers.push(raw[i]!.toLowerCase(), raw[i + 1]!);
  const { rawPath, query } = splitTarget(req.url ?? '/');
  return {
    method: req.method ?? 'GET',
    rawPath,
    query,
    headers,
    peerIp: normalizeAddress(req.socket?.remoteAddress ?? ''),
    proxiedIp: '',
    scheme: listener.scheme,
    listener,
  };
}
