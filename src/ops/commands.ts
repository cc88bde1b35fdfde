// The operator's commands that talk about a config rather than serve it: `reload` (asks the
// running proxy, through its admin API, to reload), `plan` (what a reload would change) and
// `explain` (how a config handles one request). Exit codes: 0 done, 1 refused or failed,
// 2 bad command line.
import http from 'node:http';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { extraPositional, parseArgs, single, type OptionSpec, type ParsedArgs } from '../cli-args.js';
import { changedRouteKeys, diffConfigs, listenKey, routeKey, routeLabel, type ConfigDiff } from '../config/diff.js';
import { ConfigErrors } from '../config/error.js';
import { loadConfigFile } from '../config/load.js';
import { readConfigText } from '../config/read-file.js';
import { shownDiff } from '../config/shown.js';
import type { Config } from '../config/types.js';
import { parseListen, isError } from '../config/address.js';
import { defaultConfigPath } from '../package-root.js';
import { renderPlan, type OpenConnections } from './plan.js';
import { explainRequest } from './explain.js';

type Out = NodeJS.WritableStream;

const USAGE = {
  reload: `usage: portcullis reload [-c FILE] [--admin ADDR]
  asks the running proxy to reload its config file; FILE (default: the built-in config) says
  where its admin API listens (admin.listen, admin.token); --admin overrides the address.
  PORTCULLIS_ADMIN_TOKEN is used when FILE cannot be read.
`,
  plan: `usage: portcullis plan -c NEW [--against OLD] [--admin ADDR]
  prints what reloading NEW would change: routes, upstreams, listeners, certificates, limits,
  cache, and which open connections it would drain (asked of the running proxy, whose admin
  API NEW names), or compared with the file OLD without a running proxy.
`,
  explain: `usage: portcullis explain [-c FILE] URL [--method M] [--header "Name: value"]... [--peer IP]
  prints which route, gates, limits, upstream, cache rule, timeouts and client-IP rule FILE
  applies to a request for URL, and why (the rule that matched and the ones that did not).
  --peer is the client's address (default 203.0.113.7, a documentation address).
`,
} as const;

const OPTIONS: Record<keyof typeof USAGE, readonly OptionSpec[]> = {
  reload: [{ names: ['-c', '--config'], key: 'config', value: 'a file' }, { names: ['--admin'], key: 'admin', value: 'an address' }],
  plan: [
    { names: ['-c', '--config'], key: 'config', value: 'a file' },
    { names: ['--against'], key: 'against', value: 'a file' },
    { names: ['--admin'], key: 'admin', value: 'an address' },
  ],
  explain: [
    { names: ['-c', '--config'], key: 'config', value: 'a file' },
    { names: ['--method', '-X'], key: 'method', value: 'a method' },
    { names: ['--header', '-H'], key: 'header', value: 'a header', repeat: true },
    { names: ['--peer'], key: 'peer', value: 'an IP address' },
  ],
};

export async function runOpsCommand(cmd: 'reload' | 'plan' | 'explain', argv: readonly string[], out: Out, err: Out): Promise<number> {
  const parsed = parseArgs(argv, OPTIONS[cmd]);
  const positionals = cmd === 'explain' ? 1 : 0;
  const problem = 'usage' in parsed ? parsed.usage : extraPositional(parsed, positionals);
  if (problem !== undefined) {
    err.write(`portcullis ${cmd}: ${problem}\n${USAGE[cmd]}`);
    return 2;
  }
  const args = parsed as ParsedArgs;
  if (args.options['help']) { out.write(USAGE[cmd]); return 0; }
  switch (cmd) {
    case 'reload': return reload(args, out, err);
    case 'plan': return plan(args, out, err);
    case 'explain': return explain(args, out, err);
  }
}

/** Loads a config, printing its errors (file:line:col: field: message) when it is invalid. */
function load(file: string, err: Out): Config | null {
  try {
    return loadConfigFile(file);
  } catch (e) {
    if (e instanceof ConfigErrors) for (const x of e.errors) err.write(`${x.format()}\n`);
    else err.write(`${(e as Error).message}\n`);
    return null;
  }
}

interface AdminTarget { readonly host: string; readonly port: number; readonly token: string | undefined }

function adminTarget(config: Config | null, override: string | undefined, cmd: string, err: Out): AdminTarget | null {
  const token = config?.admin?.token ?? (process.env['PORTCULLIS_ADMIN_TOKEN'] || undefined);
  if (override !== undefined) {
    const a = parseListen(override);
    if (isError(a)) { err.write(`portcullis ${cmd}: --admin: ${a.error}\n`); return null; }
    return { host: a.host === '0.0.0.0' ? '127.0.0.1' : a.host, port: a.port, token };
  }
  if (config === null) return { host: '127.0.0.1', port: 9901, token };
  if (config.admin === null) {
    err.write(`portcullis ${cmd}: ${config.source} turns the admin API off (admin: false); send SIGHUP to the proxy instead, or give --admin ADDR\n`);
    return null;
  }
  const { host, port } = config.admin.listen;
  // A wildcard listen address is reached on loopback from this machine.
  return { host: host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host, port, token };
}

function call(target: AdminTarget, method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request({
      host: target.host, port: target.port, method, path,
      headers: {
        host: listenKey({ host: target.host, port: target.port }),
        ...(target.token !== undefined ? { authorization: `Bearer ${target.token}` } : {}),
        ...(data !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } : {}),
      },
      timeout: 60_000,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try { resolve({ status: res.statusCode ?? 0, json: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown> }); }
        catch { reject(new Error(`the admin API answered ${res.statusCode} without JSON`)); }
      });
    });
    req.on('timeout', () => req.destroy(new Error('no answer within 60 s')));
    req.on('error', reject);
    req.end(data);
  });
}

function unreachable(target: AdminTarget, e: Error): string {
  return `cannot reach the admin API at http://${listenKey(target)}: ${(e as NodeJS.ErrnoException).code ?? e.message} (is the proxy running with this admin.listen?)`;
}

async function reload(args: ParsedArgs, out: Out, err: Out): Promise<number> {
  const file = single(args, 'config') ?? defaultConfigPath();
  let config: Config | null = null;
  try { config = loadConfigFile(file); } catch { /* the proxy reads it too, and says what is wrong */ }
  const target = adminTarget(config, single(args, 'admin'), 'reload', err);
  if (target === null) return 1;
  let r: { status: number; json: Record<string, unknown> };
  try { r = await call(target, 'POST', '/reload'); } catch (e) { err.write(`portcullis reload: ${unreachable(target, e as Error)}\n`); return 1; }
  if (r.status === 200) {
    const changes = r.json['changes'] as ConfigDiff;
    out.write(`reloaded: config generation ${String(r.json['generation'])} (${summaryOf(changes)}; ${String(r.json['ms'])} ms)\n`);
    return 0;
  }
  const e = (r.json['error'] ?? {}) as { code?: string; message?: string; generation?: number; errors?: { file: string; line: number; column: number; field: string; message: string }[] };
  err.write(`portcullis reload: refused (${e.code ?? r.status}); the proxy still serves config generation ${e.generation ?? '?'}\n`);
  if (e.errors !== undefined && e.errors.length > 0) {
    for (const x of e.errors) err.write(`${x.line > 0 ? `${x.file}:${x.line}:${x.column}` : x.file}: ${x.field}: ${x.message}\n`);
  } else err.write(`${e.message ?? JSON.stringify(r.json)}\n`);
  return 1;
}

function summaryOf(d: ConfigDiff): string {
  const n = d.routes.added.length + d.routes.removed.length + d.routes.changed.length;
  const u = d.upstreams.added.length + d.upstreams.removed.length + d.upstreams.changed.length;
  const l = d.listeners.added.length + d.listeners.removed.length;
  return d.empty ? 'no changes' : `${n} route change${n === 1 ? '' : 's'}, ${u} upstream change${u === 1 ? '' : 's'}, ${l} listener change${l === 1 ? '' : 's'}, ${d.settings.length} other`;
}

/** Labels (as /connections reports them) of the routes `next` changes or removes. */
export function drainRoutes(old: Config, next: Config): string[] {
  const changed = changedRouteKeys(old, next);
  return old.routes.filter((r) => changed.has(routeKey(r))).map(routeLabel);
}

async function plan(args: ParsedArgs, out: Out, err: Out): Promise<number> {
  const file = single(args, 'config');
  if (file === undefined) { err.write(`portcullis plan: -c NEW is required\n${USAGE.plan}`); return 2; }
  const next = load(file, err);
  if (next === null) {
    err.write(`plan: ${file} is invalid: a reload would be refused and the running config would stay\n`);
    return 1;
  }
  const againstFile = single(args, 'against');
  if (againstFile !== undefined) {
    const old = load(againstFile, err);
    if (old === null) { err.write(`plan: ${againstFile} (--against) is invalid\n`); return 1; }
    // Values read from the environment are printed as written, as the running proxy's plan prints them.
    const { text, refused } = renderPlan({ newFile: file, against: againstFile, diff: shownDiff(diffConfigs(old, next), old, next), drainRoutes: drainRoutes(old, next), drainMs: next.timeouts.drain, connections: null });
    out.write(text);
    return refused ? 1 : 0;
  }
  const target = adminTarget(next, single(args, 'admin'), 'plan', err);
  if (target === null) return 1;
  let r: { status: number; json: Record<string, unknown> };
  // The proxy validates the text and compares it with what it runs. It never fills ${NAME}
  // from its own environment for text it is sent: the values come from here, those NEW used
  // when it loaded above (docs/operations.md "Plan and explain").
  let newText: string;
  try { newText = readConfigText(file); } catch (e) { err.write(`${(e as Error).message}\n`); return 1; }
  const body = { file, text: newText, env: next.from_env?.values ?? {} };
  try { r = await call(target, 'POST', '/plan', body); } catch (e) { err.write(`portcullis plan: ${unreachable(target, e as Error)}; compare two files with --against OLD\n`); return 1; }
  if (r.status === 422) {
    const e = r.json['error'] as { errors?: { file: string; line: number; column: number; field: string; message: string }[]; message?: string };
    for (const x of e.errors ?? []) err.write(`${x.line > 0 ? `${x.file}:${x.line}:${x.column}` : x.file}: ${x.field}: ${x.message}\n`);
    if ((e.errors ?? []).length === 0) err.write(`${e.message ?? ''}\n`);
    err.write(`plan: ${file} is invalid for the running proxy: a reload would be refused and the running config would stay\n`);
    return 1;
  }
  if (r.status !== 200) { err.write(`portcullis plan: the admin API answered ${r.status}: ${JSON.stringify(r.json['error'] ?? r.json)}\n`); return 1; }
  const j = r.json as { generation: number; source: string; diff: ConfigDiff; drain_routes: string[]; drain_ms: number; connections: OpenConnections };
  const note = resolve(j.source) !== resolve(file) ? ` (note: it reloads ${j.source}, not ${file})` : '';
  const { text, refused } = renderPlan({ newFile: file, against: `the running proxy, config generation ${j.generation}${note}`, diff: j.diff, drainRoutes: j.drain_routes, drainMs: j.drain_ms, connections: j.connections });
  out.write(text);
  return refused ? 1 : 0;
}

function explain(args: ParsedArgs, out: Out, err: Out): number {
  const url = args.positionals[0];
  if (url === undefined) { err.write(`portcullis explain: a URL is required\n${USAGE.explain}`); return 2; }
  const peer = single(args, 'peer') ?? '203.0.113.7';
  // The TCP peer is an address, never a name: anything else is a slip of the command line.
  if (isIP(peer) === 0) { err.write(`portcullis explain: --peer needs an IP address (e.g. 203.0.113.7 or 2001:db8::7), got "${peer}"\n${USAGE.explain}`); return 2; }
  const file = single(args, 'config') ?? defaultConfigPath();
  const config = load(file, err);
  if (config === null) return 1;
  const result = explainRequest(config, {
    url,
    method: single(args, 'method') ?? 'GET',
    headers: args.options['header'] ?? [],
    peer,
  });
  if ('error' in result) { err.write(`portcullis explain: ${result.error}\n`); return 2; }
  out.write(result.text);
  return 0;
}
