// A worker's listeners: one uWS App (UwsFrontEnd) per listen address, so a reload opens the
// addresses it adds and drains the ones it removes without touching the others' connections.
// Every App serves the current generation; a removed one stops accepting, tells its keep-alive
// clients to close, sends its tunnels 1001, and closes once idle or at the drain deadline.
import type { ListenAddress } from '../config/types.js';
import { listenKey } from '../config/diff.js';
import type { Generation } from './generations.js';
import { UwsFrontEnd } from './server.js';
import type { Tunnel } from '../upstream/tunnel.js';

export interface ListenerInfo {
  readonly address: string;
  readonly inflight: number;
  readonly tunnels: number;
  readonly draining: boolean;
}

export class Listeners {
  readonly #open = new Map<string, UwsFrontEnd>();
  /** Removed by a reload, finishing their requests. */
  readonly #draining = new Set<UwsFrontEnd>();
  readonly #drainingInfo = new Map<UwsFrontEnd, string>();
  readonly #maxMessage: number;

  /** `maxMessage`: the WebSocket message limit every App of this worker gets (fixed until a restart). */
  constructor(maxMessage: number) {
    this.#maxMessage = maxMessage;
  }

  keys(): string[] { return [...this.#open.keys()]; }

  /**
   * Opens the addresses not open yet, serving `gen`. Resolves with the keys it opened; on a
   * failure closes what it opened and rejects (the others are untouched).
   */
  async open(addresses: readonly ListenAddress[], gen: Generation): Promise<string[]> {
    const added: [string, UwsFrontEnd][] = [];
    try {
      for (const a of addresses) {
        const key = listenKey(a);
        if (this.#open.has(key)) continue;
        const front = new UwsFrontEnd(gen, this.#maxMessage);
        added.push([key, front]);
        await front.listen([a]);
      }
    } catch (err) {
      for (const [, front] of added) front.close();
      throw err;
    }
    for (const [key, front] of added) this.#open.set(key, front);
    return added.map(([key]) => key);
  }

  /** Closes listeners `open` just made (a reload that was called off). */
  discard(keys: readonly string[]): void {
    for (const key of keys) {
      const front = this.#open.get(key);
      if (front === undefined) continue;
      this.#open.delete(key);
      front.close();
    }
  }

  setGeneration(gen: Generation): void {
    for (const front of this.#open.values()) front.setGeneration(gen);
    for (const front of this.#draining) front.setGeneration(gen);
  }

  /** Tunnels on every App for which `changed` says yes get 1001. */
  goAwayWhere(changed: (t: Tunnel) => boolean, reason: string): number {
    let n = 0;
    for (const front of this.#fronts()) n += front.goAwayWhere(changed, reason);
    return n;
  }

  /** Drains and closes the listeners of `keys` (removed by a reload). */
  drain(keys: readonly string[], deadlineMs: number): void {
    for (const key of keys) {
      const front = this.#open.get(key);
      if (front === undefined) continue;
      this.#open.delete(key);
      this.#draining.add(front);
      this.#drainingInfo.set(front, key);
      front.stopAccepting();
      void front.idle(deadlineMs).then(() => {
        this.#draining.delete(front);
        this.#drainingInfo.delete(front);
        front.close();
      });
    }
  }

  /** Worker drain: every listener stops accepting. */
  stopAccepting(): void {
    for (const front of this.#fronts()) front.stopAccepting();
  }

  /** Resolves when no App has a request in flight, or after deadlineMs. */
  async idle(deadlineMs: number): Promise<void> {
    await Promise.all([...this.#fronts()].map((f) => f.idle(deadlineMs)));
  }

  close(): void {
    for (const front of this.#fronts()) {
      try { front.close(); } catch { /* already closed */ }
    }
    this.#open.clear();
    this.#draining.clear();
  }

  get inflight(): number {
    let n = 0;
    for (const front of this.#fronts()) n += front.inflight;
    return n;
  }

  *tunnels(): Iterable<Tunnel> {
    for (const front of this.#fronts()) yield* front.tunnels;
  }

  info(): ListenerInfo[] {
    const out: ListenerInfo[] = [];
    for (const [address, f] of this.#open) out.push({ address, inflight: f.inflight, tunnels: f.tunnels.size, draining: f.draining });
    for (const f of this.#draining) out.push({ address: this.#drainingInfo.get(f) ?? '?', inflight: f.inflight, tunnels: f.tunnels.size, draining: true });
    return out;
  }

  *#fronts(): Iterable<UwsFrontEnd> {
    yield* this.#open.values();
    yield* this.#draining;
  }
}
