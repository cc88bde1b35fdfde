// limits.connection_rate_per_ip through uWS 20.57's connection hook, App.filter(cb(res, ±1)):
// each new TCP connection takes a token from its peer address's bucket in the shared rate
// table (exact across workers); over the rate it is closed at once, before a byte is read.
//
// Why a rate and not a count of open connections: the hook's close call (-1) carries no
// address (getRemoteAddress is empty by then) and a different `res` object than the open
// call, so a close cannot be attributed to an address. Concurrent requests per client IP
// are counted exactly in the policy phase instead (limits.max_requests_per_ip).
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { normalizeAddress } from '../net/address.js';
import { counter } from '../observe/metrics.js';
import type { Runtime } from '../runtime.js';

const decoder = new TextDecoder();
const refused = counter('portcullis_connections_refused_total', 'TCP connections closed at once by a connection limit, by reason', ['reason']).with('connection_rate_per_ip');

type FilteredApp = TemplatedApp & { filter(cb: (res: HttpResponse, count: number) => void): TemplatedApp };

/** Installs the hook; it reads the current runtime on every connection (reloads swap it). */
export function attachConnectionFilter(app: TemplatedApp, runtime: () => Runtime): void {
  (app as FilteredApp).filter((res, count) => {
    if (count !== 1) return;
    const rt = runtime();
    const limit = rt.protection.connectionRate;
    if (limit === null) return;
    const ip = normalizeAddress(decoder.decode(res.getRemoteAddressAsText()));
    // A trusted proxy carries many clients over its connections: never limited by its address.
    if (rt.trusted(ip)) return;
    if (limit.allow(ip)) return;
    refused.inc();
    res.close();
  });
}
