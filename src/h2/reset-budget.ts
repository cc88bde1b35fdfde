// How many streams an HTTP/2 client may give up before their answers ("rapid reset",
// CVE-2023-44487: HEADERS then RST_STREAM, as fast as the link allows, each making the server
// start work it then throws away). nghttp2 has its own limit (a burst of 1,000 resets, then 33
// a second): past it, it sends GOAWAY and stops reading the connection, but Node never closes
// the socket, so the attacker's connection stayed open, holding its memory and descriptor,
// until `timeouts.idle` (measured: still open 20 s after the GOAWAY). This budget is stricter
// than nghttp2's in both burst and rate, so it is always spent first, and the listener then
// closes the connection itself (GOAWAY ENHANCE_YOUR_CALM, then the socket).
//
// A browser that leaves a page cancels what it still loads (at most the 128 streams it may have
// open), a few times a second at most: far inside the burst.

/** Streams given up at once before the connection is closed. */
export const RESET_BURST = 200;
/** Streams given up per second, sustained. */
export const RESET_RATE = 20;

/** A token bucket of given-up streams, one per connection. Pure: the caller passes the clock. */
export class ResetBudget {
  #tokens = RESET_BURST;
  #at: number;

  constructor(now: number) {
    this.#at = now;
  }

  /** One more stream given up at `now`; false once the budget is spent (close the connection). */
  take(now: number): boolean {
    if (now > this.#at) {
      this.#tokens = Math.min(RESET_BURST, this.#tokens + ((now - this.#at) * RESET_RATE) / 1000);
      this.#at = now;
    }
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}
