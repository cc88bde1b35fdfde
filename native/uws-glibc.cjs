// Makes uWebSockets.js 20.57's Linux binary loadable on glibc 2.36 (Debian 12), and says when that
// is needed. The binary asks glibc 2.38 for exactly three C23 functions (__isoc23_sscanf,
// __isoc23_strtol, __isoc23_strtoul: strtol & co. that also read "0b" prefixes). A copy of it in
// which those three symbols carry no version, and whose GLIBC_2.38 requirement is marked weak,
// loads on 2.36 once something in the global symbol scope defines them: native/compat.cc, in our
// addon, loaded with RTLD_GLOBAL before uWS (src/uws/load.ts). On glibc ≥ 2.38 nothing is patched.
//
//   node native/uws-glibc.mjs     (npm install runs it after node-gyp) writes
//   build/uws/uws_linux_<arch>_<abi>.node for the running Node when this glibc needs it.
//
// Plain CommonJS on purpose: it runs at install time, before TypeScript is compiled, and the
// loader requires it synchronously.
'use strict';
const { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } = require('node:fs');
const path = require('node:path');

/** The symbols the patch unversions; native/compat.cc defines the same three. */
const C23_SYMBOLS = Object.freeze(['__isoc23_sscanf', '__isoc23_strtol', '__isoc23_strtoul']);
const NEEDED_VERSION = 'GLIBC_2.38';

const SHT_DYNSYM = 11;
const SHT_GNU_VERNEED = 0x6ffffffe;
const SHT_GNU_VERSYM = 0x6fffffff;
const VER_FLG_WEAK = 0x2;
const VER_NDX_GLOBAL = 1;

/** glibc's version as [major, minor], or null when this is not glibc (musl, macOS, Windows). */
function glibcVersion() {
  const header = process.report?.getReport?.().header;
  const v = header?.glibcVersionRuntime;
  if (typeof v !== 'string') return null;
  const m = /^(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2])] : null;
}

/** True when uWS's binary must be patched here: Linux, glibc older than 2.38. */
function needsPatch(version = glibcVersion()) {
  return version !== null && (version[0] < 2 || (version[0] === 2 && version[1] < 38));
}

function cstring(buf, off) {
  const end = buf.indexOf(0, off);
  return buf.toString('latin1', off, end < 0 ? buf.length : end);
}

/**
 * Patches an ELF64 little-endian shared object in place (a Buffer): the C23 symbols' version
 * indexes become global and the GLIBC_2.38 requirement weak. Returns what it changed. Throws,
 * naming the symbol, when something other than those three needs GLIBC_2.38: unversioning
 * more than we define would load a binary that calls into nothing.
 */
function patchElf(buf) {
  if (buf.length < 64 || buf.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (buf[4] !== 2 || buf[5] !== 1) throw new Error('not a 64-bit little-endian ELF file');
  const shoff = Number(buf.readBigUInt64LE(0x28));
  const shentsize = buf.readUInt16LE(0x3a);
  const shnum = buf.readUInt16LE(0x3c);
  const sections = [];
  for (let i = 0; i < shnum; i++) {
    const o = shoff + i * shentsize;
    sections.push({
      type: buf.readUInt32LE(o + 4),
      offset: Number(buf.readBigUInt64LE(o + 0x18)),
      size: Number(buf.readBigUInt64LE(o + 0x20)),
      link: buf.readUInt32LE(o + 0x28),
      info: buf.readUInt32LE(o + 0x2c),
      entsize: Number(buf.readBigUInt64LE(o + 0x38)),
    });
  }
  const dynsym = sections.find((s) => s.type === SHT_DYNSYM);
  const versym = sections.find((s) => s.type === SHT_GNU_VERSYM);
  const verneed = sections.find((s) => s.type === SHT_GNU_VERNEED);
  if (!dynsym) throw new Error('no .dynsym section (not a shared object)');
  // No symbol versions at all: nothing can ask for GLIBC_2.38.
  if (!versym || !verneed) return { unversioned: [], weakened: false, needed: false };
  const dynstr = sections[dynsym.link];
  const strOf = (sec, off) => cstring(buf, sec.offset + off);

  // The version index of GLIBC_2.38 in .gnu.version_r, and the weak flag on its entry.
  let index = -1;
  let weakened = false;
  const vnStr = sections[verneed.link];
  for (let vn = verneed.offset, n = 0; n < verneed.info; n++) {
    const cnt = buf.readUInt16LE(vn + 2);
    for (let aux = vn + buf.readUInt32LE(vn + 8), k = 0; k < cnt; k++) {
      if (strOf(vnStr, buf.readUInt32LE(aux + 8)) === NEEDED_VERSION) {
        index = buf.readUInt16LE(aux + 6);
        const flags = buf.readUInt16LE(aux + 4);
        if ((flags & VER_FLG_WEAK) === 0) { buf.writeUInt16LE(flags | VER_FLG_WEAK, aux + 4); weakened = true; }
      }
      const next = buf.readUInt32LE(aux + 12);
      if (next === 0) break;
      aux += next;
    }
    const next = buf.readUInt32LE(vn + 12);
    if (next === 0) break;
    vn += next;
  }
  if (index === -1) return { unversioned: [], weakened: false, needed: false };

  const unversioned = [];
  const count = dynsym.size / dynsym.entsize;
  for (let i = 0; i < count; i++) {
    const at = versym.offset + i * 2;
    if ((buf.readUInt16LE(at) & 0x7fff) !== index) continue;
    const name = strOf(dynstr, buf.readUInt32LE(dynsym.offset + i * dynsym.entsize));
    if (!C23_SYMBOLS.includes(name)) throw new Error(`${name} needs ${NEEDED_VERSION}, which no compatibility shim provides`);
    buf.writeUInt16LE(VER_NDX_GLOBAL, at);
    unversioned.push(name);
  }
  return { unversioned, weakened, needed: true };
}

/** The uWS package directory, resolved from this project's node_modules. */
function uwsPackageDir() {
  return path.dirname(require.resolve('uWebSockets.js'));
}

/** The binary's file name for this platform and a Node ABI (process.versions.modules). */
function binaryName(abi = process.versions.modules) {
  return `uws_${process.platform}_${process.arch}_${abi}.node`;
}

/** Where the patched copies go: build/uws/ beside the addon's build/Release/. */
const PATCHED_DIR = path.join(__dirname, '..', 'build', 'uws');

/**
 * Writes the patched copy of this Node's binary into `dir` (atomically: written beside, then
 * renamed). Returns its path. The source is never modified.
 */
function writePatchedCopy({ abi = process.versions.modules, dir = PATCHED_DIR, packageDir = uwsPackageDir() } = {}) {
  const source = path.join(packageDir, binaryName(abi));
  if (!existsSync(source)) throw new Error(`uWebSockets.js has no binary for this platform and Node ABI: ${source}`);
  const buf = readFileSync(source);
  patchElf(buf);
  mkdirSync(dir, { recursive: true });
  const target = path.join(dir, binaryName(abi));
  const tmp = `${target}.${process.pid}.tmp`;
  writeFileSync(tmp, buf);
  renameSync(tmp, target);
  return target;
}

// As a script (npm install): patch only where this glibc needs it; say so either way.
module.exports = { C23_SYMBOLS, NEEDED_VERSION, PATCHED_DIR, glibcVersion, needsPatch, patchElf, uwsPackageDir, binaryName, writePatchedCopy };

if (require.main === module) {
  const version = glibcVersion();
  if (process.platform !== 'linux' || !needsPatch(version)) {
    console.log(`portcullis: uWebSockets.js loads as shipped here (${version ? `glibc ${version.join('.')}` : process.platform})`);
  } else {
    try {
      const file = writePatchedCopy();
      console.log(`portcullis: glibc ${version.join('.')} < 2.38: wrote ${path.relative(process.cwd(), file)} (uWebSockets.js with its C23 symbols served by the addon)`);
    } catch (err) {
      console.error(`portcullis: cannot prepare uWebSockets.js for glibc ${version.join('.')}: ${err.message}`);
      process.exitCode = 1;
    }
  }
}
