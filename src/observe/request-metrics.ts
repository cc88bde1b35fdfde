// What every finished exchange adds to the metrics: requests by route, status class and
// method; latency by route; bytes; refusals and failures by error code; cache outcomes.
// Called once per exchange, after the response (never before the upstream write): a few
// slot increments through handles resolved once per route, no allocation.
import type { Exchange } from '../exchange.js';
import { counter, histogram, metricsEnabled, type CounterHandle, type HistogramHandle } from './metrics.js';

const requests = counter('portcullis_requests_total', 'Requests answered, by route, status class and method', ['route', 'status_class', 'method']);
const duration = histogram('portcullis_request_duration_seconds', 'Time from the request head to the end of the response (WebSocket upgrades excluded)', ['route']);
const requestBytes = counter('portcullis_request_body_bytes_total', 'Request body bytes received, by route', ['route']);
const responseBytes = counter('portcullis_response_body_bytes_total', 'Response body bytes sent, by route', ['route']);
const errors = counter('portcullis_errors_total', 'Requests refused or failed, by error code (docs/errors.md) and side', ['code', 'side']);
const cacheOutcomes = counter('portcullis_cache_requests_total', 'Requests on caching routes, by route and cache outcome (hit, miss, stored, revalidated, bypass)', ['route', 'outcome']);

/** Known methods get their own label; anything else counts as OTHER (label values stay few). */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE', 'OTHER'] as const;
const CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const;

function methodIndex(m: string): number {
  switch (m) {
    case 'GET': return 0;
    case 'HEAD': return 1;
    case 'POST': return 2;
    case 'PUT': return 3;
    case 'DELETE': return 4;
    case 'PATCH': return 5;
    case 'OPTIONS': return 6;
    case 'CONNECT': return 7;
    case 'TRACE': return 8;
    default: return 9;
  }
}

function classIndex(status: number): number {
  const c = (status / 100) | 0;
  return c >= 1 && c <= 5 ? c - 1 : 5;
}

/** Requests that matched no route are labelled with this. */
export const NO_ROUTE = '(none)';

/** One route's handles; the per-class × method counters are made on first use. */
class RouteMetrics {
  readonly #route: string;
  readonly #requests: (CounterHandle | undefined)[] = new Array<CounterHandle | undefined>(CLASSES.length * METHODS.length);
  readonly duration: HistogramHandle;
  readonly requestBytes: CounterHandle;
  readonly responseBytes: CounterHandle;
  #cache: Map<string, CounterHandle> | null = null;

  constructor(route: string) {
    this.#route = route;
    this.duration = duration.with(route);
    this.requestBytes = requestBytes.with(route);
    this.responseBytes = responseBytes.with(route);
  }

  requests(cls: number, method: number): CounterHandle {
    const i = cls * METHODS.length + method;
    return (this.#requests[i] ??= requests.with(this.#route, CLASSES[cls]!, METHODS[method]!));
  }

  cache(outcome: string): CounterHandle {
    const map = (this.#cache ??= new Map());
    let h = map.get(outcome);
    if (h === undefined) map.set(outcome, (h = cacheOutcomes.with(this.#route, outcome)));
    return h;
  }
}

/** By route name (the label): the same handles serve every config generation. */
const byRoute = new Map<string, RouteMetrics>();
const byError = new Map<string, CounterHandle>();

function routeMetrics(name: string): RouteMetrics {
  let m = byRoute.get(name);
  if (m === undefined) byRoute.set(name, (m = new RouteMetrics(name)));
  return m;
}

/** Counts one finished exchange (HTTP request, or a WebSocket tunnel once it closed). */
export function recordExchange(ex: Exchange): void {
  if (!metricsEnabled) return;
  const m = routeMetrics(ex.route?.name ?? NO_ROUTE);
  const status = ex.status;
  m.requests(classIndex(status), methodIndex(ex.head.method)).inc();
  // A tunnel's lifetime is not a latency: it would swamp the route's histogram.
  if (status !== 101) m.duration.observe((Date.now() - ex.startedAt) / 1000);
  if (ex.requestBytes > 0) m.requestBytes.inc(ex.requestBytes);
  if (ex.responseBytes > 0) m.responseBytes.inc(ex.responseBytes);
  const err = ex.error;
  if (err !== null) {
    let h = byError.get(err.code);
    if (h === undefined) byError.set(err.code, (h = errors.with(err.code, err.side)));
    h.inc();
  }
  if (ex.cache !== null) m.cache(ex.cache.outcome).inc();
}
