// Writes a cache hit from the hit path (cache/hit-path.ts) to a uWS response: the head and the
// body in one cork, the body by tryEnd. tryEnd is optional: on a socket already backed up (a
// client that pipelines requests and does not read) uWS takes nothing of it, where end() would
// append the whole answer to its buffer, answer after answer, without bound. The rest is then
// kept (a copy: the body is the hit path's scratch) and sent as the client reads, and the answer
// stays pending meanwhile, so uWS reads no further request on the connection (it closes one that
// sends a request while an answer is pending): what the general path does (uws-downstream.ts).
import type { HttpResponse } from 'uWebSockets.js';

/**
 * True when the whole answer went to uWS now. False: the rest follows as the client reads, and
 * `later` is called when it is done (`aborted`: the client left first).
 */
export function writeHit(res: HttpResponse, head: Buffer, body: Buffer, later: (aborted: boolean) => void): boolean {
  const total = body.length;
  let result: [boolean, boolean] = [true, true];
  res.cork(() => {
    res.writeStatus(head);
    result = res.tryEnd(body, total);
  });
  if (result[1]) return true;
  const sent = res.getWriteOffset();
  const rest = Buffer.from(body.subarray(sent));
  let finished = false;
  res.onAborted(() => {
    if (finished) return;
    finished = true;
    later(true);
  });
  res.onWritable((offset) => {
    let r: [boolean, boolean] = [false, false];
    res.cork(() => { r = res.tryEnd(rest.subarray(offset - sent), total); });
    if (r[1] && !finished) {
      finished = true;
      later(false);
    }
    return r[0];
  });
  return false;
}
