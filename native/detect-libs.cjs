// Prints what binding.gyp needs to link the optional compression libraries, found on this machine:
//   node native/detect-libs.cjs defines   → PC_HAVE_LIBDEFLATE PC_HAVE_ZSTD (those present)
//   node native/detect-libs.cjs libs      → absolute paths of the static .a archives (preferred, so the
//                                           runtime image needs nothing), else -l flags for shared ones
// A library counts only when its header and an archive/shared object are both there; the build works with
// neither (`apt-get install -y libdeflate-dev libzstd-dev` adds them). PORTCULLIS_NATIVE_LIBS=none skips both.
'use strict';
const { execFileSync } = require('node:child_process');
const { existsSync, mkdtempSync, rmSync } = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const LIBS = [
  { define: 'PC_HAVE_LIBDEFLATE', header: 'libdeflate.h', name: 'deflate' },
  { define: 'PC_HAVE_ZSTD', header: 'zstd.h', name: 'zstd' },
];

function findFile(file) {
  try {
    const out = execFileSync(process.env.CXX || 'c++', [`-print-file-name=${file}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return path.isAbsolute(out) && existsSync(out) ? path.resolve(out) : null;
  } catch {
    return null;
  }
}

// Some distributions ship archives built without -fPIC (Debian 12's libzstd.a): those cannot go into a
// .node shared object, so try it and use the shared library instead.
function linksIntoSharedObject(archive) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pc-detect-'));
  try {
    execFileSync(process.env.CXX || 'c++', ['-shared', '-o', path.join(dir, 't.so'), '-Wl,--whole-archive', archive, '-Wl,--no-whole-archive'],
      { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function headerPresent(header) {
  return ['/usr/include', '/usr/local/include', '/usr/include/x86_64-linux-gnu', '/usr/include/aarch64-linux-gnu']
    .some((dir) => existsSync(path.join(dir, header)));
}

const found = process.env.PORTCULLIS_NATIVE_LIBS === 'none' ? [] : LIBS.flatMap((lib) => {
  if (!headerPresent(lib.header)) return [];
  const archive = findFile(`lib${lib.name}.a`);
  if (archive && linksIntoSharedObject(archive)) return [{ ...lib, link: archive }];
  const shared = findFile(`lib${lib.name}.so`);
  return shared ? [{ ...lib, link: `-l${lib.name}` }] : [];
});

const what = process.argv[2];
if (what === 'defines') process.stdout.write(found.map((l) => l.define).join(' '));
else if (what === 'libs') process.stdout.write(found.map((l) => l.link).join(' '));
else process.stdout.write(JSON.stringify(found));
