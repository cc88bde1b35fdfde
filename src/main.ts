#!/usr/bin/env node
// The `portcullis` command: run (config file), check (validate like nginx -t), proxy
// (quick mode, no file), demo (demo origin + built-in default config).
import { fileURLToPath } from 'node:url';
import type { Config } from './config/types.js';
import { loadConfigIsolated, type ConfigSource } from './config/load-isolated.js';
import { Supervisor, workerCount } from './primary/supervisor.js';
import { startDemoOrigin } from './primary/demo-origin.js';
import { assertAddressFree } from './primary/port-check.js';

const DEFAULT_CONFIG = fileURLToPath(new URL('../../config/default.yaml', import.meta.url));

const USAGE = `usage:
  portcullis run [-c FILE]                      run with a config file (default: built-in config/default.yaml)
  portcullis check -c FILE                      validate a config and print the effective config
  portcullis proxy --from ADDR --to URL [--to URL ...]
                                                quick mode: proxy ADDR (e.g. :8080) to the URL(s)
  portcullis demo                               start a demo origin and run the default config
environment: PORTCULLIS_WORKERS, PORTCULLIS_LOG_LEVEL, PORTCULLIS_ACCESS_LOG (see docs/config.md)
`;

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug'] as const;
type Level = (typeof LEVELS)[number];
/** Messages above this level are not printed (config log_level / PORTCULLIS_LOG_LEVEL). */
let logLevel: number = LEVELS.indexOf('info');

function say(msg: string, level: Level = 'info'): void {
  if (LEVELS.indexOf(level) > logLevel) return;
  process.stderr.write(`portcullis: ${level === 'info' ? '' : `${level}: `}${msg}\n`);
}

function flagValues(argv: string[], names: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    for (const n of names) {
      if (a === n && i + 1 < argv.length) out.push(argv[++i]!);
      else if (a.startsWith(`${n}=`)) out.push(a.slice(n.length + 1));
    }
  }
  return out;
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
  const sup = new Supervisor(config, { log: (lvl, msg) => say(msg, lvl) }, process.env['PORTCULLIS_TEST_HOOKS'] === '1');
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: draining (up to ${config.timeouts.drain} ms)`);
    sup.stop().then(() => { say('stopped'); process.exit(0); }, () => process.exit(1));
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  if (process.env['PORTCULLIS_TEST_HOOKS'] === '1') process.on('SIGUSR2', () => sup.crash(0));
  const n = workerCount(config);
  try {
    for (const a of config.listen) await assertAddressFree(a);
    await sup.start(n);
  } catch (err) {
    say((err as Error).message, 'error');
    await sup.stop();
    process.exit(1);
  }
  say(`listening on ${config.listen.map((a) => `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`).join(', ')} with ${n} worker${n === 1 ? '' : 's'}`);
}

async function main(argv: string[]): Promise<void> {
  const cmd = argv[0] ?? 'help';
  const rest = argv.slice(1);
  switch (cmd) {
    case 'run': {
      const file = flagValues(rest, ['-c', '--config'])[0] ?? DEFAULT_CONFIG;
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
      const from = flagValues(rest, ['--from'])[0] ?? ':8080';
      const to = flagValues(rest, ['--to']);
      await serve(await loadOrExit({ kind: 'quick', from, to }));
      return;
    }
    case 'demo': {
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
