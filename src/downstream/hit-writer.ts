// Writes a cache hit from the hit path (cache/hit-path.ts) to a uWS response, from inside the
// request callback (where uWS has the socket corked already: no cork of our own, no closure).
// The body goes by tryEnd, which is optional: on a socket already backed up (a client that
// pipelines requests and does not read) uWS takes nothing of it, where end() would append the
// whole answer to its buffer, answer after answer, without bound. The rest is then kept (a
// copy, unsent.ts, as the general path keeps it) and sent as the client reads, and the answer stays
// pending meanwhile, so uWS reads no further request on the connection (it closes one that
// sends a request while an answer is pending): what the general path does (uws-downstream.ts).
import type { HttpResponse } from 'uWebSockets.js';
import { keepUnsent, resendUnsent } from './unsent.js';

/** Writes the head and the body; true when uWS took all of it, false: call finishHit at once. */
export function writeHit(res: HttpResponse, head: Buffer, body: Buffer): boolean {
  res.writeStatus(head);
  return res.tryEnd(body, body.length)[1];
}

/**
 * The rest of a hit that writeHit could not hand over, sent as the client reads; `later` is
 * called when it is done (`aborted`: the client left first). Called right after writeHit, while
 * `body` still holds this answer (it may be the hit path's scratch).
 */
export function finishHit(res: HttpResponse, body: Buffer, later: (aborted: boolean) => void): void {
  const total = body.length;
  // The answer began at write offset 0 (nothing else was written on this response).
  const rest = keepUnsent(res, body, 0);
  let finished = false;
  res.onAborted(() => {
    if (finished) return;
    finished = true;
    later(true);
  });
  res.onWritable((offset) => {
    const [ok, done] = resendUnsent(res, rest, offset, total);
    if (done && !finished) {
      finished = true;
      later(false);
    }
    return ok;
  });
}
