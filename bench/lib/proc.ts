// Every process the bench starts: spawned in its own process group, killed as a group at the end, on error and on Ctrl-C.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';

export interface Started {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** stdout+stderr, last 8 KiB, for error messages. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process is gone. */
  readonly exited: Promise<number | string>;
  stop(): Promise<void>;
}

export interface StartOptions {
  readonly name: string;
  readonly argv: readonly string[];
  /** CPU list for taskset, e.g. '1'. */
  readonly cpus?: string;
  /** Raise the fd limit to the hard limit first (runs the command through sh). */
  readonly raiseFdLimit?: boolean;
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
}

const live = new Set<Started>();

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
export const TASKSET = hasTaskset();

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // group already gone
  }
}

export function start(opts: StartOptions): Started {
  let argv = [...opts.argv];
  // sh -c 'ulimit ...; exec "$@"' keeps the PID: exec replaces the shell, taskset execs the command.
  if (opts.raiseFdLimit) argv = ['sh', '-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'sh', ...argv];
  if (opts.cpus !== undefined && TASKSET) argv = ['taskset', '-c', opts.cpus, ...argv];
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error(`${opts.name}: empty command`);
  const child = spawn(cmd, args, {
    detached: true, // own process group: kill(-pid) reaches nginx workers and anything the proxy forks
    stdio: ['ignore', 'pipe', 'pipe'],
    env: opts.env ?? process.env,
    cwd: opts.cwd,
  });
  let out = '';
  const keep = (chunk: Buffer): void => {
    out = (out + chunk.toString('utf8')).slice(-8192);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown'));
    child.once('error', (err) => {
      keep(Buffer.from(String(err)));
      resolve('spawn-error');
    });
  });
  const pid = child.pid ?? -1;
  const started: Started = {
    name: opts.name,
    pid,
    child,
    output: () => out,
    exited,
    async stop() {
      live.delete(started);
      if (pid <= 0 || child.exitCode !== null || child.signalCode !== null) return;
      killGroup(pid, 'SIGTERM');
      const gone = await Promise.race([exited.then(() => true), sleep(3000).then(() => false)]);
      if (!gone) {
        killGroup(pid, 'SIGKILL');
        await Promise.race([exited, sleep(2000)]);
      }
      // workers of a group leader that exited first (nginx) may linger a moment
      killGroup(pid, 'SIGKILL');
    },
  };
  void exited.then(() => killGroup(pid, 'SIGKILL')); // leftovers of a group whose leader died
  if (pid > 0) live.add(started);
  return started;
}

export async function stopAll(): Promise<void> {
  await Promise.all([...live].map((s) => s.stop()));
}

/** Synchronous last resort, for process 'exit'. */
function killAllNow(): void {
  for (const s of live) if (s.pid > 0) killGroup(s.pid, 'SIGKILL');
  live.clear();
}

/** Ctrl-C, SIGTERM, uncaught errors and a global deadline all end in stopAll(). */
export function installCleanup(deadlineMs: number): void {
  let stopping = false;
  const bail = (why: string, code: number): void => {
    if (stopping) return;
    stopping = true;
    console.error(`\nbench: ${why}; stopping ${live.size} process(es)`);
    void stopAll().finally(() => process.exit(code));
  };
  process.on('SIGINT', () => bail('interrupted', 130));
  process.on('SIGTERM', () => bail('terminated', 143));
  process.on('SIGHUP', () => bail('hangup', 129));
  process.on('uncaughtException', (err) => {
    console.error(err);
    bail('uncaught exception', 1);
  });
  process.on('unhandledRejection', (err) => {
    console.error(err);
    bail('unhandled rejection', 1);
  });
  process.on('exit', killAllNow);
  const timer = setTimeout(() => bail(`deadline of ${Math.round(deadlineMs / 1000)} s reached`, 124), deadlineMs);
  timer.unref();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Pins the given PID (all its threads) to a CPU list; false when taskset is missing or refuses. */
export function pin(pid: number, cpus: string): boolean {
  if (!TASKSET) return false;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs a command to completion with a time bound; used for the load generator. */
export async function run(
  opts: StartOptions & { readonly timeoutMs: number },
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  let argv = [...opts.argv];
  if (opts.cpus !== undefined && TASKSET) argv = ['taskset', '-c', opts.cpus, ...argv];
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error(`${opts.name}: empty command`);
  const child = spawn(cmd, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
  const pid = child.pid ?? -1;
  const handle: Started = {
    name: opts.name,
    pid,
    child,
    output: () => '',
    exited: Promise.resolve(0),
    async stop() {
      if (pid > 0) killGroup(pid, 'SIGKILL');
    },
  };
  if (pid > 0) live.add(handle);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString('utf8')).slice(-8192)));
  const timer = setTimeout(() => {
    stderr += `\n${opts.name}: killed after ${opts.timeoutMs} ms`;
    if (pid > 0) killGroup(pid, 'SIGKILL');
  }, opts.timeoutMs);
  const code = await new Promise<number | string>((resolve) => {
    child.once('close', (c, s) => resolve(c ?? s ?? 'unknown'));
    child.once('error', (err) => {
      stderr += String(err);
      resolve('spawn-error');
    });
  });
  clearTimeout(timer);
  live.delete(handle);
  return { code, stdout, stderr };
}
