// `portcullis plan`: what a reload to a new config would change, as text. The diff is
// config/diff.ts's; this adds what would happen to the connections open right now (from the
// running proxy's admin API): WebSockets and streams on changed or removed routes, and the
// connections of removed listeners, all drained.
import type { ConfigDiff, FieldChange } from '../config/diff.js';

/** Open connections the running proxy reported (admin GET /connections), or null offline. */
export interface OpenConnections {
  readonly websockets_by_route: Readonly<Record<string, number>>;
  readonly streams_by_route: Readonly<Record<string, number>>;
  readonly listeners: readonly { readonly address: string; readonly inflight: number; readonly tunnels: number }[];
  readonly connections_open: number;
}

export interface PlanInput {
  readonly newFile: string;
  /** 'the running proxy (config generation N)' or the OLD file. */
  readonly against: string;
  readonly diff: ConfigDiff;
  /** Route labels (as the diff names them) that the new config changes or removes. */
  readonly drainRoutes: readonly string[];
  readonly drainMs: number;
  readonly connections: OpenConnections | null;
}

const show = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

function changeText(c: FieldChange): string {
  return `${c.field}: ${show(c.from)} → ${show(c.to)}`;
}

/** Settings grouped under the headings a reader looks for. */
const GROUPS: readonly [string, (field: string) => boolean][] = [
  ['certificates', (f) => f.startsWith('tls') || f.startsWith('certificates')],
  ['limits', (f) => f.startsWith('limits')],
  ['timeouts', (f) => f.startsWith('timeouts')],
  ['cache', (f) => f.startsWith('cache')],
  ['other settings', () => true],
];

/** The plan as lines of text; `refused` says a reload would be refused (restart required). */
export function renderPlan(p: PlanInput): { text: string; refused: boolean } {
  const d = p.diff;
  const out: string[] = [`plan: ${p.newFile} against ${p.against}`];
  const section = (title: string, lines: string[]): void => {
    out.push(title);
    out.push(...(lines.length > 0 ? lines.map((l) => `  ${l}`) : ['  (no change)']));
  };
  section('routes', [
    ...d.routes.added.map((r) => `+ ${r}`),
    ...d.routes.removed.map((r) => `- ${r}`),
    ...d.routes.changed.flatMap((r) => r.changes.map((c) => `~ ${r.route}  ${changeText(c)}`)),
  ]);
  section('upstreams', [
    ...d.upstreams.added.map((u) => `+ ${u}`),
    ...d.upstreams.removed.map((u) => `- ${u}`),
    ...d.upstreams.changed.flatMap((u) => u.changes.map((c) => `~ ${u.upstream}  ${changeText(c)}`)),
  ]);
  const listenerLoad = (address: string): string => {
    const l = p.connections?.listeners.find((x) => x.address === address);
    return l === undefined ? '' : `  (${l.inflight} request${l.inflight === 1 ? '' : 's'} in flight, ${l.tunnels} WebSocket${l.tunnels === 1 ? '' : 's'}: drained)`;
  };
  section('listeners', [...d.listeners.added.map((l) => `+ ${l}`), ...d.listeners.removed.map((l) => `- ${l}${listenerLoad(l)}`)]);
  const remaining = [...d.settings];
  for (const [title, match] of GROUPS) {
    const mine = remaining.filter((c) => match(c.field));
    for (const c of mine) remaining.splice(remaining.indexOf(c), 1);
    if (title === 'certificates' && mine.length === 0) { out.push('certificates', '  (no change; no HTTPS listener in either config)'); continue; }
    section(title, mine.map((c) => `~ ${changeText(c)}`));
  }

  const drains: string[] = [];
  if (p.connections === null) {
    drains.push(p.drainRoutes.length > 0
      ? `WebSockets and streams on ${p.drainRoutes.join(', ')} (not counted: offline plan)`
      : 'nothing: no route changes or goes');
  } else {
    const c = p.connections;
    for (const route of p.drainRoutes) {
      const ws = c.websockets_by_route[route] ?? 0;
      const st = c.streams_by_route[route] ?? 0;
      if (ws > 0) drains.push(`${ws} WebSocket${ws === 1 ? '' : 's'} on ${route}: closed with 1001 at the reload`);
      if (st > 0) drains.push(`${st} stream${st === 1 ? '' : 's'} on ${route}: closed if still open after ${p.drainMs} ms`);
    }
    for (const address of d.listeners.removed) {
      const l = c.listeners.find((x) => x.address === address);
      if (l !== undefined) drains.push(`connections on ${address} (listener removed): keep-alive clients are told to close; closed after ${p.drainMs} ms at most`);
    }
    if (drains.length === 0) drains.push(`nothing: no open WebSocket, stream or listener is affected (${c.connections_open} connection${c.connections_open === 1 ? '' : 's'} open stay open)`);
  }
  section('would drain', drains);

  const refused = d.restart.length > 0;
  if (refused) section('restart required', d.restart.map((r) => `! ${r.field}: ${show(r.from)} → ${show(r.to)} (${r.why})`));
  out.push(refused
    ? 'result: a reload would be refused (restart required); the running config would stay'
    : d.empty ? 'result: nothing to change' : 'result: a reload would apply these changes without dropping a connection');
  return { text: `${out.join('\n')}\n`, refused };
}
