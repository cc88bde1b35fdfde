// A `lookup` for net.connect / http.request that serves addresses resolved elsewhere (the
// primary's resolver, through the shared target table) instead of asking getaddrinfo. The
// connection keeps the name as its host; Node's happy eyeballs (autoSelectFamily) tries the
// addresses in the order given, so one that refuses (::1 for a server on 127.0.0.1 only) costs a
// fallback within the connect, not a failed request.
import type { LookupAddress, LookupOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { isIPv6 } from './address.js';

/** `addresses()` is asked on every connect; an empty list fails the lookup with ENOTFOUND. */
export function resolvedLookup(addresses: () => readonly string[]): LookupFunction {
  return ((hostname: string, options: LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
    const list = addresses();
    if (list.length === 0) {
      const err: NodeJS.ErrnoException = new Error(`${hostname}: not resolved yet`);
      err.code = 'ENOTFOUND';
      callback(err, '', 0);
      return;
    }
    if (options.all) callback(null, list.map((address) => ({ address, family: isIPv6(address) ? 6 : 4 })));
    else callback(null, list[0]!, isIPv6(list[0]!) ? 6 : 4);
  }) as LookupFunction;
}
