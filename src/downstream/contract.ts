// The front-end contract: what the request pipeline needs from whatever accepted the
// client connection. uWS implements it today (downstream/uws-response.ts); Node's http2
// (TLS, later) implements the same two interfaces, so pipeline.ts never imports uWS.

/** A snapshot of the client's request head, copied out of the front end synchronously. */
export interface RequestHead {
  /** Method as the client sent it (case-sensitive). */
  readonly method: string;
  /** Path part of the request target as received (not yet normalised). */
  readonly rawPath: string;
  /** Query string without '?', '' when absent. */
  readonly query: string;
  /** Flat [name, value, name, value, ...]; names lowercased; duplicates kept in order. */
  readonly headers: string[];
  /** Normalised address of the TCP peer. */
  readonly peerIp: string;
  /** Address claimed by a PROXY protocol v2 header, '' when none. */
  readonly proxiedIp: string;
  readonly scheme: 'http' | 'https';
  /** The request's HTTP version as an access log writes it; absent: HTTP/1.1 (uWS, node:http). */
  readonly protocol?: 'HTTP/2.0';
  /** The listener the request came through; absent: a plain listener with nothing special. */
  readonly listener?: ListenerContext | undefined;
}

/** What the listener a request came through adds to the pipeline (downstream/listeners.ts). */
export interface ListenerContext {
  readonly scheme: 'http' | 'https';
  /** A plain listener with redirect_https (tls/redirect.ts); null otherwise. */
  readonly redirect: HttpsRedirect | null;
  /** Plain listeners while some listener uses ACME: HTTP-01 answers (tls/challenges.ts); null otherwise. */
  readonly challenges: ChallengeAnswers | null;
}

export interface ChallengeAnswers {
  /** The body for a request path, or null when it is not a pending challenge. */
  answer(rawPath: string): string | null;
}

export interface HttpsRedirect {
  /** The port of the first TLS listener with a certificate for `host`, or null when none has one. */
  httpsPort(host: string): number | null;
}

/** The client side of one exchange: a response sink plus the request body source. */
export interface Downstream {
  /** True once the client went away or the response was finished. */
  readonly done: boolean;
  /**
   * True once any byte of the answer went to the client (writeHead may hold the head back
   * until the first body bytes). Before that a failure can still be answered with a status.
   */
  readonly committed: boolean;
  /**
   * Writes the status line and headers (flat, already filtered: no hop-by-hop, no Date,
   * no Content-Length/Transfer-Encoding). bodyLength: the exact length, or -1 when it is
   * unknown (the front end then streams with chunked encoding). noBody: HEAD/204/304 —
   * Content-Length (if >= 0) is still announced for HEAD but no body follows.
   * writeHead/writeBody/end batch their own writes (the head goes out with the first body
   * bytes, one send for a small response); callers never wrap them in anything.
   */
  writeHead(status: number, reason: string, headers: readonly string[], bodyLength: number, noBody: boolean): void;
  /**
   * Sends an interim response (103 Early Hints, 102) at once, before writeHead; ignored once the
   * head is written or the exchange is done. Optional: a front end that cannot send one omits it.
   */
  writeInterim?(status: number, reason: string, headers: readonly string[]): void;
  /** Writes body bytes. Returns false when the client is not keeping up: stop, wait for onWritable. */
  writeBody(chunk: Buffer): boolean;
  /** Called each time the client has taken what a writeBody that returned false left over. */
  onWritable(cb: () => void): void;
  /** Finishes the response (after writeHead and the body, or to answer with a whole body). */
  end(): void;
  /**
   * Answers with a complete small response in one go (errors, 404). `headOnly` (the request was
   * HEAD): the head announces the body's length and no body bytes follow (RFC 9110 §9.3.2).
   */
  respond(status: number, reason: string, headers: readonly string[], body: string, closeConnection: boolean, headOnly: boolean): void;
  /** Drops the client connection (mid-body upstream failure: the client must see the truncation). */
  close(): void;
  /** Request body: chunks are only valid during the callback. last=true on the final chunk. */
  onBody(cb: (chunk: Uint8Array, last: boolean) => void): void;
  pauseBody(): void;
  resumeBody(): void;
  /** Called once when the client disconnects before the response finished. */
  onAbort(cb: () => void): void;
  /**
   * The client connection serves no further request after this one (its answer says
   * `Connection: close`). Used after a chunked request body, whose framing the uWS front end
   * decodes laxly; front ends that frame bodies strictly need not implement it.
   */
  closeConnectionAfter?(): void;
}
