// How many request-body bytes this worker holds for upstreams that take them more slowly than
// clients send them. uWS 20.57 does not stop reading a client that keeps sending after
// res.pause() (measured: a fast client's whole 100 MiB upload arrived while paused; 20.30 held
// it to 0.5 MiB), so what waits for an upstream is bounded here: by limits.upload_buffer for
// the worker's exchanges together. An exchange whose write finds the worker past it ends with
// 503 PC_ERR_UPLOAD_BACKLOG (upstream/forward.ts) instead of memory
// growing with uploads; without the bound, twelve clients each holding a 60 MB upload for a
// stalled upstream took a worker from 82 to 660 MiB, and the memory stayed until the upstream
// timed out (a paused client's close is not seen). There is no smaller cap per exchange: one
// of a quarter of the budget (16 MiB) refused a 100 MiB upload to a fast local origin on a
// loaded CI machine, where the upstream side briefly fell that far behind the client.
//
// Hot path: nothing is counted while an upstream keeps up (its socket takes each write); an
// exchange reports its held bytes only when a write says the socket is full, when it drains,
// and when it ends.

let held = 0;

/** One exchange's share: what it last reported. */
export class UploadHold {
  #bytes = 0;

  /** Reports the bytes this exchange now holds; false when it or the worker is over budget. */
  update(bytes: number, budget: number): boolean {
    held += bytes - this.#bytes;
    this.#bytes = bytes;
    return held <= budget;
  }

  /** The exchange ended or its upstream took everything. */
  release(): void {
    held -= this.#bytes;
    this.#bytes = 0;
  }
}

/** Bytes held by every exchange of this worker (tests, metrics). */
export function uploadBytesHeld(): number {
  return held;
}
