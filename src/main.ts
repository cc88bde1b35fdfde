#!/usr/bin/env node
// The `portcullis` command: run (config file), check (validate like nginx -t), proxy
// (quick mode, no file), demo (demo origin + built-in default config).
import { fileURLToPath } from 'node:url';
import type { Config } from './config/types.js';
import { loadConfigIsolated, type ConfigSource } from './config/load-isolated.js';
import { Supervisor, workerCount } from './primary/supervisor.js';
import { startDemoOrigin } from './primary/demo-origin.js';
import { assertAddressFree } from './primary/port-check.js';
import { extraPositional, parseArgs, single, type OptionSpec, type ParsedArgs } from './cli-args.js';
import { TlsService } from './tls/primary.js';
import { listenerKey } from './tls/cert-set.js';
import { insecureUpstreams } from './upstream/tls.js';

const DEFAULT_CONFIG = fileURLToPath(new URL('../../config/default.yaml', import.meta.url));

/** One usage line per command: shown on its own for that command's usage errors. */
const COMMAND_USAGE = {
  run: `  portcullis run [-c FILE]                      run with a config file (default: built-in config/default.yaml)`,
  check: `  portcullis check [-c FILE] [-q]               validate a config and print the effective config`,
  proxy: `  portcullis proxy [--from ADDR] --to URL [--to URL ...]
                                                quick mode: proxy ADDR (default :8080) to the URL(s)`,
  demo: `  portcullis demo                               start a demo origin and run the default config`,
} as const;
type Command = keyof typeof COMMAND_USAGE;

const USAGE = `usage:
${Object.values(COMMAND_USAGE).join('\n')}
environment: PORTCULLIS_WORKERS, PORTCULLIS_LOG_LEVEL, PORTCULLIS_ACCESS_LOG, PORTCULLIS_WORKER_YOUNG_MB (see docs/config.md)
`;

const OPTIONS: Readonly<Record<Exclude<Command, 'check'>, readonly OptionSpec[]>> = {
  run: [{ names: ['-c', '--config'], key: 'config', value: 'a file' }],
  proxy: [
    { names: ['--from'], key: 'from', value: 'an address' },
    { names: ['--to'], key: 'to', value: 'a URL', repeat: true },
  ],
  demo: [],
};

/**
 * The command line of `cmd`, or null after printing why it is refused (exit code 2) or
 * the help (exit code 0). Bare arguments are never taken: `run FILE` would otherwise look
 * as if it ran FILE.
 */
function commandArgs(cmd: Exclude<Command, 'check'>, argv: readonly string[]): ParsedArgs | null {
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

const SIGHUP_WARNING = 'SIGHUP: configuration reload is not implemented yet; still serving the configuration loaded at start';

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

async function serve(config: Config): Promise<void> {
  const level = LEVELS.indexOf(config.log_level as Level);
  if (level >= 0) logLevel = level;
  let sup: Supervisor;
  let n: number;
  let tls: TlsService;
  try {
    // Certificates are read (and checked again) once, here: workers load the primary's copies.
    tls = new TlsService(config, (lvl, msg) => say(msg, lvl));
    process.on('exit', () => tls.stop());
    // Both read the environment again; the loader has validated it, this only keeps a
    // slip from becoming a stack trace.
    sup = new Supervisor(config, { log: (lvl, msg) => say(msg, lvl), message: (msg) => tls.onWorkerMessage(msg) }, process.env['PORTCULLIS_TEST_HOOKS'] === '1', () => tls.state());
    n = workerCount(config);
  } catch (err) {
    say((err as Error).message, 'error');
    process.exit(1);
  }
  for (const w of insecureUpstreams(config.upstreams)) say(w, 'warn');
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: draining (up to ${config.timeouts.drain} ms)`);
    sup.stop().then(() => { say('stopped'); process.exit(0); }, () => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // Without a listener SIGHUP's default action kills the process at once, cutting every
  // response in flight; operators send it expecting nginx's reload. Until hot reload
  // exists, say so and keep serving. Signals reach only this (main) thread, never the
  // workers, so this one listener covers them.
  process.on('SIGHUP', () => say(SIGHUP_WARNING, 'warn'));
  if (process.env['PORTCULLIS_TEST_HOOKS'] === '1') process.on('SIGUSR2', () => sup.crash(0));
  try {
    for (const a of config.listen) await assertAddressFree(a);
    await tls.prepare();
    await sup.start(n);
    tls.start(sup);
  } catch (err) {
    say((err as Error).message, 'error');
    await sup.stop();
    process.exit(1);
  }
  say(`listening on ${config.listen.map((a) => `${a.tls ? 'https://' : ''}${listenerKey(a)}`).join(', ')} with ${n} worker${n === 1 ? '' : 's'}`);
}

async function main(argv: string[]): Promise<void> {
  const cmd = argv[0] ?? 'help';
  const rest = argv.slice(1);
  switch (cmd) {
    case 'run': {
      const args = commandArgs('run', rest);
      if (args === null) return;
      const file = single(args, 'config') ?? DEFAULT_CONFIG;
      await serve(await loadOrExit({ kind: 'file', path: file }));
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
      const from = single(args, 'from') ?? ':8080';
      const to = args.options['to'] ?? [];
      await serve(await loadOrExit({ kind: 'quick', from, to }));
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
      await serve(await loadOrExit({ kind: 'file', path: DEFAULT_CONFIG }));
      say('try: curl -i http://localhost:8080/');
      process.on('exit', () => origin.close());
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
