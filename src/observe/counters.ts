// Per-worker counts of long-lived connections: open WebSocket tunnels and open streaming
// responses. Plain numbers in this thread for now; the metrics issue moves them into
// shared memory (src/shm/) behind these same functions, so callers do not change.

export interface LongLivedCounters {
  /** WebSocket tunnels currently open (client upgraded and upstream connected). */
  tunnelsOpen: number;
  /** Tunnels opened since the worker started. */
  tunnelsTotal: number;
  /** Upgrade requests being handshaken with the upstream (client not upgraded yet). */
  tunnelsConnecting: number;
  /** Responses currently streamed without a known length (chunked, SSE, NDJSON). */
  streamsOpen: number;
  /** Streaming responses started since the worker started. */
  streamsTotal: number;
}

export const counters: LongLivedCounters = {
  tunnelsOpen: 0,
  tunnelsTotal: 0,
  tunnelsConnecting: 0,
  streamsOpen: 0,
  streamsTotal: 0,
};

export function tunnelConnecting(): void { counters.tunnelsConnecting++; }
export function tunnelConnectDone(): void { counters.tunnelsConnecting--; }
export function tunnelOpened(): void { counters.tunnelsOpen++; counters.tunnelsTotal++; }
export function tunnelClosed(): void { counters.tunnelsOpen--; }

/** Call once when a response starts streaming without a length, and streamClosed once when it ends. */
export function streamOpened(): void { counters.streamsOpen++; counters.streamsTotal++; }
export function streamClosed(): void { counters.streamsOpen--; }

/** A copy, for stats and tests. */
export function snapshotCounters(): LongLivedCounters {
  return { ...counters };
}
