// Per-worker counts of long-lived exchanges: open WebSocket tunnels and open streaming
// responses (client connections: downstream/connections.ts). Kept as gauges and counters of the
// metrics registry (observe/metrics.ts, in shared memory once the worker attaches it), so
// /metrics and the admin API read them for every worker; the plain numbers here are this
// thread's copy.
import { counter, gauge } from './metrics.js';

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

const tunnelsOpen = gauge('portcullis_websocket_tunnels_open', 'WebSocket tunnels open (client upgraded, upstream connected)').with();
const tunnelsTotal = counter('portcullis_websocket_tunnels_total', 'WebSocket tunnels opened').with();
const tunnelsConnecting = gauge('portcullis_websocket_tunnels_connecting', 'WebSocket upgrades waiting for the upstream handshake').with();
const streamsOpen = gauge('portcullis_streams_open', 'Responses being streamed without a known length (chunked, SSE)').with();
const streamsTotal = counter('portcullis_streams_total', 'Responses streamed without a known length').with();

export function tunnelConnecting(): void { counters.tunnelsConnecting++; tunnelsConnecting.inc(); }
export function tunnelConnectDone(): void { counters.tunnelsConnecting--; tunnelsConnecting.dec(); }
export function tunnelOpened(): void { counters.tunnelsOpen++; counters.tunnelsTotal++; tunnelsOpen.inc(); tunnelsTotal.inc(); }
export function tunnelClosed(): void { counters.tunnelsOpen--; tunnelsOpen.dec(); }

/** Call once when a response starts streaming without a length, and streamClosed once when it ends. */
export function streamOpened(): void { counters.streamsOpen++; counters.streamsTotal++; streamsOpen.inc(); streamsTotal.inc(); }
export function streamClosed(): void { counters.streamsOpen--; streamsOpen.dec(); }

/** A copy, for stats and tests. */
export function snapshotCounters(): LongLivedCounters {
  return { ...counters };
}
