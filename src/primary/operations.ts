// What each admin endpoint does (primary/admin.ts is the HTTP around it): status, effective
// config, reload, upstreams, cache stats and purge, workers, connections, drain, Prometheus
// metrics, the dashboard and its data. Reads shared memory (metrics, cache index) and asks
// the workers only for what lives in them (open tunnels and streams by route).
import { changedRouteKeys, diffConfigs, listenKey, routeKey, routeLabel } from '../config/diff.js';
import type { FamilySnapshot } from '../observe/metrics.js';
import { purgerFor } from '../cache/admin-purge.js';
import { loadConfigIsolated } from '../config/load-isolated.js';
import { MAX_CONFIG_BYTES } from '../config/read-file.js';
import { Redactor, shownConfig, shownDiff } from '../config/shown.js';
import { AdminError, type AdminReply, type AdminRequest, type Endpoint } from './admin.js';
import { cacheFill } from './cache-stats.js';
import type { Exposition } from './exposition.js';
import type { Reloader } from './reload.js';
import type { Supervisor } from './supervisor.js';
import { DASHBOARD_HTML } from './dashboard.js';
import type { TargetHealth } from '../upstream/health/monitor.js';

export interface OperationsContext {
  readonly sup: Supervisor;
  readonly reloader: Reloader;
  readonly exposition: Exposition;
  readonly version: string;
  readonly startedAt: number;
  /** Starts the graceful stop (what SIGTERM does); false when one is already under way. */
  drain(): boolean;
  draining(): boolean;
}


function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function family(families: readonly FamilySnapshot[], name: string): FamilySnapshot | undefined {
  return families.find((f) => f.name === name);
}

/** Sum of a family's series whose labels match `where` (label name → value). */
export function sumWhere(f: FamilySnapshot | undefined, where: Record<string, string> = {}): number {
  if (f === undefined) return 0;
  const idx = Object.entries(where).map(([k, v]) => [f.labelNames.indexOf(k), v] as const);
  let total = 0;
  for (const s of f.series) if (idx.every(([i, v]) => i >= 0 && s.labels[i] === v)) total += s.value;
  return total;
}

function gaugeValue(families: readonly FamilySnapshot[], name: string): number {
  return sumWhere(family(families, name));
}

/** The largest POST /plan body: a config at its cap, escaped as a JSON string, with its variables. */
const PLAN_MAX_BODY = 2 * MAX_CONFIG_BYTES + 1024 * 1024;

export function buildEndpoints(ctx: OperationsContext): Map<string, Endpoint> {
  const { sup, reloader, exposition } = ctx;
  const routes = new Map<string, Endpoint>();
  // Every config served since start: what any of them read from the environment is scrubbed
  // from every reply (labels of old routes live on in the metrics).
  const redactor = new Redactor();
  const scrub = (): Redactor => redactor.add(sup.started).add(sup.config);
  const shown = async (handle: Endpoint['handle'], req: AdminRequest, extra?: (r: Redactor) => Redactor): Promise<AdminReply> => {
    const r = extra === undefined ? scrub() : extra(scrub());
    let reply: AdminReply;
    try {
      reply = await handle(req);
    } catch (err) {
      // Refusals too: a reload's error names fields and addresses.
      if (err instanceof AdminError && !r.empty) throw new AdminError(err.code, r.text(err.message), r.json(err.extra));
      throw err;
    }
    if (r.empty) return reply;
    if ('json' in reply) return { ...reply, json: r.json(reply.json) };
    return reply.type.startsWith('text/html') ? reply : { ...reply, text: r.text(reply.text) };
  };
  const get = (path: string, handle: Endpoint['handle'], pub = false): void => { routes.set(path, { method: 'GET', handle: (req) => shown(handle, req), public: pub }); };
  const post = (path: string, handle: Endpoint['handle']): void => { routes.set(path, { method: 'POST', handle: (req) => shown(handle, req) }); };

  const status = (): AdminReply => {
    const workers = sup.workers();
    const running = workers.filter((w) => w.state === 'running').length;
    const draining = ctx.draining();
    const serving = !draining && running > 0;
    const last = reloader.history()[0] ?? null;
    return {
      status: serving ? 200 : 503,
      json: {
        status: draining ? 'draining' : running === workers.length ? 'serving' : running > 0 ? 'degraded' : 'down',
        version: ctx.version,
        pid: process.pid,
        uptime_s: Math.round((Date.now() - ctx.startedAt) / 1000),
        config: { source: sup.config.source, generation: sup.generation },
        workers: { running, total: workers.length },
        listen: sup.config.listen.map(listenKey),
        last_reload: last,
      },
    };
  };
  get('/status', status);

  get('/config', () => ({ json: { generation: sup.generation, config: shownConfig(sup.config) } }));

  post('/reload', async () => {
    if (ctx.draining()) throw new AdminError('PC_ERR_DRAINING', 'the proxy is draining: no reload');
    const r = await reloader.reload('admin API');
    if (r.ok) return { json: { ok: true, generation: r.generation, ms: r.ms, changes: r.diff, websockets_closed: r.tunnelsClosed } };
    const code = r.kind === 'invalid' ? 'PC_ERR_RELOAD_INVALID' : r.kind === 'restart_required' ? 'PC_ERR_RELOAD_RESTART' : r.kind === 'unsupported' ? 'PC_ERR_RELOAD_UNSUPPORTED' : 'PC_ERR_RELOAD_FAILED';
    throw new AdminError(code, r.message, { generation: r.generation, errors: r.errors });
  });


  get('/reloads', () => ({ json: { generation: sup.generation, reloads: reloader.history() } }));

  get('/upstreams', () => {
    const families = exposition.families();
    // Any family labelled by upstream (and target) is shown under it: pool sizes, retries,
    // health, whatever the upstream work reports, without this file knowing the names.
    const labelled = families.filter((f) => f.labelNames.includes('upstream'));
    const upstreams = Object.values(sup.config.upstreams).map((g) => ({
      name: g.name,
      pool: g.pool,
      balance: g.balance.policy,
      routes: sup.config.routes.filter((r) => r.upstream === g.name || r.split?.some((e) => e.upstream === g.name) === true).map(routeLabel),
      targets: g.targets.map((t) => {
        const metrics: Record<string, number> = {};
        for (const f of labelled) {
          if (!f.labelNames.includes('target')) continue;
          metrics[f.name] = sumWhere(f, { upstream: g.name, target: t.url });
        }
        return { url: t.url, weight: t.weight, ...sup.targetHealth(g.name, t.url), metrics };
      }),
      metrics: Object.fromEntries(labelled.filter((f) => !f.labelNames.includes('target')).map((f) => [f.name, sumWhere(f, { upstream: g.name })])),
    }));
    return { json: { generation: sup.generation, upstreams } };
  });

  get('/cache', () => {
    const families = exposition.families();
    const f = family(families, 'portcullis_cache_requests_total');
    const outcomes: Record<string, number> = {};
    for (const s of f?.series ?? []) outcomes[s.labels[1]!] = (outcomes[s.labels[1]!] ?? 0) + s.value;
    const hits = outcomes['hit'] ?? 0;
    const lookups = Object.values(outcomes).reduce((a, b) => a + b, 0);
    const mem = sup.shm.cache;
    return {
      json: {
        enabled: mem !== null,
        routes: sup.config.routes.filter((r) => r.cache).map(routeLabel),
        memory: mem === null ? null : cacheFill(mem),
        max_entry_bytes: sup.config.cache.max_entry_bytes,
        requests: outcomes,
        hit_ratio: lookups > 0 ? hits / lookups : null,
        purge: purgerFor(sup.config, sup.shm) !== null,
      },
    };
  });

  post('/cache/purge', async (req) => {
    const url = req.body['url'];
    if (typeof url !== 'string' || !/^https?:\/\/[^/]+/.test(url)) {
      throw new AdminError('PC_ERR_ADMIN_BAD_REQUEST', 'expected {"url": "http://host/path", "prefix": false, "soft": false}');
    }
    const prefix = req.body['prefix'] ?? false;
    const soft = req.body['soft'] ?? false;
    if (typeof prefix !== 'boolean' || typeof soft !== 'boolean') throw new AdminError('PC_ERR_ADMIN_BAD_REQUEST', '"prefix" and "soft" are true or false');
    const purger = purgerFor(sup.config, sup.shm);
    if (purger === null) throw new AdminError('PC_ERR_PURGE_UNAVAILABLE', 'no route caches: there is no shared cache to purge');
    const result = await purger.purge(url, { prefix, soft });
    return { json: { ok: true, url, prefix, soft, purged: result.purged } };
  });

  get('/workers', async () => {
    const inspections = new Map((await sup.inspect()).map((i) => [i.id, i]));
    const perWorker = sup.workers().map((w) => {
      const own = sup.metrics.read([w.id]);
      const info = inspections.get(w.id);
      return {
        ...w,
        started_at: new Date(w.startedAt).toISOString(),
        connections_open: gaugeValue(own, 'portcullis_connections_open'),
        requests_total: sumWhere(family(own, 'portcullis_requests_total')),
        inflight: info?.inflight ?? null,
        generations: info?.generations ?? null,
      };
    });
    return { json: { generation: sup.generation, workers: perWorker } };
  });

  // What reloading posted text would change. Its ${NAME} references take the values posted
  // with it (`portcullis plan` sends its own environment's), never this process's: anyone who
  // may post could otherwise read the proxy's environment back through the diff, an error
  // message or a validation outcome. The PORTCULLIS_* overrides are this process's.
  routes.set('/plan', {
    method: 'POST',
    maxBody: PLAN_MAX_BODY,
    handle: async (req) => {
      const { file, text, env = {} } = req.body;
      if (typeof file !== 'string' || typeof text !== 'string' || !isRecord(env) || !Object.values(env).every((v) => typeof v === 'string')) {
        throw new AdminError('PC_ERR_ADMIN_BAD_REQUEST', 'expected {"file": "name for messages", "text": "the config file\'s text", "env": {"NAME": "value of each ${NAME} it references"}}');
      }
      const loaded = await loadConfigIsolated({ kind: 'text', path: file, text, env: env as Record<string, string> });
      if (!loaded.ok) throw new AdminError('PC_ERR_RELOAD_INVALID', loaded.shown.message, { generation: sup.generation, errors: loaded.shown.errors ?? [] });
      const old = sup.config;
      const next = loaded.config;
      const changed = changedRouteKeys(old, next);
      const connections = (await connectionsReply()).json;
      return shown(() => ({
        json: {
          generation: sup.generation,
          source: old.source,
          diff: shownDiff(diffConfigs(old, next, sup.started), old, next, sup.started),
          drain_routes: old.routes.filter((r) => changed.has(routeKey(r))).map(routeLabel),
          drain_ms: next.timeouts.drain,
          connections,
        },
      }), req, (r) => r.with(next));
    },
  });

  get('/connections', () => connectionsReply());

  async function connectionsReply(): Promise<{ json: Record<string, unknown> }> {
    const families = exposition.families();
    const inspections = await sup.inspect();
    const byRoute = (pick: 'tunnelsByRoute' | 'streamsByRoute'): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const i of inspections) for (const [k, v] of Object.entries(i[pick])) out[k] = (out[k] ?? 0) + v;
      return out;
    };
    const listeners = new Map<string, { address: string; inflight: number; tunnels: number; draining: boolean }>();
    for (const i of inspections) {
      for (const l of i.listeners) {
        const prev = listeners.get(l.address);
        if (prev === undefined) listeners.set(l.address, { ...l });
        else { prev.inflight += l.inflight; prev.tunnels += l.tunnels; prev.draining ||= l.draining; }
      }
    }
    return {
      json: {
        connections_open: gaugeValue(families, 'portcullis_connections_open'),
        requests_in_flight: inspections.reduce((a, i) => a + i.inflight, 0),
        websockets_open: gaugeValue(families, 'portcullis_websocket_tunnels_open'),
        websockets_connecting: gaugeValue(families, 'portcullis_websocket_tunnels_connecting'),
        streams_open: gaugeValue(families, 'portcullis_streams_open'),
        websockets_by_route: byRoute('tunnelsByRoute'),
        streams_by_route: byRoute('streamsByRoute'),
        listeners: [...listeners.values()],
      },
    };
  }

  post('/drain', () => {
    const started = ctx.drain();
    return { status: 202, json: { ok: true, status: 'draining', already: !started, deadline_ms: sup.config.timeouts.drain } };
  });

  get('/metrics', async () => ({ text: await exposition.text(), type: exposition.contentType }));

  get('/stats', () => {
    const families = exposition.families();
    const requests = family(families, 'portcullis_requests_total');
    const duration = family(families, 'portcullis_request_duration_seconds');
    const names = new Set<string>([...sup.config.routes.map((r) => (r.host ? `${r.host}${r.path}` : r.path))]);
    for (const s of requests?.series ?? []) names.add(s.labels[0]!);
    const routeStats = [...names].map((route) => {
      const h = duration?.series.find((s) => s.labels[0] === route);
      return {
        route,
        requests: sumWhere(requests, { route }),
        errors: sumWhere(requests, { route, status_class: '5xx' }),
        client_errors: sumWhere(requests, { route, status_class: '4xx' }),
        latency: h === undefined ? null : { bounds: duration!.bucketBounds, buckets: h.buckets, sum: h.value },
      };
    });
    const cache = family(families, 'portcullis_cache_requests_total');
    const cacheOutcome = (o: string): number => sumWhere(cache, { outcome: o });
    return {
      json: {
        at: Date.now(),
        generation: sup.generation,
        status: ctx.draining() ? 'draining' : 'serving',
        routes: routeStats,
        connections_open: gaugeValue(families, 'portcullis_connections_open'),
        websockets_open: gaugeValue(families, 'portcullis_websocket_tunnels_open'),
        upstreams: Object.values(sup.config.upstreams).map((g) => ({
          name: g.name,
          targets: g.targets.map((t) => t.url),
          health: Object.fromEntries(g.targets.map((t) => [t.url, healthWord(sup.targetHealth(g.name, t.url), g.health !== undefined)])),
        })),
        cache: { enabled: sup.shm.cache !== null, hits: cacheOutcome('hit'), misses: cacheOutcome('miss') + cacheOutcome('stored'), revalidated: cacheOutcome('revalidated') },
        // HTTPS listeners (issue #11) report their certificates here once they exist.
        certificates: certificatesOf(families),
        reloads: reloader.history().slice(0, 10),
        workers: sup.workers().map((w) => ({ id: w.id, state: w.state, restarts: w.restarts })),
      },
    };
  });

  get('/dashboard', () => ({ text: DASHBOARD_HTML, type: 'text/html; charset=utf-8', headers: { 'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:" } }), true);
  get('/', () => ({ status: 302, text: '', type: 'text/plain', headers: { location: '/dashboard' } }), true);
  return routes;
}

/**
 * One word per target for the dashboard, from the shared target table: passive ejection and an
 * unresolved name say more than the active state; without checks a target is 'not checked'.
 */
export function healthWord(h: TargetHealth, checked: boolean): 'up' | 'down' | 'ejected' | 'unresolved' | 'pending' | 'not checked' {
  if (h.ejected_until !== null) return 'ejected';
  if (h.addresses === 'unresolved') return 'unresolved';
  if (h.state === 'healthy') return 'up';
  if (h.state === 'unhealthy') return 'down';
  return checked ? 'pending' : 'not checked';
}

/** Certificates from a `portcullis_tls_certificate_expiry_timestamp_seconds{name}` gauge, when TLS reports one. */
function certificatesOf(families: readonly FamilySnapshot[]): { name: string; expires: string }[] {
  const f = family(families, 'portcullis_tls_certificate_expiry_timestamp_seconds');
  if (f === undefined) return [];
  const n = f.labelNames.indexOf('name');
  return f.series.map((s) => ({ name: n >= 0 ? s.labels[n]! : '', expires: new Date(s.value * 1000).toISOString() }));
}
