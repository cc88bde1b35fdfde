// The WebSocket tunnels of one front end: one sweep timer checks every open tunnel's idle clock
// and ping schedule, and runs only while there is a tunnel; a drain or a reload closes all or
// some of them. Both front ends keep one (uWS, and node:http on an HTTP/2 listener).
import type { Tunnel } from './tunnel.js';

/** How often idle clocks and ping schedules are checked. Bounds their precision. */
const SWEEP_MS = 250;

export class TunnelSet {
  readonly #tunnels = new Set<Tunnel>();
  #sweep: NodeJS.Timeout | null = null;

  /** Every tunnel from its upgrade request until both sides are closed. */
  get all(): ReadonlySet<Tunnel> { return this.#tunnels; }

  add(t: Tunnel): void {
    this.#tunnels.add(t);
    this.#sweep ??= setInterval(() => this.#tick(), SWEEP_MS);
  }

  /** A tunnel closed on both sides; the last one stops the sweep. */
  delete(t: Tunnel): void {
    this.#tunnels.delete(t);
    if (this.#tunnels.size === 0 && this.#sweep !== null) { clearInterval(this.#sweep); this.#sweep = null; }
  }

  #tick(): void {
    const now = Date.now();
    for (const t of this.#tunnels) if (t.open) t.tick(now);
  }

  /** Draining: every tunnel is closed with 1001 (going away) on both sides. */
  goAway(): void {
    for (const t of this.#tunnels) t.goAway();
  }

  /**
   * A reload: the tunnels `changed` picks are closed with 1001 and `reason` on both sides (one
   * still handshaking, as soon as it opens). Returns how many.
   */
  goAwayWhere(changed: (t: Tunnel) => boolean, reason: string): number {
    let n = 0;
    for (const t of this.#tunnels) if (changed(t)) { t.goAway(reason); n++; }
    return n;
  }
}
