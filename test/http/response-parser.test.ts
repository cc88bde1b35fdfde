import { describe, expect, test } from 'vitest';

import type { ProxyError } from '../../src/errors.js';
import { ResponseParser, type ResponseHead } from '../../src/http/response-parser.js';

type Event =
  | { type: 'head'; head: ResponseHead }
  | { type: 'body'; data: string }
  | { type: 'end'; close: boolean }
  | { type: 'error'; code: string; retryable: boolean };

interface Run {
  events: Event[];
  /** Bytes execute() left unconsumed after the message ended (tunnel data after a 101). */
  rest: string;
}

interface Options {
  noBody?: boolean;
  eof?: boolean;
  max?: number;
}

/** Feeds `chunks` to a fresh parser and records its events; body events are merged (chunking is not behaviour). */
function run(chunks: readonly Buffer[], opts: Options = {}): Run {
  const events: Event[] = [];
  let done = false;
  let ended = false;
  const parser: ResponseParser = new ResponseParser(
    {
      onHead(head) {
        events.push({ type: 'head', head: { ...head, headers: [...head.headers] } });
      },
      onBody(chunk) {
        const last = events[events.length - 1];
        if (last?.type === 'body') last.data += chunk.toString('latin1');
        else events.push({ type: 'body', data: chunk.toString('latin1') });
      },
      onEnd() {
        events.push({ type: 'end', close: parser.head!.close });
        done = true;
        ended = true;
      },
      onError(err: ProxyError) {
        events.push({ type: 'error', code: err.code, retryable: err.retryable });
        done = true;
      },
    },
    opts.max ?? 8192,
  );
  parser.reset(opts.noBody ?? false);
  let rest = '';
  for (const chunk of chunks) {
    if (done) {
      if (ended) rest += chunk.toString('latin1');
      continue;
    }
    const n = parser.execute(chunk);
    if (ended && n < chunk.length) rest += chunk.subarray(n).toString('latin1');
  }
  if (!done && opts.eof) parser.finish();
  return { events, rest };
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

function splits(raw: string): Buffer[][] {
  const out: Buffer[][] = [];
  const buf = b(raw);
  for (let k = 1; k < buf.length; k++) out.push([buf.subarray(0, k), buf.subarray(k)]);
  return out;
}

function bytes(raw: string): Buffer[] {
  const buf = b(raw);
  const out: Buffer[] = [];
  for (let k = 0; k < buf.length; k++) out.push(buf.subarray(k, k + 1));
  return out;
}

interface Expected {
  status?: number;
  reason?: string;
  headers?: string[];
  contentLength?: number;
  bodyKind?: ResponseHead['bodyKind'];
  close?: boolean;
  keepAliveTimeoutMs?: number;
  connectionTokens?: readonly string[] | null;
  chunked?: boolean;
  body?: string;
  rest?: string;
  error?: string;
}

interface Fixture {
  name: string;
  raw: string;
  opts?: Options;
  expect: Expected;
}

const OK13 = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!';

const FIXTURES: Fixture[] = [
  // ── Content-Length ────────────────────────────────────────────────────────────
  {
    name: 'content-length body',
    raw: OK13,
    expect: { status: 200, reason: 'OK', headers: ['content-type', 'text/plain', 'content-length', '13'], contentLength: 13, bodyKind: 'length', close: false, body: 'Hello, World!' },
  },
  {
    name: 'content-length 0 ends at the head',
    raw: 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
    expect: { bodyKind: 'length', contentLength: 0, body: '' },
  },
  {
    name: 'identical duplicate Content-Length is accepted',
    raw: 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc',
    expect: { contentLength: 3, body: 'abc' },
  },
  {
    name: 'identical Content-Length list is accepted (RFC 9110 §8.6)',
    raw: 'HTTP/1.1 200 OK\r\nContent-Length: 3 , 3\r\n\r\nabc',
    expect: { contentLength: 3, body: 'abc' },
  },
  {
    name: 'names lowercased, duplicates kept in order, OWS trimmed, empty values',
    raw: 'HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nX-EMPTY:\r\nset-cookie:\tb=2 \t\r\nX-Mid: a  b\r\nContent-Length: 0\r\n\r\n',
    expect: { headers: ['set-cookie', 'a=1', 'x-empty', '', 'set-cookie', 'b=2', 'x-mid', 'a  b', 'content-length', '0'] },
  },
  {
    name: 'obs-text bytes in a value pass through as latin1',
    raw: 'HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\nContent-Length: 0\r\n\r\n',
    expect: { headers: ['x-name', 'caf\xe9', 'content-length', '0'] },
  },
  {
    name: 'custom reason phrase',
    raw: 'HTTP/1.1 599 Whatever You Say\r\nContent-Length: 0\r\n\r\n',
    expect: { status: 599, reason: 'Whatever You Say' },
  },
  {
    name: 'missing reason phrase (no SP)',
    raw: 'HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n',
    expect: { status: 404, reason: '' },
  },
  {
    name: 'empty reason phrase (SP)',
    raw: 'HTTP/1.1 404 \r\nContent-Length: 0\r\n\r\n',
    expect: { status: 404, reason: '' },
  },
  {
    name: 'no header fields at all is close-delimited',
    raw: 'HTTP/1.1 200 OK\r\n\r\nabc',
    opts: { eof: true },
    expect: { headers: [], bodyKind: 'close', close: true, body: 'abc' },
  },
  // ── chunked ───────────────────────────────────────────────────────────────────
  {
    name: 'chunked with extensions and trailers',
    raw:
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '5;foo=bar\r\nhello\r\n6 ; q="x y"\r\n world\r\nA\r\n0123456789\r\n0;last\r\nX-Trailer: yes\r\nY:\r\n\r\n',
    expect: { bodyKind: 'chunked', chunked: true, contentLength: -1, close: false, body: 'hello world0123456789' },
  },
  {
    name: 'chunked, case-insensitive with OWS, uppercase hex, leading zeros',
    raw: 'HTTP/1.1 200 OK\r\nTransfer-Encoding:  ChUnKeD \r\n\r\n00B\r\nhello world\r\n000\r\n\r\n',
    expect: { bodyKind: 'chunked', body: 'hello world' },
  },
  {
    name: 'chunked with an empty body',
    raw: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    expect: { bodyKind: 'chunked', body: '' },
  },
  {
    name: 'chunk data containing CRLF',
    raw: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n\r\n\r\n\r\n0\r\n\r\n',
    expect: { body: '\r\n\r\n' },
  },
  // ── close-delimited and HTTP/1.0 ─────────────────────────────────────────────
  {
    name: 'close-delimited body ends at EOF',
    raw: 'HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html>all of it</html>',
    opts: { eof: true },
    expect: { bodyKind: 'close', close: true, contentLength: -1, body: '<html>all of it</html>' },
  },
  {
    name: 'HTTP/1.0 implies close',
    raw: 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nhi',
    expect: { bodyKind: 'length', close: true, body: 'hi' },
  },
  {
    name: 'HTTP/1.0 with Connection: keep-alive is reusable',
    raw: 'HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n\r\nhi',
    expect: { close: false, connectionTokens: ['keep-alive'], body: 'hi' },
  },
  {
    name: 'HTTP/1.0 with chunked is read, then closed (RFC 9112 §6.1)',
    raw: 'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n',
    expect: { bodyKind: 'chunked', close: true, body: 'hi' },
  },
  // ── no-body responses ────────────────────────────────────────────────────────
  {
    name: 'HEAD response keeps Content-Length but has no body',
    raw: 'HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n',
    opts: { noBody: true },
    expect: { bodyKind: 'none', contentLength: 1234, close: false, body: undefined },
  },
  {
    name: 'HEAD response with chunked has no body',
    raw: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n',
    opts: { noBody: true },
    expect: { bodyKind: 'none', chunked: true },
  },
  {
    name: '204 has no body',
    raw: 'HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n',
    expect: { status: 204, bodyKind: 'none', close: false },
  },
  {
    name: '304 has no body even with Content-Length',
    raw: 'HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\nETag: "x"\r\n\r\n',
    expect: { status: 304, bodyKind: 'none', contentLength: 50 },
  },
  {
    name: '100 Continue is dropped, then the final response',
    raw: 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok',
    expect: { status: 201, reason: 'Created', body: 'ok' },
  },
  {
    name: '103 Early Hints (twice) before the final response (a handler without onInterim sees only the final one)',
    raw:
      'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n' +
      'HTTP/1.1 103 Early Hints\r\nLink: </b.js>; rel=preload\r\n\r\n' +
      'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx',
    expect: { status: 200, headers: ['content-length', '1'], body: 'x' },
  },
  {
    name: '101 is reported with no body; the bytes after it belong to the tunnel',
    raw: 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x05hello',
    expect: { status: 101, bodyKind: 'none', close: true, connectionTokens: ['upgrade'], rest: '\x81\x05hello' },
  },
  // ── Connection / Keep-Alive ───────────────────────────────────────────────────
  {
    name: 'Keep-Alive timeout in ms',
    raw: 'HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5, max=100\r\nContent-Length: 0\r\n\r\n',
    expect: { keepAliveTimeoutMs: 5000, connectionTokens: ['keep-alive'], close: false },
  },
  {
    name: 'Keep-Alive timeout after another parameter, spaced and quoted',
    raw: 'HTTP/1.1 200 OK\r\nKeep-Alive: max=5, Timeout = "7"\r\nContent-Length: 0\r\n\r\n',
    expect: { keepAliveTimeoutMs: 7000 },
  },
  {
    name: 'invalid Keep-Alive timeout is ignored',
    raw: 'HTTP/1.1 200 OK\r\nKeep-Alive: timeout=soon\r\nContent-Length: 0\r\n\r\n',
    expect: { keepAliveTimeoutMs: -1 },
  },
  {
    name: 'Connection: close',
    raw: 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n',
    expect: { close: true, connectionTokens: ['close'] },
  },
  {
    name: 'Connection tokens from several fields, lowercased',
    raw: 'HTTP/1.1 200 OK\r\nConnection: X-Foo,  Keep-Alive\r\nConnection: CLOSE\r\nContent-Length: 0\r\n\r\n',
    expect: { close: true, connectionTokens: ['x-foo', 'keep-alive', 'close'] },
  },
  {
    name: 'no Connection field',
    raw: OK13,
    expect: { connectionTokens: null, keepAliveTimeoutMs: -1 },
  },
  // ── protocol errors ───────────────────────────────────────────────────────────
  ...(
    [
      ['differing duplicate Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello'],
      ['differing Content-Length list', 'HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\nhello'],
      ['non-digit Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello'],
      ['signed Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello'],
      ['negative Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n'],
      ['empty Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n'],
      ['Content-Length list with a hole', 'HTTP/1.1 200 OK\r\nContent-Length: 5,\r\n\r\nhello'],
      ['Content-Length beyond 2^53', 'HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n'],
      ['status 600 (RFC 9110 §15: 100-599)', 'HTTP/1.1 600 Six\r\nContent-Length: 0\r\n\r\n'],
      ['status 999', 'HTTP/1.1 999 X\r\nContent-Length: 0\r\n\r\n'],
      ['Transfer-Encoding with Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
      ['Content-Length after Transfer-Encoding', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n'],
      ['Transfer-Encoding gzip', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n'],
      ['Transfer-Encoding gzip, chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n'],
      ['Transfer-Encoding chunked, chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n'],
      ['Transfer-Encoding identity', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: identity\r\n\r\n'],
      ['two Transfer-Encoding fields', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'],
      ['space in a header name', 'HTTP/1.1 200 OK\r\nBad Name: x\r\nContent-Length: 0\r\n\r\n'],
      ['whitespace before the colon', 'HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n'],
      ['non-token byte in a name', 'HTTP/1.1 200 OK\r\nX(y): 1\r\nContent-Length: 0\r\n\r\n'],
      ['empty header name', 'HTTP/1.1 200 OK\r\n: x\r\nContent-Length: 0\r\n\r\n'],
      ['line without a colon', 'HTTP/1.1 200 OK\r\nNoColon\r\nContent-Length: 0\r\n\r\n'],
      ['NUL in a value', 'HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n'],
      ['bare CR in a value', 'HTTP/1.1 200 OK\r\nX-A: a\rInjected: 1\r\nContent-Length: 0\r\n\r\n'],
      ['bare LF in a value (response splitting)', 'HTTP/1.1 200 OK\r\nX-A: a\nInjected: 1\r\nContent-Length: 0\r\n\r\n'],
      ['other control byte in a value', 'HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 0\r\n\r\n'],
      ['obs-fold continuation line', 'HTTP/1.1 200 OK\r\nX-A: a\r\n  folded\r\nContent-Length: 0\r\n\r\n'],
      ['bare LF line endings', 'HTTP/1.1 200 OK\nContent-Length: 0\n\n'],
      ['bare LF ending the status line', 'HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n'],
      ['lone CR line in the head', 'HTTP/1.1 200 OK\r\n\rX: 1\r\n\r\n'],
      ['HTTP/2 status line', 'HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n'],
      ['HTTP/1.2 version', 'HTTP/1.2 200 OK\r\nContent-Length: 0\r\n\r\n'],
      ['lowercase protocol name', 'http/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
      ['two-digit status', 'HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n'],
      ['status below 100', 'HTTP/1.1 099 Low\r\nContent-Length: 0\r\n\r\n'],
      ['no SP after status', 'HTTP/1.1 200OK\r\nContent-Length: 0\r\n\r\n'],
      ['control byte in the reason', 'HTTP/1.1 200 O\x00K\r\nContent-Length: 0\r\n\r\n'],
      ['garbage instead of a status line', 'garbage garbage\r\n\r\n'],
      ['leading empty line', '\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'],
      ['non-hex chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'],
      ['empty chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\nhello\r\n0\r\n\r\n'],
      ['chunk size beyond 2^53', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40000000000000\r\n'],
      ['negative chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n'],
      ['0x prefix on a chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n'],
      ['whitespace after the chunk size without an extension', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5 \r\nhello\r\n0\r\n\r\n'],
      ['bare LF after the chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n'],
      ['control byte in a chunk extension', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a\x00\r\nhello\r\n0\r\n\r\n'],
      ['chunk data not followed by CRLF', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n'],
      ['chunk data followed by bare LF', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\n0\r\n\r\n'],
      ['chunk data followed by CR and not LF', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\rX0\r\n\r\n'],
      ['invalid trailer name', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nBad Trailer: 1\r\n\r\n'],
      ['obs-fold in trailers', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n folded\r\n\r\n'],
      ['control byte in a trailer value', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: a\x00\r\n\r\n'],
      ['bare LF ending the trailers', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n\n'],
      ['invalid Connection token', 'HTTP/1.1 200 OK\r\nConnection: keep-alive; x\r\nContent-Length: 0\r\n\r\n'],
      ['error after a dropped 1xx', 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\nx'],
    ] as const
  ).map(([name, raw]): Fixture => ({ name, raw, expect: { error: 'PC_ERR_UPSTREAM_PROTOCOL' } })),
  // ── sizes ─────────────────────────────────────────────────────────────────────
  {
    name: 'head exactly at maxHeadBytes is accepted',
    raw: 'HTTP/1.1 200 OK\r\nX: ' + 'a'.repeat(64 - 24) + '\r\n\r\n',
    opts: { max: 64, eof: true },
    expect: { status: 200, body: '' },
  },
  {
    name: 'head one byte over maxHeadBytes',
    raw: 'HTTP/1.1 200 OK\r\nX: ' + 'a'.repeat(64 - 23) + '\r\n\r\n',
    opts: { max: 64 },
    expect: { error: 'PC_ERR_UPSTREAM_HEADERS_TOO_LARGE' },
  },
  {
    name: 'head far over maxHeadBytes and never terminated',
    raw: 'HTTP/1.1 200 OK\r\nX: ' + 'a'.repeat(500),
    opts: { max: 64 },
    expect: { error: 'PC_ERR_UPSTREAM_HEADERS_TOO_LARGE' },
  },
  {
    name: 'trailers over maxHeadBytes',
    raw: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: ' + 'a'.repeat(100) + '\r\n\r\n',
    opts: { max: 64 },
    expect: { error: 'PC_ERR_UPSTREAM_HEADERS_TOO_LARGE' },
  },
  // ── EOF ───────────────────────────────────────────────────────────────────────
  {
    name: 'EOF in the head is a non-retryable reset',
    raw: 'HTTP/1.1 200 OK\r\nContent-Le',
    opts: { eof: true },
    expect: { error: 'PC_ERR_UPSTREAM_RESET' },
  },
  {
    name: 'EOF in a Content-Length body is a reset',
    raw: 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc',
    opts: { eof: true },
    expect: { body: 'abc', error: 'PC_ERR_UPSTREAM_RESET' },
  },
  {
    name: 'EOF in a chunked body is a reset',
    raw: 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n',
    opts: { eof: true },
    expect: { body: 'abc', error: 'PC_ERR_UPSTREAM_RESET' },
  },
];

/** Checks a whole-feed run against the fixture's expectations. */
function check(r: Run, e: Expected): void {
  const head = r.events.find((ev) => ev.type === 'head');
  const body = r.events.find((ev) => ev.type === 'body');
  const last = r.events[r.events.length - 1];
  if (e.error !== undefined) {
    expect(last).toMatchObject({ type: 'error', code: e.error });
  } else {
    expect(last?.type).toBe('end');
  }
  if (head?.type === 'head') {
    const h = head.head;
    if (e.status !== undefined) expect(h.statusCode).toBe(e.status);
    if (e.reason !== undefined) expect(h.reason).toBe(e.reason);
    if (e.headers !== undefined) expect(h.headers).toEqual(e.headers);
    if (e.contentLength !== undefined) expect(h.contentLength).toBe(e.contentLength);
    if (e.bodyKind !== undefined) expect(h.bodyKind).toBe(e.bodyKind);
    if (e.chunked !== undefined) expect(h.chunked).toBe(e.chunked);
    if (e.keepAliveTimeoutMs !== undefined) expect(h.keepAliveTimeoutMs).toBe(e.keepAliveTimeoutMs);
    if (e.connectionTokens !== undefined) expect(h.connectionTokens).toEqual(e.connectionTokens);
  } else if (e.error === undefined || e.status !== undefined) {
    expect.fail('no head event');
  }
  if (e.close !== undefined) expect(last).toMatchObject({ type: 'end', close: e.close });
  if ('body' in e) expect(body?.type === 'body' ? body.data : undefined).toBe(e.body || undefined);
  expect(r.rest).toBe(e.rest ?? '');
}

describe('ResponseParser fixtures', () => {
  test.each(FIXTURES)('$name (whole)', ({ raw, opts, expect: e }) => {
    check(run([b(raw)], opts), e);
  });

  test.each(FIXTURES)('$name (split at every byte boundary)', ({ raw, opts }) => {
    const whole = run([b(raw)], opts);
    for (const chunks of splits(raw)) expect(run(chunks, opts)).toEqual(whole);
  });

  test.each(FIXTURES)('$name (byte by byte)', ({ raw, opts }) => {
    expect(run(bytes(raw), opts)).toEqual(run([b(raw)], opts));
  });
});

describe('ResponseParser connection behaviour', () => {
  test('EOF before any byte is a retryable reset', () => {
    expect(run([], { eof: true }).events).toEqual([{ type: 'error', code: 'PC_ERR_UPSTREAM_RESET', retryable: true }]);
  });

  test('EOF after a byte is not retryable', () => {
    expect(run([b('H')], { eof: true }).events).toEqual([{ type: 'error', code: 'PC_ERR_UPSTREAM_RESET', retryable: false }]);
  });

  test('unsolicited bytes after a complete response: onEnd with close=true, bytes not consumed', () => {
    const raw = OK13 + 'HTTP/1.1 200 OK\r\n';
    const r = run([b(raw)]);
    expect(r.events.at(-1)).toEqual({ type: 'end', close: true });
    expect(r.rest).toBe('HTTP/1.1 200 OK\r\n');
  });

  test('data after onEnd and before reset() is a protocol error', () => {
    const events: string[] = [];
    const p = new ResponseParser(
      { onHead: () => events.push('head'), onBody: () => events.push('body'), onEnd: () => events.push('end'), onError: (e) => events.push(e.code) },
      1024,
    );
    p.reset(false);
    expect(p.execute(b(OK13))).toBe(OK13.length);
    expect(p.execute(b('X'))).toBe(-1);
    expect(events).toEqual(['head', 'body', 'end', 'PC_ERR_UPSTREAM_PROTOCOL']);
    // Dead until reset.
    expect(p.execute(b('X'))).toBe(-1);
    expect(events).toHaveLength(4);
  });

  test('one parser serves a keep-alive sequence, including a split head and a HEAD', () => {
    const heads: number[] = [];
    const bodies: string[] = [];
    let ends = 0;
    const p = new ResponseParser(
      {
        onHead: (h) => heads.push(h.statusCode),
        onBody: (c) => bodies.push(c.toString()),
        onEnd: () => ends++,
        onError: (e) => expect.fail(e.message),
      },
      1024,
    );
    p.reset(false);
    p.execute(b('HTTP/1.1 200 OK\r\nContent-Le'));
    p.execute(b('ngth: 2\r\n\r\nab'));
    p.reset(true);
    p.execute(b('HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n'));
    p.reset(false);
    p.execute(b('HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n'));
    expect(heads).toEqual([200, 200, 404]);
    expect(bodies).toEqual(['ab', 'x']);
    expect(ends).toBe(3);
  });

  test('onBody chunks are views of the input buffer', () => {
    const input = b(OK13);
    let chunk: Buffer | undefined;
    const p = new ResponseParser({ onHead() {}, onBody: (c) => (chunk = c), onEnd() {}, onError() {} }, 1024);
    p.reset(false);
    p.execute(input);
    expect(chunk!.buffer).toBe(input.buffer);
    expect(chunk!.byteOffset).toBe(input.byteOffset + OK13.length - 13);
  });

  test('pause() in onBody stops execute; feeding the rest resumes with identical events', () => {
    const raw = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n3\r\nghi\r\n0\r\n\r\n';
    const events: string[] = [];
    const p: ResponseParser = new ResponseParser(
      {
        onHead: () => events.push('head'),
        onBody: (c) => {
          events.push(c.toString());
          p.pause();
        },
        onEnd: () => events.push('end'),
        onError: (e) => events.push(e.code),
      },
      1024,
    );
    p.reset(false);
    let data = b(raw);
    const consumed: number[] = [];
    for (let guard = 0; guard < 10 && data.length > 0; guard++) {
      const n = p.execute(data);
      consumed.push(n);
      data = data.subarray(n);
    }
    expect(events).toEqual(['head', 'abc', 'def', 'ghi', 'end']);
    expect(consumed).toHaveLength(4);
    expect(consumed.reduce((x, y) => x + y)).toBe(raw.length);
  });

  test('pause() in onHead returns right after the head', () => {
    const events: string[] = [];
    const p: ResponseParser = new ResponseParser(
      { onHead: () => (events.push('head'), p.pause()), onBody: (c) => events.push(c.toString()), onEnd: () => events.push('end'), onError: (e) => events.push(e.code) },
      1024,
    );
    p.reset(false);
    const input = b(OK13);
    const n = p.execute(input);
    expect(n).toBe(OK13.length - 13);
    expect(events).toEqual(['head']);
    expect(p.execute(input.subarray(n))).toBe(13);
    expect(events).toEqual(['head', 'Hello, World!', 'end']);
  });

  test('reset() from inside onEnd (pool reuse) stops the current execute()', () => {
    let ends = 0;
    const p: ResponseParser = new ResponseParser(
      { onHead() {}, onBody() {}, onEnd: () => (ends++, p.reset(false)), onError: (e) => expect.fail(e.message) },
      1024,
    );
    p.reset(false);
    expect(p.execute(b(OK13))).toBe(OK13.length);
    expect(p.execute(b(OK13))).toBe(OK13.length);
    expect(ends).toBe(2);
  });

  test('reset() from inside onBody (abort) drops the rest of the buffer', () => {
    const seen: string[] = [];
    const p: ResponseParser = new ResponseParser(
      { onHead() {}, onBody: (c) => (seen.push(c.toString()), p.reset(false)), onEnd: () => seen.push('end'), onError: (e) => seen.push(e.code) },
      1024,
    );
    p.reset(false);
    p.execute(b('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n0\r\n\r\n'));
    expect(seen).toEqual(['a']);
  });

  test('name cache: every spelling of a name gives the same lowercase string', () => {
    const names = ['Content-Type', 'content-type', 'CONTENT-TYPE', 'cOnTeNt-TyPe'].map(
      (n) => run([b(`HTTP/1.1 204 No Content\r\n${n}: x\r\n\r\n`)]).events[0],
    );
    for (const ev of names) expect(ev).toMatchObject({ type: 'head', head: { headers: ['content-type', 'x'] } });
  });

  test('value cache: values that differ only in case or trailing bytes stay distinct', () => {
    const values = ['Keep-Alive', 'keep-alive', 'KEEP-ALIVE', 'keep-alivf', 'keep-alive2', 'text/html', 'text/HTML'];
    for (let round = 0; round < 2; round++) {
      for (const v of values) {
        const ev = run([b(`HTTP/1.1 204 No Content\r\nX-V: ${v}\r\n\r\n`)]).events[0];
        expect(ev).toMatchObject({ type: 'head', head: { headers: ['x-v', v] } });
      }
    }
  });

  test('caches under churn: thousands of names and values of equal length share slots and never cross', () => {
    // 4,000 names and values of one length over 512 and 1,024 slots: every slot is taken over
    // many times, so a slot whose string and kept bytes disagree hands out a wrong header.
    // Two passes: the second meets what the first left in each slot.
    const field = (i: number): [string, string] => [`X-H${String(i).padStart(5, '0')}`, `v-${String((i * 7919) % 100000).padStart(5, '0')}`];
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < 4000; i++) {
        const [name, value] = field(pass === 0 ? i : 3999 - i);
        const ev = run([b(`HTTP/1.1 204 No Content\r\n${name}: ${value}\r\nX-Same: ${value}\r\n\r\n`)]).events[0];
        expect(ev).toMatchObject({ type: 'head', head: { headers: [name.toLowerCase(), value, 'x-same', value] } });
      }
    }
  });

  test('long names and values bypass the caches and still parse', () => {
    const name = 'X-' + 'n'.repeat(100);
    const value = 'v'.repeat(300);
    const ev = run([b(`HTTP/1.1 204 No Content\r\n${name}: ${value}\r\n\r\n`)]).events[0];
    expect(ev).toMatchObject({ type: 'head', head: { headers: [name.toLowerCase(), value] } });
  });
});

describe('interim responses (onInterim)', () => {
  const RAW = 'HTTP/1.1 100 Continue\r\n\r\n'
    + 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n'
    + 'HTTP/1.1 102 Processing\r\n\r\n'
    + 'HTTP/1.1 103 Early Hints\r\nLink: </b.js>; rel=preload\r\n\r\n'
    + 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx';

  function interims(chunks: readonly Buffer[]): { interim: string[]; final: number; body: string } {
    const interim: string[] = [];
    let final = 0;
    let body = '';
    const parser = new ResponseParser({
      onInterim(head) { interim.push(`${head.statusCode} ${head.headers.join('=')}`); },
      onHead(head) { final = head.statusCode; },
      onBody(chunk) { body += chunk.toString('latin1'); },
      onEnd() {},
      onError(err) { throw err; },
    }, 8192);
    for (const c of chunks) parser.execute(c);
    return { interim, final, body };
  }

  test('every 1xx but 100 and 101 is reported in order before the final head, with its headers', () => {
    expect(interims([Buffer.from(RAW, 'latin1')])).toEqual({
      interim: ['103 link=</a.css>; rel=preload', '102 ', '103 link=</b.js>; rel=preload'],
      final: 200,
      body: 'x',
    });
  });

  test('the same, a byte per read', () => {
    const bytes = Buffer.from(RAW, 'latin1');
    expect(interims([...bytes].map((b) => Buffer.from([b]))).interim).toHaveLength(3);
  });
});
