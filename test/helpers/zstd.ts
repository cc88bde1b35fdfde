// zstd in tests. Its cases need the addon built with libzstd and the zstd CLI to decode; where
// either is missing they are skipped, visibly, on a developer's machine. CI must test them:
// .ci/run sets PORTCULLIS_REQUIRE_ZSTD=1, and then the zstd cases always run, so a build without
// libzstd (or a machine without the CLI) fails them loudly instead of dropping or skipping them.
import { execFileSync } from 'node:child_process';
import { native } from '../../src/native/index.js';

/** Set by .ci/run: the native compression libraries are part of what CI tests. */
export const ZSTD_REQUIRED = process.env['PORTCULLIS_REQUIRE_ZSTD'] === '1';

function cliPresent(): boolean {
  try {
    execFileSync('zstd', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** The zstd command-line tool is here to decode what the proxy compressed. */
export const zstdCli = cliPresent();

/** Run the zstd cases: the addon has zstd and the CLI can check it, or CI requires them anyway. */
export const ZSTD = ZSTD_REQUIRED || (native.zstd !== null && native.ZstdStream !== null && zstdCli);

/** Decodes a zstd frame with the CLI (throws, failing the test, when the CLI is missing). */
export function unzstd(body: Buffer): Buffer {
  return execFileSync('zstd', ['-d', '-c', '-q'], { input: body, maxBuffer: 64 * 1024 * 1024 });
}
