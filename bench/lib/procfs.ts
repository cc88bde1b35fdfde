// CPU time and RSS of a process tree, from /proc (Linux only).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

function clockTicks(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isFinite(n) && n > 0 ? n : 100;
  } catch {
    return 100;
  }
}
export const CLK_TCK = clockTicks();

interface Stat {
  readonly ppid: number;
  /** utime + stime of all the process's threads, in clock ticks. */
  readonly ticks: number;
}

function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // comm (field 2) may contain spaces and parentheses: split after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
  return { ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
}

/** The PID and all its descendants (nginx master + workers; a proxy that forks). */
export function tree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!Number.isInteger(pid)) continue;
    const st = readStat(pid);
    if (!st) continue;
    const list = children.get(st.ppid);
    if (list) list.push(pid);
    else children.set(st.ppid, [pid]);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** CPU seconds (user + system, all threads) used so far by the tree rooted at pid. */
export function cpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of tree(root)) ticks += readStat(pid)?.ticks ?? 0;
  return ticks / CLK_TCK;
}

function statusKiB(pid: number, field: string): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Resident set of the tree, in bytes (VmRSS summed; shared pages of nginx workers count twice, as top shows them). */
export function rssBytes(root: number): number {
  let kib = 0;
  for (const pid of tree(root)) kib += statusKiB(pid, 'VmRSS');
  return kib * 1024;
}

/** Peak resident set of the tree so far (VmHWM summed), in bytes. */
export function peakRssBytes(root: number): number {
  let kib = 0;
  for (const pid of tree(root)) kib += statusKiB(pid, 'VmHWM');
  return kib * 1024;
}

/** Number of open TCP sockets in the tree (fds pointing at sockets), to check the idle connections are really held. */
export function socketCount(root: number): number {
  let n = 0;
  for (const pid of tree(root)) {
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          if (readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:')) n++;
        } catch {
          // fd closed meanwhile
        }
      }
    } catch {
      // process gone
    }
  }
  return n;
}

/** Kernel-wide count of connections dropped because a listen queue was full (TcpExt ListenOverflows). */
export function listenOverflows(): number {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n');
    for (let i = 0; i + 1 < lines.length; i++) {
      if (!lines[i]!.startsWith('TcpExt:')) continue;
      const names = lines[i]!.split(/\s+/);
      const values = lines[i + 1]!.split(/\s+/);
      const at = names.indexOf('ListenOverflows');
      return at > 0 ? Number(values[at]) : 0;
    }
  } catch {
    // not Linux
  }
  return 0;
}

/** CPU numbers of a taskset list such as "1", "0,2" or "0-3". */
export function parseCpuList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.split(',')) {
    const [a, b] = part.split('-').map(Number);
    if (a === undefined || !Number.isInteger(a)) continue;
    for (let c = a; c <= (b !== undefined && Number.isInteger(b) ? b : a); c++) out.push(c);
  }
  return out;
}

export interface CoreTicks {
  readonly busy: number;
  readonly total: number;
}

/** Busy and total ticks of the given cores since boot (all processes), from /proc/stat. */
export function coreTicks(cores: readonly number[]): CoreTicks {
  let busy = 0;
  let total = 0;
  try {
    for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
      const m = /^cpu(\d+) (.*)$/.exec(line);
      if (!m || !cores.includes(Number(m[1]))) continue;
      // user nice system idle iowait irq softirq steal ...
      const v = m[2]!.trim().split(/\s+/).map(Number);
      const idle = (v[3] ?? 0) + (v[4] ?? 0);
      const all = v.slice(0, 8).reduce((a, b) => a + b, 0);
      busy += all - idle;
      total += all;
    }
  } catch {
    // not Linux
  }
  return { busy, total };
}
