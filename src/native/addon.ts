// The addon binary (build/Release/portcullis.node), opened once per thread and shared by its two
// users: native/index.ts (hot-path functions, compression) and uws/load.ts, which needs the
// addon's C23 functions (native/compat.cc) in the global symbol scope before uWS loads on
// glibc < 2.38. One dlopen serves both: a second open of the same file would initialise a
// second Napi::Addon instance in the thread.
import { constants } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../package-root.js';
import { uwsGlibc } from '../uws/glibc.js';

export interface Addon {
  abiVersion(): number;
  /** Test hook for native/compat.cc (glibc only): [value, chars read, errno became ERANGE]. */
  c23strtol?(text: string, base: number, unsigned: boolean): [string, number, boolean];
  readonly [name: string]: unknown;
}

let opened: { addon: Addon } | { error: Error } | null = null;

export function addonPath(): string {
  return join(packageRoot(), 'build', 'Release', 'portcullis.node');
}

/** True when uWS needs the addon's C23 functions, so the addon goes into the global scope. */
export const addonIsGlobal = process.platform === 'linux' && uwsGlibc.needsPatch();

/**
 * Opens the addon once per thread (RTLD_NOW, plus RTLD_GLOBAL where addonIsGlobal: whichever
 * user comes first opens it the way both need). Throws the load error, the same one to every
 * caller in the thread.
 */
export function openAddon(): Addon {
  if (opened === null) {
    try {
      const m = { exports: {} as Addon };
      process.dlopen(m, addonPath(), constants.dlopen.RTLD_NOW | (addonIsGlobal ? constants.dlopen.RTLD_GLOBAL : 0));
      opened = { addon: m.exports };
    } catch (err) {
      opened = { error: err as Error };
    }
  }
  if ('error' in opened) throw opened.error;
  return opened.addon;
}
