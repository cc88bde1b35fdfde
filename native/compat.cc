// glibc 2.38's C23 entry points, for uWebSockets.js 20.57 on glibc 2.36 (Debian 12).
//
// uWS's Linux binary imports __isoc23_sscanf, __isoc23_strtol and __isoc23_strtoul
// @GLIBC_2.38. native/uws-glibc.mjs writes a copy of that binary whose references to these
// three carry no version; src/uws/load.ts loads this addon with RTLD_GLOBAL first, so the
// dynamic linker binds them here. They are exported with default visibility (the addon is
// built with -fvisibility=hidden) and are never used on glibc ≥ 2.38, where the real ones win.
//
// C23 (N3047 §7.24.1.7, §7.23.6.2) differs from C17 in one thing these forward: base 0 and 2
// also accept a "0b"/"0B" prefix. That is done here; sscanf's new %b conversion is not (uWS's
// formats are decimal and hexadecimal), so __isoc23_sscanf is vsscanf.
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>

// Only where glibc lacks them. From 2.38 on, glibc's own headers redirect strtol to
// __isoc23_strtol under _GNU_SOURCE, so these definitions would call themselves.
#if defined(__GLIBC__) && (__GLIBC__ == 2 && __GLIBC_MINOR__ < 38)

namespace {

// If s (after spaces and a sign) starts "0b" + a binary digit and base allows binary, the
// position of the first binary digit; else nullptr.
const char* BinaryDigits(const char* s, int base, bool* negative) {
  if (base != 0 && base != 2) return nullptr;
  const char* p = s;
  while (isspace(static_cast<unsigned char>(*p))) p++;
  *negative = false;
  if (*p == '+' || *p == '-') { *negative = *p == '-'; p++; }
  if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B') && (p[2] == '0' || p[2] == '1')) return p + 2;
  return nullptr;
}

// Reads binary digits from p; sets *end past them and *overflow when the value passes limit.
unsigned long ReadBinary(const char* p, char** end, unsigned long limit, bool* overflow) {
  unsigned long v = 0;
  *overflow = false;
  for (; *p == '0' || *p == '1'; p++) {
    if (v > (limit - static_cast<unsigned long>(*p - '0')) / 2) *overflow = true;
    else v = v * 2 + static_cast<unsigned long>(*p - '0');
  }
  if (end != nullptr) *end = const_cast<char*>(p);
  return v;
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) long __isoc23_strtol(const char* s, char** end, int base) {
  bool negative = false;
  const char* p = BinaryDigits(s, base, &negative);
  if (p == nullptr) return strtol(s, end, base);
  bool overflow = false;
  unsigned long limit = negative ? static_cast<unsigned long>(LONG_MAX) + 1 : LONG_MAX;
  unsigned long v = ReadBinary(p, end, limit, &overflow);
  if (overflow) { errno = ERANGE; return negative ? LONG_MIN : LONG_MAX; }
  if (negative) return v == static_cast<unsigned long>(LONG_MAX) + 1 ? LONG_MIN : -static_cast<long>(v);
  return static_cast<long>(v);
}

__attribute__((visibility("default"))) unsigned long __isoc23_strtoul(const char* s, char** end, int base) {
  bool negative = false;
  const char* p = BinaryDigits(s, base, &negative);
  if (p == nullptr) return strtoul(s, end, base);
  bool overflow = false;
  unsigned long v = ReadBinary(p, end, ULONG_MAX, &overflow);
  if (overflow) { errno = ERANGE; return ULONG_MAX; }
  return negative ? -v : v;  // strtoul negates in the unsigned type, as C specifies
}

__attribute__((visibility("default"))) int __isoc23_sscanf(const char* s, const char* format, ...) {
  va_list args;
  va_start(args, format);
  int n = vsscanf(s, format, args);
  va_end(args);
  return n;
}

}  // extern "C"

#endif  // glibc < 2.38
