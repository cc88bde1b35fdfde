// Micro-benchmark: route lookup in our Router against find-my-way on the same 1,000 routes.
// Run: npx tsc -p tsconfig.json && node dist/bench/micro/trie.js
// Env: ITERATIONS (lookups per path per round), ROUNDS (the table shows medians), RESOURCES.

import FindMyWay from 'find-my-way';

import { normalizePath } from '../../src/router/normalize.js';
import { Router } from '../../src/router/router.js';

function int(name: string, dflt: number): number {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? dflt : Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${name}=${raw}: want a positive integer`);
  return n;
}

const ITERATIONS = int('ITERATIONS', 200_000);
const ROUNDS = int('ROUNDS', 7);
const RESOURCES = int('RESOURCES', 100);

// 10 routes per resource: exact, param, param + static, two params, statics, prefixes, a star.
// Ours: '/x/' is a prefix; find-my-way spells the same thing '/x/*'.
function routesFor(r: string): [ours: string, fmw: string][] {
  return [
    [`/api/v1/${r}`, `/api/v1/${r}`],
    [`/api/v1/${r}/:id`, `/api/v1/${r}/:id`],
    [`/api/v1/${r}/:id/history`, `/api/v1/${r}/:id/history`],
    [`/api/v1/${r}/:id/items/:item`, `/api/v1/${r}/:id/items/:item`],
    [`/api/v1/${r}/search`, `/api/v1/${r}/search`],
    [`/api/v1/${r}/export`, `/api/v1/${r}/export`],
    [`/api/v2/${r}/`, `/api/v2/${r}/*`],
    [`/api/v2/${r}/stats`, `/api/v2/${r}/stats`],
    [`/static/${r}/*`, `/static/${r}/*`],
    [`/docs/${r}/`, `/docs/${r}/*`],
  ];
}

const WORDS = [
  'users', 'orders', 'payments', 'invoices', 'products', 'carts', 'sessions', 'tokens',
  'accounts', 'teams', 'projects', 'tickets', 'comments', 'reviews', 'shipments', 'refunds',
  'coupons', 'webhooks', 'events', 'reports', 'files', 'images', 'videos', 'messages', 'alerts',
];
const VARIANTS = ['', '-archive', '-internal', '-beta'];
const resources: string[] = [];
for (const v of VARIANTS) for (const w of WORDS) if (resources.length < RESOURCES) resources.push(w + v);

const ours = new Router<number>();
const fmw = FindMyWay();
let count = 0;
for (const r of resources) {
  for (const [p, f] of routesFor(r)) {
    const id = count++;
    ours.add(undefined, p, id);
    fmw.on('GET', f, () => id);
  }
}

const CASES: Record<string, string[]> = {
  'static hit': ['/api/v1/users/search', '/api/v2/orders/stats', '/api/v1/payments', '/api/v1/alerts-beta/export'],
  'param hit': ['/api/v1/users/12345', '/api/v1/orders/987/items/42', '/api/v1/tickets-internal/77/history', '/api/v1/refunds/x9'],
  'prefix/star hit': ['/api/v2/users/list/page/2', '/docs/invoices/getting-started', '/static/users/css/app.css', '/api/v2/teams-archive/'],
  miss: ['/api/v3/users', '/nope', '/api/v1/unknown/1', '/api/v1/users/1/items'],
};

// Both routers must agree before their speed means anything.
for (const paths of Object.values(CASES)) {
  for (const path of paths) {
    const a = ours.find('example.com', path);
    const b = fmw.find('GET', path);
    if ((a === null) !== (b === null)) throw new Error(`routers disagree on ${path}`);
    if (normalizePath(path) !== path) throw new Error(`${path} is not normalised`);
  }
}

let sink = 0;
function timeOurs(paths: string[]): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) {
    for (let j = 0; j < paths.length; j++) if (ours.find('example.com', paths[j]!) !== null) sink++;
  }
  return Number(process.hrtime.bigint() - t0) / (ITERATIONS * paths.length);
}
function timeFmw(paths: string[]): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) {
    for (let j = 0; j < paths.length; j++) if (fmw.find('GET', paths[j]!) !== null) sink++;
  }
  return Number(process.hrtime.bigint() - t0) / (ITERATIONS * paths.length);
}
function timeNormalize(paths: string[]): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) {
    for (let j = 0; j < paths.length; j++) if (normalizePath(paths[j]!) !== null) sink++;
  }
  return Number(process.hrtime.bigint() - t0) / (ITERATIONS * paths.length);
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

console.log(
  `trie micro-bench: node ${process.version}, ${count} routes (${resources.length} resources × 10), ` +
    `ITERATIONS=${ITERATIONS} per path, ROUNDS=${ROUNDS} (median), host-less routes, GET only for find-my-way`,
);

const all = Object.values(CASES).flat();
const rows: [string, number, number][] = [];
for (const [name, paths] of [...Object.entries(CASES), ['all', all] as const]) {
  const a: number[] = [];
  const b: number[] = [];
  timeOurs(paths); // warm up both before measuring
  timeFmw(paths);
  // Alternate so drift (thermal, GC) hits both sides alike.
  for (let r = 0; r < ROUNDS; r++) {
    a.push(timeOurs(paths));
    b.push(timeFmw(paths));
  }
  rows.push([name, median(a), median(b)]);
}

const pad = (s: string, n: number): string => s.padStart(n);
console.log(`${'case'.padEnd(18)}${pad('portcullis ns', 15)}${pad('find-my-way ns', 16)}${pad('ratio', 9)}`);
for (const [name, a, b] of rows) {
  console.log(`${name.padEnd(18)}${pad(a.toFixed(1), 15)}${pad(b.toFixed(1), 16)}${pad((a / b).toFixed(2), 9)}`);
}
console.log('ratio = portcullis / find-my-way (below 1: we are faster)');

timeNormalize(all);
const norm = median(Array.from({ length: ROUNDS }, () => timeNormalize(all)));
console.log(`normalizePath on the same paths (fast path, no baseline): ${norm.toFixed(1)} ns`);
if (sink === 0) console.log('(sink)');
