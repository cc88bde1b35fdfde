// Per-address connection limits through uWS 20.57's connection hook, App.filter(cb(res, ±1)),
// and (admitConnection) on HTTP/2 listeners' Node server as a TCP connection arrives; exact
// across workers (shared memory), checked before a byte of the connection is read:
//   limits.connection_rate_per_ip   new connections per peer address: a token bucket each
//   limits.max_connections_per_ip   open connections per peer address at once
// A connection over either is closed at once. Peers in trusted_proxies are exempt: a trusted
// proxy carries many clients (their requests are limited by the resolved client IP instead).
//
// An open connection is remembered by the uSockets socket behind it (the addon's socketId, as
// downstream/connections.ts does): the close call (-1) carries no address, only that id. A
// connection upgraded to a WebSocket leaves uWS's HTTP context and is never seen closing, so
// websocket.ts hands it over here (connectionUpgraded); its tunnel stays counted by
// limits.max_requests_per_ip. Without the addon the open count cannot be kept and is skipped.
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { normalizeAddress } from '../net/address.js';
import { openAddon } from '../native/addon.js';
import { counter } from '../observe/metrics.js';
import { OVER_LIMIT, type SharedCounters } from '../policy/shared-counters.js';
import type { Runtime } from '../runtime.js';

const decoder = new TextDecoder();
const refused = counter('portcullis_connections_refused_total', 'TCP connections closed at once by a connection limit, by limit', ['limit']);
const refusedRate = refused.with('connection_rate_per_ip');
const refusedOpen = refused.with('max_connections_per_ip');

type FilteredApp = TemplatedApp & { filter(cb: (res: HttpResponse, count: number) => void): TemplatedApp };

function loadSocketId(): (res: HttpResponse) => number {
  try {
    const fn = openAddon()['socketId'];
    if (typeof fn === 'function') return fn as (res: HttpResponse) => number;
  } catch { /* no addon */ }
  return () => 0;
}

const socketId = loadSocketId();

/** Open connections of this worker holding a slot in a counter table, by socketId. */
const held = new Map<number, { counters: SharedCounters; slot: number }>();

function release(res: HttpResponse): void {
  if (held.size === 0) return;
  const id = socketId(res);
  const h = held.get(id);
  if (h === undefined) return;
  held.delete(id);
  h.counters.release(h.slot);
}

/** An open connection's place in the open-connections table, given back when it closes. */
export interface HeldPlace { readonly counters: SharedCounters; readonly slot: number }

/** Whether any connection limit is set: without one, a connection's address is never read. */
export function limitsConnections(rt: Runtime): boolean {
  return rt.protection.connectionRate !== null || rt.protection.connectionsPerIp !== null;
}

/**
 * The limits' verdict on a new connection from `ip` (normalized), when limitsConnections: false
 * to close it at once, the place it holds (give it back when it closes), or null (nothing
 * held). `canHold`: whether the caller can tell when this connection closes (uWS's hook needs
 * the addon for that).
 */
export function admitConnection(rt: Runtime, ip: string, canHold: boolean): false | HeldPlace | null {
  const p = rt.protection;
  const rate = p.connectionRate;
  const open = p.connectionsPerIp;
  if (rt.trusted(ip)) return null;
  if (rate !== null && !rate.allow(ip)) {
    refusedRate.inc();
    return false;
  }
  if (open === null || !canHold) return null;
  const slot = open.acquire(ip);
  if (slot === OVER_LIMIT) {
    refusedOpen.inc();
    return false;
  }
  return slot >= 0 ? { counters: open.counters, slot } : null;
}

/** Installs the hook; it reads the current runtime on every connection (reloads swap it). */
export function attachConnectionFilter(app: TemplatedApp, runtime: () => Runtime): void {
  (app as FilteredApp).filter((res, count) => {
    if (count !== 1) { release(res); return; }
    const rt = runtime();
    if (!limitsConnections(rt)) return;
    const id = socketId(res);
    const verdict = admitConnection(rt, normalizeAddress(decoder.decode(res.getRemoteAddressAsText())), id !== 0);
    if (verdict === false) res.close();
    else if (verdict !== null) held.set(id, verdict);
  });
}

/** The connection behind `res` becomes a WebSocket: give back its open-connection slot now. */
export function connectionUpgraded(res: HttpResponse): void {
  release(res);
}
