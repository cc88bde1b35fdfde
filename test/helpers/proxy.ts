// Starts the real proxy (compiled dist/, as users run it) in a child process with a
// config object, waits until it listens, and stops it (SIGTERM, then SIGKILL).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.js';

export const MAIN = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));

export interface RunningProxy {
  readonly port: number;
  readonly url: string;
  readonly child: ChildProcess;
  /** The config file it runs (JSON); rewrite() replaces it for a reload. */
  readonly configFile: string;
  /** Writes `config` to the config file with the same defaults startProxy applied (listen, no access log, no admin). */
  rewrite(config: Record<string, unknown>): void;
  /** Everything the proxy printed on stderr and stdout so far. */
  output(): string;
  /** SIGTERM and wait for exit; returns the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export interface StartOptions {
  workers?: number;
  env?: Record<string, string>;
  /** Extra CLI args instead of `run -c file` (e.g. quick mode). */
  args?: (port: number) => string[];
  readyPattern?: RegExp;
  /** RLIMIT_NOFILE (soft and hard) to start under, set by util-linux prlimit, which then execs node (same pid). */
  nofile?: number;
}

/** config: a YAML/JSON-compatible object; `listen` is filled in with a free port. */
export async function startProxy(config: Record<string, unknown> | null, opts: StartOptions = {}): Promise<RunningProxy> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'portcullis-test-'));
  const file = join(dir, 'config.json');
  const write = (c: Record<string, unknown>): void => {
    writeFileSync(file, JSON.stringify({ listen: [`127.0.0.1:${port}`], access_log: false, admin: false, ...c }, null, 2));
  };
  if (config !== null) write(config);
  const args = opts.args ? opts.args(port) : ['run', '-c', file];
  const command = [process.execPath, MAIN, ...args];
  if (opts.nofile !== undefined) command.unshift('prlimit', `--nofile=${opts.nofile}:${opts.nofile}`);
  const child = spawn(command[0]!, command.slice(1), {
    env: { ...process.env, PORTCULLIS_WORKERS: String(opts.workers ?? 1), ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ready = opts.readyPattern ?? /listening on/;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`proxy did not start in time:\n${out}`)), 15_000);
    const check = (): void => {
      if (ready.test(out)) { clearTimeout(timer); resolve(); }
    };
    child.stderr!.on('data', check);
    child.stdout!.on('data', check);
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`proxy exited (${code}) before listening:\n${out}`)); });
  });
  let stopped: Promise<number | null> | null = null;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    child,
    configFile: file,
    rewrite: write,
    output: () => out,
    stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (stopped) return stopped;
      stopped = (async () => {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill(signal);
          const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
          const code = await exited;
          clearTimeout(killer);
          rmSync(dir, { recursive: true, force: true });
          return code;
        }
        rmSync(dir, { recursive: true, force: true });
        return child.exitCode;
      })();
      return stopped;
    },
  };
}

/** Reads the proxy process's resident memory (all threads) in bytes. */
export async function rssOf(pid: number): Promise<number> {
  const { readFileSync } = await import('node:fs');
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) * 1024 : 0;
}
