// `portcullis explain`: runs one request through the same phases the workers run (parse,
// route, identity, upstream head) on a Runtime compiled from the config, without sending
// anything, and says what applies and why: the route that matched and why the others did
// not, gates, limits, upstream group, cache rule, timeouts, the client-IP rule, and the exact
// head that would go upstream.
import type { Config, RouteConfig } from '../config/types.js';
import { routeLabel } from '../config/diff.js';
import { WEBSOCKET_DEFAULTS } from '../config/defaults.js';
import type { RequestHead } from '../downstream/contract.js';
import { ProxyError, errorBody } from '../errors.js';
import { normalizeAddress } from '../net/address.js';
import { identify, parse, route, startExchange, upstreamHead } from '../pipeline.js';
import { Router } from '../router/router.js';
import { buildRuntime } from '../runtime.js';
import { describePolicies } from '../policy/describe.js';

export interface ExplainInput {
  readonly url: string;
  readonly method: string;
  /** "Name: value" strings. */
  readonly headers: readonly string[];
  readonly peer: string;
}

/** `http://host[:port]/path?query` → scheme, authority, raw path and query, kept as written (no normalisation: that is the proxy's job to show). */
function splitUrl(url: string): { scheme: 'http' | 'https'; authority: string; path: string; query: string } | { error: string } {
  const m = /^(https?):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?$/i.exec(url);
  if (m !== null) return { scheme: m[1]!.toLowerCase() as 'http' | 'https', authority: m[2]!, path: m[3] || '/', query: m[4] ?? '' };
  if (url.startsWith('/')) {
    const q = url.indexOf('?');
    return { scheme: 'http', authority: '', path: q < 0 ? url : url.slice(0, q), query: q < 0 ? '' : url.slice(q + 1) };
  }
  return { error: `"${url}" is not an http(s) URL or a path (e.g. http://example.com/api/x or /api/x with --header "Host: example.com")` };
}

function hostRule(r: RouteConfig): string {
  if (r.host === undefined) return 'any host';
  return r.host.startsWith('*.') ? `host wildcard ${r.host}` : `exact host ${r.host}`;
}

function pathRule(p: string): string {
  if (p.endsWith('*')) return `wildcard path ${p}`;
  if (p.includes('/:')) return `parameter path ${p}`;
  if (p.endsWith('/')) return `prefix ${p} (that directory and below)`;
  return `exact path ${p}`;
}

function hostMatches(r: RouteConfig, host: string, path: string): boolean {
  const router = new Router<number>();
  router.add(r.host, '/*', 0);
  return router.find(host, path) !== null;
}

function pathMatches(r: RouteConfig, host: string, path: string): boolean {
  const router = new Router<number>();
  router.add(undefined, r.path, 0);
  return router.find(host, path) !== null;
}

const bytes = (n: number): string => (n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : n % 1024 === 0 ? `${n / 1024} KiB` : `${n} B`);
const ms = (n: number): string => (n % 60_000 === 0 ? `${n / 60_000} min` : n % 1000 === 0 ? `${n / 1000} s` : `${n} ms`);

export function explainRequest(config: Config, input: ExplainInput): { text: string } | { error: string } {
  const url = splitUrl(input.url.trim());
  if ('error' in url) return url;
  const headers: string[] = [];
  for (const h of input.headers) {
    const colon = h.indexOf(':');
    if (colon <= 0) return { error: `--header "${h}": expected "Name: value"` };
    headers.push(h.slice(0, colon).trim().toLowerCase(), h.slice(colon + 1).trim());
  }
  if (!headers.some((_, i) => i % 2 === 0 && headers[i] === 'host')) {
    if (url.authority === '') return { error: 'no host: give an absolute URL or --header "Host: example.com"' };
    headers.unshift('host', url.authority);
  }
  const peer = normalizeAddress(input.peer);
  const head: RequestHead = { method: input.method, rawPath: url.path, query: url.query, headers, peerIp: peer, proxiedIp: '', scheme: url.scheme };
  const rt = buildRuntime(config);
  try {
    return { text: explainWith(config, rt, head) };
  } finally {
    for (const pool of rt.pools) pool.close();
  }
}

function explainWith(config: Config, rt: ReturnType<typeof buildRuntime>, head: RequestHead): string {
  const out: string[] = [];
  const line = (label: string, text: string): void => { out.push(`${label.padEnd(10)}${text}`); };
  const more = (text: string): void => { out.push(`${' '.repeat(10)}${text}`); };
  const target = head.query === '' ? head.rawPath : `${head.rawPath}?${head.query}`;
  out.push(`explain ${head.method} ${target} (Host: ${headers(head, 'host') ?? ''}) from ${head.peerIp}, config ${config.source}`);

  const ex = startExchange(head, rt);
  const framing = parse(ex, rt);
  if (framing instanceof ProxyError) {
    line('parse', `refused: ${errorBody(framing).trim()}${framing.detail ? ` — ${framing.detail}` : ''}`);
    return `${out.join('\n')}\n`;
  }
  line('parse', `ok: host "${ex.host}", path "${ex.path}"${ex.path !== head.rawPath ? ` (normalised from "${head.rawPath}")` : ''}`);

  const requestPath = ex.path;
  const notFound = route(ex, rt);
  const winner = ex.route;
  if (notFound !== null || winner === null) {
    line('route', `none: ${errorBody(notFound ?? new ProxyError('PC_ERR_NO_ROUTE')).trim()}`);
  } else {
    const r = winner.config;
    line('route', `routes[${r.index}] ${routeLabel(r)} → upstream ${r.upstream}`);
    more(`why: ${hostRule(r)} matches "${ex.host}"; ${pathRule(r.path)} matches "${requestPath}"`);
    if (r.strip_prefix) more(`strip_prefix: the upstream gets "${ex.path}"`);
    if (r.host_header !== undefined) more(`host_header: the upstream gets Host: ${r.host_header}`);
  }
  const others = config.routes.filter((r) => r !== winner?.config);
  if (others.length > 0) {
    more('not chosen:');
    for (const r of others) {
      const hostOk = hostMatches(r, ex.host, requestPath);
      const pathOk = pathMatches(r, ex.host, requestPath);
      const why = !hostOk
        ? `${hostRule(r)} does not match "${ex.host}"`
        : !pathOk
          ? `${pathRule(r.path)} does not match "${requestPath}"`
          : `matches too, but routes[${winner!.config.index}] is more specific (exact host before wildcard before any; then static before parameter before wildcard path, longest first)`;
      more(`  routes[${r.index}] ${routeLabel(r)}: ${why}`);
    }
  }
  if (winner === null) return `${out.join('\n')}\n`;
  const r = winner.config;

  identify(ex, rt);
  const id = ex.identity!;
  const trusted = config.trusted_proxies;
  if (trusted.length === 0) {
    line('client IP', `${id.clientIp}: the TCP peer (trusted_proxies is empty: X-Forwarded-For, Forwarded and PROXY headers are not believed)`);
  } else {
    const peerTrusted = rt.trusted(head.peerIp);
    line('client IP', `${id.clientIp}: ${peerTrusted ? `the peer ${head.peerIp} is in trusted_proxies, so forwarding headers are read back to the first untrusted hop` : `the peer ${head.peerIp} is not in trusted_proxies (${trusted.join(', ')}): forwarding headers are not believed`}`);
  }
  more(`scheme ${id.proto}, host ${id.host}`);

  const gates = describePolicies(config, rt, ex);
  line('gates', gates[0]!);
  for (const g of gates.slice(1)) more(g);
  const l = config.limits;
  line('limits', `head ≤ ${bytes(l.max_header_bytes)} and ${l.max_header_count} header lines (431); body ≤ ${bytes(l.max_body_bytes)} (413); upstream head ≤ ${bytes(l.max_response_header_bytes)} (502)`);
  const group = config.upstreams[r.upstream]!;
  const b = group.balance;
  const policy = b.policy === 'hash' ? `consistent hashing on ${b.key?.kind === 'client_ip' || b.key === undefined ? 'the client IP' : `${b.key.kind} ${b.key.name}`}` : b.policy.replace('_', ' ');
  const weighted = group.targets.some((t) => t.weight !== 1) ? ` (weights ${group.targets.map((t) => t.weight).join(':')})` : '';
  const rt2 = r.retries;
  const retrying = rt2.attempts === 0 ? 'no retries' : `up to ${rt2.attempts} retr${rt2.attempts === 1 ? 'y' : 'ies'} on another target (on ${rt2.on.join(', ')}; at most ${Math.round(rt2.budget * 100)}% of the route's requests)`;
  line('upstream', `${group.name}: ${group.targets.length === 1 ? group.targets[0]!.url : `${policy} over ${group.targets.map((t) => t.url).join(', ')}${weighted}`}; ${retrying}`);
  if (r.split !== undefined) more(`split: ${r.split.map((e) => `${e.upstream} ${e.weight}`).join(', ')}${r.canary !== undefined ? `; canary ${r.canary.upstream}` : ''} (the request goes to one of them)`);
  more(`pool: ${group.pool.max_connections} connections per target per worker, idle ones closed after ${ms(group.pool.idle_timeout)}`);
  const cacheable = head.method === 'GET' || head.method === 'HEAD';
  line('cache', !r.cache
    ? `off for this route (${config.cache.enabled ? 'the route says cache: false' : 'cache.enabled is false and the route does not set cache: true'})`
    : cacheable
      ? `on: looked up in the shared cache; stored only when the response allows it (RFC 9111), at most ${bytes(config.cache.max_entry_bytes)}`
      : head.method === 'PURGE'
        ? `on: PURGE is answered by the cache, never forwarded, for clients in ${config.cache.purge_allow !== undefined ? 'cache.purge_allow' : 'trusted_proxies'} (403 for others)`
        : `on for the route, but ${head.method} is not looked up (only GET and HEAD are); a successful ${head.method} invalidates the URL`);
  if (r.cache && r.cache_options !== undefined) {
    more(`route options: ${r.cache_options.client_cache_control ? "the client's Cache-Control is honoured" : "the client's Cache-Control is ignored"}; answers to requests with Authorization stored when marked ${r.cache_options.authorization === 'must-revalidate' ? 'public, s-maxage or must-revalidate' : 'public or s-maxage'}`);
  }
  const c = config.compression;
  line('compress', c.enabled ? `on: ${c.encodings.join(', ')} for ${c.types.length} media types, bodies ≥ ${bytes(c.min_bytes)}` : 'off (compression.enabled is false)');
  const t = config.timeouts;
  const own = winner.timeouts;
  line('timeouts', `head ${ms(t.header)}, connect ${ms(own.connect)}, response head ${ms(own.response_header)}, idle ${ms(own.idle)}, drain ${ms(t.drain)}${r.timeouts !== undefined ? ' (this route sets its own)' : ''}`);
  const ws = r.websocket ?? WEBSOCKET_DEFAULTS;
  const upgrade = (ex.header('upgrade') ?? '').toLowerCase() === 'websocket';
  line('websocket', `${upgrade ? 'an upgrade: tunnelled' : 'not an upgrade request'}; route settings: messages ≤ ${bytes(ws.max_message_size)}, idle ${ms(ws.idle_timeout)}, ping ${ws.ping_interval === false ? 'off' : ms(ws.ping_interval)}`);
  line('upstream request', '');
  for (const h of upstreamHead(ex, rt, framing.contentLength, framing.chunked).split('\r\n')) if (h !== '') more(`  ${h}`);
  return `${out.join('\n')}\n`;
}

function headers(head: RequestHead, name: string): string | undefined {
  for (let i = 0; i < head.headers.length; i += 2) if (head.headers[i] === name) return head.headers[i + 1];
  return undefined;
}
