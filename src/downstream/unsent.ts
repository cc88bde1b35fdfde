// What a tryEnd did not hand over, kept and resent as the client reads: the one rule both
// writers of a length-framed answer follow (uws-downstream.ts for the general path,
// hit-writer.ts for the cache's hit path). uWS's tryEnd is "optional": on a backed-up socket it
// takes what fits and reports the rest unwritten, and the bytes passed in are not kept (they are
// a view of a reused buffer), so the rest is copied. onWritable then tells the write offset the
// client has reached, and the resend starts from there.
import type { HttpResponse } from 'uWebSockets.js';

/** Bytes of an answer not yet taken by uWS, and the answer's write offset of their first byte. */
export interface Unsent {
  bytes: Buffer;
  readonly at: number;
}

/** Keeps (a copy of) the part of `chunk` uWS did not take: `before` is the write offset before the tryEnd. */
export function keepUnsent(res: HttpResponse, chunk: Uint8Array, before: number): Unsent {
  const sent = res.getWriteOffset() - before;
  return { bytes: Buffer.from(chunk.subarray(sent)), at: before + sent };
}

/** More bytes of the answer, after the unsent ones (in order, copied: the view is reused). */
export function appendUnsent(unsent: Unsent, chunk: Uint8Array): void {
  unsent.bytes = Buffer.concat([unsent.bytes, chunk]);
}

/**
 * Resends from `offset` (onWritable's) in one cork; [ok, done] as tryEnd gives them, for an
 * answer of `total` bytes.
 */
export function resendUnsent(res: HttpResponse, unsent: Unsent, offset: number, total: number): [ok: boolean, done: boolean] {
  let result: [boolean, boolean] = [false, false];
  res.cork(() => { result = res.tryEnd(unsent.bytes.subarray(offset - unsent.at), total); });
  return result;
}
