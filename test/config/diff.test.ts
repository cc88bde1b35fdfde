// What changes between two configs (config/diff.ts): the plan, the reload's restart checks and
// the workers' "did this route change" all read it.
import { describe, expect, test } from 'vitest';
import { parseConfigText } from '../../src/config/load.js';
import { changedRouteKeys, diffConfigs } from '../../src/config/diff.js';

const load = (text: string) => parseConfigText(text, 'c.yaml', {});
const BASE = `
listen: ["127.0.0.1:8080"]
upstreams:
  app: { targets: ["http://127.0.0.1:3000"] }
  api: { targets: ["http://127.0.0.1:3001"] }
routes:
  - { path: /, upstream: app }
  - { path: /api/, upstream: api, strip_prefix: true }
  - { host: ws.example.com, path: /chat, upstream: app }
`;

describe('changed routes', () => {
  test('a route keeps its identity by host and path; moving it in the list is no change', () => {
    const moved = load(BASE.replace('  - { path: /, upstream: app }\n', '') + '  - { path: /, upstream: app }\n');
    expect(changedRouteKeys(load(BASE), moved)).toEqual(new Set());
    expect(diffConfigs(load(BASE), moved).routes).toEqual({ added: [], removed: [], changed: [] });
  });

  test('writing a default out is no change; a different value is', () => {
    const explicit = load(BASE.replace('{ path: /, upstream: app }', '{ path: /, upstream: app, strip_prefix: false, websocket: { idle_timeout: 2m } }'));
    expect(changedRouteKeys(load(BASE), explicit)).toEqual(new Set());
    const other = load(BASE.replace('{ path: /, upstream: app }', '{ path: /, upstream: app, websocket: { idle_timeout: 1m } }'));
    expect(changedRouteKeys(load(BASE), other)).toEqual(new Set(['* /']));
    expect(diffConfigs(load(BASE), other).routes.changed).toEqual([{ route: '/', changes: [{ field: 'websocket.idle_timeout', from: 120000, to: 60000 }] }]);
  });

  test("a route whose upstream group changes targets is a changed route; the others are not", () => {
    const next = load(BASE.replace('http://127.0.0.1:3001', 'http://127.0.0.1:3002'));
    expect(changedRouteKeys(load(BASE), next)).toEqual(new Set(['* /api/']));
    const d = diffConfigs(load(BASE), next);
    expect(d.upstreams.changed).toEqual([{ upstream: 'api', changes: [{ field: 'targets', from: ['http://127.0.0.1:3001'], to: ['http://127.0.0.1:3002'] }] }]);
  });

  test('added, removed and listeners', () => {
    const next = load(BASE.replace('["127.0.0.1:8080"]', '["127.0.0.1:8080", "[::1]:8081"]').replace('  - { host: ws.example.com, path: /chat, upstream: app }\n', '  - { path: /new, upstream: app }\n'));
    const d = diffConfigs(load(BASE), next);
    expect(d.routes.added).toEqual(['/new']);
    expect(d.routes.removed).toEqual(['ws.example.com/chat']);
    expect(d.listeners).toEqual({ added: ['[::1]:8081'], removed: [], kept: ['127.0.0.1:8080'] });
    expect(d.empty).toBe(false);
    expect(diffConfigs(load(BASE), load(BASE)).empty).toBe(true);
  });
});

describe('what takes a restart', () => {
  test.each([
    ['workers', `${BASE}workers: 4\n`, 'workers'],
    ['a larger head limit', `${BASE}limits: { max_header_bytes: 64KiB }\n`, 'limits.max_header_bytes'],
    ['a larger WebSocket message', BASE.replace('{ path: /, upstream: app }', '{ path: /, upstream: app, websocket: { max_message_size: 32MiB } }'), 'routes[].websocket.max_message_size'],
  ])('%s', (_name, text, field) => {
    expect(diffConfigs(load(BASE), load(text)).restart.map((r) => r.field)).toEqual([field]);
  });

  test('cache.size only once a cache exists; a first caching route may come with a reload', () => {
    const cached = load(`${BASE}cache: { enabled: true, size: 8MiB }\n`);
    expect(diffConfigs(load(BASE), cached).restart).toEqual([]);
    const bigger = load(`${BASE}cache: { enabled: true, size: 16MiB }\n`);
    expect(diffConfigs(cached, bigger).restart.map((r) => r.field)).toEqual(['cache.size']);
  });

  test('lowering limits, and anything the processes started with, is measured against the start', () => {
    const started = load(`${BASE}limits: { max_header_bytes: 16KiB }\n`);
    const lowered = load(`${BASE}limits: { max_header_bytes: 8KiB }\n`);
    const back = load(`${BASE}limits: { max_header_bytes: 16KiB }\n`);
    expect(diffConfigs(started, lowered).restart).toEqual([]);
    // Back up to the starting value after a lowering: fine, uWS still has the start's limit.
    expect(diffConfigs(lowered, back, started).restart).toEqual([]);
    expect(diffConfigs(lowered, load(`${BASE}limits: { max_header_bytes: 20KiB }\n`), started).restart.map((r) => r.field)).toEqual(['limits.max_header_bytes']);
  });

  test('the admin token never appears in a diff', () => {
    const a = load(`${BASE}admin: { token: "first-token-0123456789" }\n`);
    const b = load(`${BASE}admin: { token: "second-token-0123456789" }\n`);
    const text = JSON.stringify(diffConfigs(a, b));
    expect(text).not.toContain('first-token');
    expect(text).not.toContain('second-token');
    expect(diffConfigs(a, b).settings).toEqual([{ field: 'admin.token', from: '(hidden)', to: '(hidden, changed)' }]);
  });
});
