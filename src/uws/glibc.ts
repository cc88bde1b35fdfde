// Typed access to native/uws-glibc.cjs, the ELF patch that lets uWebSockets.js 20.57 load on
// glibc < 2.38 (plain CommonJS because npm install runs it before TypeScript is compiled).
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { packageRoot } from '../package-root.js';

export interface PatchResult {
  readonly unversioned: readonly string[];
  readonly weakened: boolean;
  /** False when the binary needs no GLIBC_2.38 at all. */
  readonly needed: boolean;
}

export interface UwsGlibc {
  readonly C23_SYMBOLS: readonly string[];
  readonly NEEDED_VERSION: string;
  readonly PATCHED_DIR: string;
  glibcVersion(): [number, number] | null;
  needsPatch(version?: [number, number] | null): boolean;
  patchElf(buf: Buffer): PatchResult;
  uwsPackageDir(): string;
  binaryName(abi?: string): string;
  writePatchedCopy(options?: { abi?: string; dir?: string; packageDir?: string }): string;
}

export const uwsGlibc = createRequire(import.meta.url)(join(packageRoot(), 'native', 'uws-glibc.cjs')) as UwsGlibc;
