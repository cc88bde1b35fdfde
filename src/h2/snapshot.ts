// The request head the pipeline sees (downstream/contract.ts), from a Node request: an HTTP/2
// stream's compat request or a node:http one. Pseudo-headers become what HTTP/1.1 carries.
import type { Http2ServerRequest } from 'node:http2';
import type { ListenerContext, RequestHead } from '../downstream/contract.js';
import { normalizeAddress } from '../net/address.js';
import type { NodeRequest } from './downstream.js';

/** The request head the pipeline sees, from a Node request (either protocol). */
export function nodeSnapshot(req: NodeRequest, listener: ListenerContext): RequestHead {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const raw = req.rawHeaders;
  const h2 = req.httpVersionMajor === 2;
  const headers: string[] = [];
  let cookie = '';
  let hasHost = false;
  let hasLength = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = h2 ? raw[i]! : raw[i]!.toLowerCase();
    if (name.charCodeAt(0) === 58 /* ':' pseudo-header */) continue;
    const value = raw[i + 1]!;
    // RFC 9113 §8.2.3: HTTP/2 may split Cookie into several fields; HTTP/1.1 wants one.
    if (h2 && name === 'cookie') { cookie = cookie === '' ? value : `${cookie}; ${value}`; continue; }
    if (name === 'host') hasHost = true;
    else if (name === 'content-length') hasLength = true;
    headers.push(name, value);
  }
  if (h2) {
    if (cookie !== '') headers.push('cookie', cookie);
    const r = req as Http2ServerRequest;
    // RFC 9113 §8.3.1: :authority stands for Host.
    if (!hasHost && r.authority) headers.push('host', r.authority);
    // A body without a length is sent upstream chunked (HTTP/2 frames carry their own ends).
    if (!hasLength && !r.stream.endAfterHeaders) headers.push('transfer-encoding', 'chunked');
  }
  return {
    method: req.method ?? 'GET',
    rawPath: q < 0 ? url : url.slice(0, q),
    query: q < 0 ? '' : url.slice(q + 1),
    headers,
    peerIp: normalizeAddress(req.socket?.remoteAddress ?? ''),
    proxiedIp: '',
    scheme: listener.scheme,
    listener,
  };
}

