// What the addon was built with. CI (.ci/run sets PORTCULLIS_REQUIRE_ZSTD=1) installs libdeflate and
// libzstd and must test them: a build that silently fell back to node:zlib fails here, by name.
import { expect, test } from 'vitest';
import { native } from '../../src/native/index.js';
import { ZSTD_REQUIRED, zstdCli } from '../helpers/zstd.js';

test('the features the addon reports match what it exports', () => {
  expect(native.features.zstd).toBe(native.zstd !== null);
  expect(native.features.zstd).toBe(native.ZstdStream !== null);
});

test.runIf(ZSTD_REQUIRED)('CI: the addon has libdeflate and libzstd, and the zstd CLI is there to check it', () => {
  expect(native.kind, 'the native addon did not load').toBe('native');
  expect(native.features, 'install libdeflate-dev and libzstd-dev before npm ci (.ci/run does)').toEqual({ libdeflate: true, zstd: true });
  expect(zstdCli, 'the zstd command-line tool is missing (apt-get install zstd)').toBe(true);
});
