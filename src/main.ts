#!/usr/bin/env node
// The `portcullis` command: run (config file), check (validate like nginx -t), proxy
// (quick mode, no file), demo (demo origin + built-in default config).
import { fileURLToPath } from 'node:url';
import type { Config } from './config/types.js';
import { loadConfigIsolated, type ConfigSource } from './config/load-isolated.js';
import { Supervisor, workerCount } from './primary/supervisor.js';
import { Reloader } from './primary/reload.js';
import { AdminServer } from './primary/admin.js';
import { Exposition } from './primary/exposition.js';
import { buildEndpoints } from './primary/operations.js';
import { listenKey, stableJson } from './config/diff.js';
import { packageRoot } from './package-root.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDemoOrigin } from './primary/demo-origin.js';
import { assertAddressFree } from './primary/port-check.js';
import { assessLimit, CHECK_MS, FdWatch, parseNofile } from './primary/fd-watch.js';
import { extraPositional, parseArgs, single, type OptionSpec, type ParsedArgs } from './cli-args.js';
import { TlsService } from './tls/primary.js';
import { insecureUpstreams } from './upstream/tls.js';

const DEFAULT_CONFIG = fileURLToPath(new URL('../../config/default.yaml', import.meta.url));

/** One usage line per command: shown on its own for that command's usage errors. */
const COMMAND_USAGE = {
  run: `  portcullis run [-c FILE]                      run with a config file (default: built-in config/default.yaml)`,
  check: `  portcullis check [-c FILE] [-q]               validate a config and print the effective config`,
  proxy: `  portcullis proxy [--from ADDR] --to URL [--to URL ...]
                                                quick mode: proxy ADDR (default 127.0.0.1:8080) to the URL(s)`,
  demo: `  portcullis demo                               start a demo origin and run the default config`,
  'hash-password': `  portcullis hash-password                      read a password on stdin, print its scrypt hash for auth.basic.users`,
  reload: `  portcullis reload [-c FILE]                   ask the running proxy (its admin API, from FILE) to reload its config`,
  plan: `  portcullis plan -c NEW [--against OLD]        what reloading NEW would change (against the running proxy, or OLD)`,
  explain: `  portcullis explain [-c FILE] URL [--method M] [--header "Name: value"]... [--peer IP]
                                                how FILE handles a request for URL, and why`,
} as const;

const USAGE = `usage:
${Object.values(COMMAND_USAGE).join('\n')}
environment: PORTCULLIS_WORKERS, PORTCULLIS_LOG_LEVEL, PORTCULLIS_ACCESS_LOG, PORTCULLIS_WORKER_YOUNG_MB, PORTCULLIS_CACHE_HIT_PATH (see docs/config.md)
`;

type ServeCommand = 'run' | 'proxy' | 'demo' | 'hash-password';

const OPTIONS: Readonly<Record<ServeCommand, readonly OptionSpec[]>> = {
  run: [{ names: ['-c', '--config'], key: 'config', value: 'a file' }],
  proxy: [
    { names: ['--from'], key: 'from', value: 'an address' },
    { names: ['--to'], key: 'to', value: 'a URL', repeat: true },
  ],
  demo: [],
  'hash-password': [],
};

/**
 * The command line of `cmd`, or null after printing why it is refused (exit code 2) or
 * the help (exit code 0). Bare arguments are never taken: `run FILE` would otherwise look
 * as if it ran FILE.
 */
function commandArgs(cmd: ServeCommand, argv: readonly string[]): ParsedArgs | null {
  const parsed = parseArgs(argv, OPTIONS[cmd]);
  const problem = 'usage' in parsed ? parsed.usage : extraPositional(parsed, 0, cmd === 'run' ? ' (give the config file with -c FILE)' : '');
  if (problem !== undefined) {
    process.stderr.write(`portcullis ${cmd}: ${problem}\nusage:\n${COMMAND_USAGE[cmd]}\n`);
    process.exitCode = 2;
    return null;
  }
  if ((parsed as ParsedArgs).options['help']) {
    process.stdout.write(`usage:\n${COMMAND_USAGE[cmd]}\n`);
    return null;
  }
  return parsed as ParsedArgs;
}

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug'] as const;
type Level = (typeof LEVELS)[number];
/** Messages above this level are not printed (config log_level / PORTCULLIS_LOG_LEVEL). */
let logLevel: number = LEVELS.indexOf('info');

function say(msg: string, level: Level = 'info'): void {
  if (LEVELS.indexOf(level) > logLevel) return;
  process.stderr.write(`portcullis: ${level === 'info' ? '' : `${level}: `}${msg}\n`);
}

async function loadOrExit(source: ConfigSource): Promise<Config> {
  const result = await loadConfigIsolated(source);
  if (result.ok) return result.config;
  process.stderr.write(`${result.message}\n`);
  process.exit(1);
}

/** version, Node and uWS versions for build info and /status. */
function buildInfo(): { version: string; node: string; uws: string } {
  const read = (file: string): string => {
    try { return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? 'unknown'; } catch { return 'unknown'; }
  };
  const root = packageRoot();
  return { version: read(join(root, 'package.json')), node: process.version, uws: read(join(root, 'node_modules', 'uWebSockets.js', 'package.json')) };
}

/**
 * Runs the proxy: workers, signals (TERM/INT drain, HUP reload, USR1 reopen logs) and the
 * admin API. `file`: the config file a reload reads again (null in quick mode and demo).
 */
async function serve(config: Config, file: string | null): Promise<void> {
  const level = LEVELS.indexOf(config.log_level as Level);
  if (level >= 0) logLevel = level;
  const startedAt = Date.now();
  let sup: Supervisor;
  let exposition: Exposition;
  let tls: TlsService;
  try {
    // Certificates are read (and checked again) once, here: workers load the primary's copies.
    tls = new TlsService(config, (lvl, msg) => say(msg, lvl));
    process.on('exit', () => tls.stop());
    // Both read the environment again; the loader has validated it, this only keeps a
    // slip from becoming a stack trace.
    const n = workerCount(config);
    sup = new Supervisor(config, {
      log: (lvl, msg) => say(msg, lvl),
      restarted: (id) => exposition.restarts.inc({ worker: String(id) }),
      tlsState: () => tls.state(),
      message: (msg) => tls.onWorkerMessage(msg),
    }, process.env['PORTCULLIS_TEST_HOOKS'] === '1', n);
    const build = buildInfo();
    exposition = new Exposition(sup.metrics, build, () => sup.shm.cache, () => sup.workers());
    tls.registerMetrics(exposition.registry);
  } catch (err) {
    say((err as Error).message, 'error');
    process.exit(1);
  }
  for (const w of insecureUpstreams(config.upstreams)) say(w, 'warn');
  let stopping = false;
  let admin: AdminServer | null = null;
  const stop = (signal: string): boolean => {
    if (stopping) return false;
    stopping = true;
    say(`${signal}: draining (up to ${sup.config.timeouts.drain} ms)`);
    sup.stop().then(async () => { await admin?.close(); say('stopped'); process.exit(0); }, () => process.exit(1));
    return true;
  };
  const reloader = new Reloader(sup, file, {
    log: (lvl, msg) => say(msg, lvl),
    counted: (result) => exposition.reloads.inc({ result }),
    applied: async (next, previous) => {
      const lvl = LEVELS.indexOf(next.log_level as Level);
      if (lvl >= 0) logLevel = lvl;
      exposition.generation.set(sup.generation);
      exposition.lastReload.set(Date.now() / 1000);
      if (stableJson(next.admin) === stableJson(previous.admin)) return;
      // The admin API moves (or goes, or comes) with the config; its token changes in place.
      if (admin !== null && next.admin !== null && listenKey(next.admin.listen) === listenKey(admin.address)) {
        admin.config = next.admin;
        return;
      }
      const old = admin;
      admin = null;
      if (next.admin !== null) {
        const fresh = new AdminServer(next.admin, endpoints);
        await fresh.listen();
        admin = fresh;
        say(`admin API on http://${listenKey(next.admin.listen)}`);
      }
      // After this reply has gone out on the old server (close() lets it finish).
      if (old !== null) setTimeout(() => { void old.close(); }, 100).unref();
    },
  });
  const endpoints = buildEndpoints({
    sup, reloader, exposition, version: buildInfo().version, startedAt,
    drain: () => stop('admin API drain'),
    draining: () => stopping,
  });
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // nginx's reload. Signals reach only this (main) thread, never the workers.
  process.on('SIGHUP', () => { if (!stopping) void reloader.reload('SIGHUP'); });
  // logrotate's postrotate: every worker reopens its access log file.
  process.on('SIGUSR1', () => {
    void sup.reopenLogs().then((n) => say(`SIGUSR1: reopened log files in ${n} of ${sup.count} worker${sup.count === 1 ? '' : 's'}`));
  });
  if (process.env['PORTCULLIS_TEST_HOOKS'] === '1') process.on('SIGUSR2', () => sup.crash(0));
  try {
    for (const a of config.listen) await assertAddressFree(a);
    if (config.admin !== null) {
      admin = new AdminServer(config.admin, endpoints);
      await admin.listen();
    }
    await tls.prepare();
    await sup.start();
    tls.start(sup);
  } catch (err) {
    say((err as Error).message, 'error');
    await sup.stop();
    await admin?.close();
    process.exit(1);
  }
  const n = sup.count;
  say(`listening on ${config.listen.map((a) => `${a.tls ? 'https://' : ''}${listenKey(a)}`).join(', ')} with ${n} worker${n === 1 ? '' : 's'}${config.admin !== null ? `; admin API on http://${listenKey(config.admin.listen)}` : ''}`);
  // Out of descriptors, uWS stops accepting without a word: say so before it happens.
  const nofile = (() => { try { return parseNofile(readFileSync('/proc/self/limits', 'utf8')); } catch { return null; } })();
  const advice = nofile === null ? null : assessLimit(nofile.soft, nofile.hard, n);
  if (advice !== null) say(advice, 'warn');
  // Test hooks check every 200 ms so a test need not wait 5 s per step.
  new FdWatch({ log: (lvl, msg) => say(msg, lvl), near: (near) => exposition.fdNearLimit.set(near ? 1 : 0) },
    nofile?.soft ?? null, process.env['PORTCULLIS_TEST_HOOKS'] === '1' ? 200 : CHECK_MS);
}

async function main(argv: string[]): Promise<void> {
  const cmd = argv[0] ?? 'help';
  const rest = argv.slice(1);
  switch (cmd) {
    case 'run': {
      const args = commandArgs('run', rest);
      if (args === null) return;
      const file = single(args, 'config') ?? DEFAULT_CONFIG;
      await serve(await loadOrExit({ kind: 'file', path: file }), file);
      return;
    }
    case 'check': {
      // Imported here: the running proxy's primary never loads the config libraries.
      const { runCheck } = await import('./config/check.js');
      process.exitCode = await runCheck(rest, process.stdout, process.stderr);
      return;
    }
    case 'proxy': {
      const args = commandArgs('proxy', rest);
      if (args === null) return;
      // Loopback unless told: a quick proxy is not exposed by accident (the config default too).
      const from = single(args, 'from') ?? '127.0.0.1:8080';
      const to = args.options['to'] ?? [];
      await serve(await loadOrExit({ kind: 'quick', from, to }), null);
      return;
    }
    case 'demo': {
      if (commandArgs('demo', rest) === null) return;
      const port = Number(process.env['PORTCULLIS_DEMO_PORT'] ?? 3000);
      const origin = await startDemoOrigin(port).catch((err: Error) => {
        say(`demo origin cannot listen on 127.0.0.1:${port}: ${err.message} (set PORTCULLIS_DEMO_PORT)`, 'error');
        process.exit(1);
      });
      process.env['PORTCULLIS_DEMO_PORT'] = String(port);
      say(`demo origin on http://127.0.0.1:${port}`);
      await serve(await loadOrExit({ kind: 'file', path: DEFAULT_CONFIG }), DEFAULT_CONFIG);
      say('try: curl -i http://localhost:8080/');
      process.on('exit', () => origin.close());
      return;
    }
    case 'hash-password': {
      if (commandArgs('hash-password', rest) === null) return;
      // Imported here: only this command needs it.
      const { runHashPassword } = await import('./policy/hash-password-command.js');
      process.exitCode = await runHashPassword(process.stdin, process.stdout, process.stderr);
      return;
    }
    case 'reload': case 'plan': case 'explain': {
      // Imported here: tools, not the running proxy.
      const { runOpsCommand } = await import('./ops/commands.js');
      process.exitCode = await runOpsCommand(cmd, rest, process.stdout, process.stderr);
      return;
    }
    case 'help': case '--help': case '-h':
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`portcullis: unknown command "${cmd}"\n${USAGE}`);
      process.exitCode = 2;
  }
}

void main(process.argv.slice(2));
