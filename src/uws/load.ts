// uWebSockets.js, loaded the one way that works on this host, or not at all. Every module
// imports `uWS` from here, never the package (its types, `import type`, come from the package).
//
//   glibc ≥ 2.38, or not glibc   → the package as shipped (it throws when it has no binary)
//   glibc < 2.38 (Debian 12)     → our addon opened RTLD_GLOBAL (its C23 functions), then the
//                                  patched copy npm install wrote to build/uws/ (native/uws-glibc.cjs)
//   anything missing             → an error that says what to run; never a JS emulation
//
// UWS_HTTP_MAX_HEADERS_SIZE (uWS's request-head limit, default 4 KiB) is read by uWS when its
// binary loads, from the process environment: uws/head-limit.ts sets it first.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import { dirname, join } from 'node:path';
import type * as UwsModule from 'uWebSockets.js';
import { openAddon } from '../native/addon.js';
import { uwsGlibc } from './glibc.js';

/** The module as 20.57 has it at run time: `_cfg` and the App timeouts are missing from its typings. */
export type Uws = typeof UwsModule & {
  /** `_cfg('silent')`: no `uWebSockets: 20` response header (per thread). */
  _cfg(key: string): void;
};

export type UwsLoadPlan =
  | { readonly kind: 'package' }
  | { readonly kind: 'patched'; readonly file: string }
  | { readonly kind: 'refuse'; readonly reason: string };

export interface UwsHost {
  readonly platform: string;
  /** [major, minor], or null when the C library is not glibc. */
  readonly glibc: readonly [number, number] | null;
  /** The patched copy for this Node ABI. */
  readonly patchedFile: string;
  readonly patchedExists: boolean;
}

/** Which binary to load on `host` (pure: the loader's whole decision, tested on both glibc sides). */
export function planUwsLoad(host: UwsHost): UwsLoadPlan {
  if (host.platform !== 'linux' || host.glibc === null) return { kind: 'package' };
  if (!uwsGlibc.needsPatch([host.glibc[0], host.glibc[1]])) return { kind: 'package' };
  if (host.patchedExists) return { kind: 'patched', file: host.patchedFile };
  return {
    kind: 'refuse',
    reason: `glibc ${host.glibc.join('.')} is older than the 2.38 uWebSockets.js was built for, and its patched copy ` +
      `${host.patchedFile} is missing: run \`npm install\` (or \`node native/uws-glibc.cjs\`) in the Portcullis directory`,
  };
}

export function currentHost(): UwsHost {
  const patchedFile = join(uwsGlibc.PATCHED_DIR, uwsGlibc.binaryName());
  return { platform: process.platform, glibc: uwsGlibc.glibcVersion(), patchedFile, patchedExists: existsSync(patchedFile) };
}

/**
 * Runs the package's own uws.js (which adds DeclarativeResponse around the binary) with its
 * require of the binary answered by `binary`.
 */
function wrapBinary(binary: unknown): Uws {
  const packageFile = join(uwsGlibc.uwsPackageDir(), 'uws.js');
  const source = readFileSync(packageFile, 'utf8');
  const realRequire = createRequire(packageFile);
  const mod = { exports: {} as Uws };
  const requireShim = (id: string): unknown => (id.endsWith('.node') ? binary : realRequire(id));
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- the package's own file, run once
  new Function('module', 'exports', 'require', '__filename', '__dirname', source)(mod, mod.exports, requireShim, packageFile, dirname(packageFile));
  return mod.exports;
}

function load(): Uws {
  const plan = planUwsLoad(currentHost());
  let uws: Uws;
  switch (plan.kind) {
    case 'refuse':
      throw new Error(`uWebSockets.js cannot load: ${plan.reason}`);
    case 'package':
      uws = createRequire(import.meta.url)('uWebSockets.js') as Uws;
      break;
    case 'patched': {
      try {
        openAddon();
      } catch (err) {
        throw new Error(`uWebSockets.js cannot load: on glibc < 2.38 it needs the C23 functions of the Portcullis native addon, which did not load (${(err as Error).message.split('\n')[0]}); install python3, make and g++, then run \`npm install\``);
      }
      const m = { exports: {} };
      process.dlopen(m, plan.file, constants.dlopen.RTLD_NOW);
      uws = wrapBinary(m.exports);
      break;
    }
  }
  if (typeof uws.App !== 'function' || !/\[native code\]/.test(String(uws.App))) {
    throw new Error('uWebSockets.js did not load its native binary');
  }
  return uws;
}

/** The loaded module; importing this file loads it (once per thread). */
export const uWS: Uws = load();
