// Upstream response head scan (RFC 9112 §4 status line, §5 fields, §6.3 framing) into int32 offsets.
// Pure C++ with no Node-API, so the libFuzzer harness (native/fuzz/) links the very same code.
// Contract, error codes and the out[] layout are mirrored by src/native/fallback.ts (scanHead) and
// src/native/layout.ts: change the three together. Semantics follow src/http/response-parser.ts.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace pc {

// out[] slots.
enum : int {
  OUT_STATUS = 0,
  OUT_FLAGS = 1,
  OUT_CL_HI = 2,      // Content-Length / 2^32 (only when F_HAS_CL)
  OUT_CL_LO = 3,      // Content-Length % 2^32, as uint32 bits
  OUT_REASON_START = 4,
  OUT_REASON_END = 5,
  OUT_COUNT = 6,      // header fields
  OUT_ERROR = 7,      // error code when the scan returns -1
  OUT_KEEPALIVE_MS = 8,
  OUT_HEADERS = 12,   // then 4 per field: name start, name end, value start, value end (OWS-trimmed)
};

enum : int {
  F_HTTP10 = 1,
  F_CHUNKED = 2,
  F_TE = 4,
  F_CONN_CLOSE = 8,
  F_CONN_KEEPALIVE = 16,
  F_CONN_OTHER = 32,  // a Connection field names something besides close/keep-alive
  F_HAS_CL = 64,
};

enum : int {
  E_STATUS_LINE = 1,
  E_VERSION = 2,
  E_STATUS_CODE = 3,
  E_REASON = 4,
  E_CR_STATUS = 5,
  E_OBS_FOLD = 6,
  E_BARE_LF = 7,
  E_NAME = 8,
  E_VALUE = 9,
  E_BARE_CR = 10,
  E_CL_INVALID = 11,
  E_CL_CONFLICT = 12,
  E_TE_REPEATED = 13,
  E_TE_UNSUPPORTED = 14,
  E_CONNECTION = 15,
  E_TE_AND_CL = 16,
  E_TOO_LARGE = 17,
  E_OUT_FULL = 18,
};

namespace detail {

constexpr uint8_t CR = 0x0d, LF = 0x0a, SP = 0x20, HTAB = 0x09, COLON = 0x3a, COMMA = 0x2c, EQUALS = 0x3d,
                  DQUOTE = 0x22;
constexpr uint64_t MAX_SAFE = 9007199254740991ull;

struct Tables {
  uint8_t token[256];       // 0 not a tchar, else the lowercased byte
  uint8_t field[256];       // 1 = field-content byte (HTAB, SP, VCHAR, obs-text)
  constexpr Tables() : token(), field() {
    const char* extra = "!#$%&'*+-.^_`|~";
    for (int i = 0; extra[i]; i++) token[(uint8_t)extra[i]] = (uint8_t)extra[i];
    for (int c = '0'; c <= '9'; c++) token[c] = (uint8_t)c;
    for (int c = 'a'; c <= 'z'; c++) token[c] = (uint8_t)c;
    for (int c = 'A'; c <= 'Z'; c++) token[c] = (uint8_t)(c + 0x20);
    field[HTAB] = 1;
    for (int c = 0x20; c < 0x7f; c++) field[c] = 1;
    for (int c = 0x80; c <= 0xff; c++) field[c] = 1;
  }
};
// constexpr: built at compile time, read-only, so it is not mutable state shared between threads.
constexpr Tables T{};

inline bool eqLower(const uint8_t* b, int s, int e, const char* lit, int n) {
  if (e - s != n) return false;
  for (int k = 0; k < n; k++) {
    uint8_t c = b[s + k];
    uint8_t l = (uint8_t)lit[k];
    if (c != l && !((c | 0x20) == l && l >= 'a' && l <= 'z')) return false;
  }
  return true;
}

inline bool isOws(uint8_t c) { return c == SP || c == HTAB; }

// 1*DIGIT or a list of identical values. >=0 length, -1 invalid, -2 differing values.
inline int64_t lengthList(const uint8_t* b, int s, int e) {
  int64_t result = -1;
  int p = s;
  for (;;) {
    uint64_t n = 0;
    int ds = p;
    while (p < e && b[p] >= '0' && b[p] <= '9') {
      if (n <= MAX_SAFE) n = n * 10 + (b[p] - '0');  // saturates above MAX_SAFE (rejected below)
      p++;
    }
    if (p == ds || n > MAX_SAFE) return -1;
    if (result != -1 && (uint64_t)result != n) return -2;
    result = (int64_t)n;
    if (p == e) return result;
    while (p < e && isOws(b[p])) p++;
    if (p == e || b[p] != COMMA) return -1;
    p++;
    while (p < e && isOws(b[p])) p++;
  }
}

// Connection tokens: adds F_CONN_* flags; false when an element is not a token.
inline bool connectionTokens(const uint8_t* b, int s, int e, int& flags) {
  if (eqLower(b, s, e, "keep-alive", 10)) { flags |= F_CONN_KEEPALIVE; return true; }
  if (eqLower(b, s, e, "close", 5)) { flags |= F_CONN_CLOSE; return true; }
  int p = s;
  bool any = false;
  while (p < e) {
    uint8_t c = b[p];
    if (c == COMMA || isOws(c)) { p++; continue; }
    int ts = p;
    while (p < e && T.token[(c = b[p])] != 0) p++;
    if (p == ts) return false;
    if (p < e && c != COMMA && !isOws(c)) return false;
    if (eqLower(b, ts, p, "close", 5)) flags |= F_CONN_CLOSE;
    else if (eqLower(b, ts, p, "keep-alive", 10)) flags |= F_CONN_KEEPALIVE;
    else flags |= F_CONN_OTHER;
    any = true;
  }
  // An empty list still counts as "a Connection field the JS side must look at" (its token list is []).
  if (!any) flags |= F_CONN_OTHER;
  return true;
}

// Keep-Alive: timeout=N → ms, -1 when absent/invalid.
inline int keepAliveTimeout(const uint8_t* b, int s, int e) {
  int p = s;
  while (p < e) {
    uint8_t c = b[p];
    if (c == COMMA || isOws(c)) { p++; continue; }
    int ns = p;
    while (p < e && T.token[(c = b[p])] != 0) p++;
    bool isTimeout = eqLower(b, ns, p, "timeout", 7);
    while (p < e && isOws((c = b[p]))) p++;
    if (p < e && c == EQUALS) {
      p++;
      while (p < e && isOws(b[p])) p++;
      if (p < e && b[p] == DQUOTE) p++;
      int ds = p;
      uint64_t n = 0;
      while (p < e && b[p] >= '0' && b[p] <= '9') {
        if (n <= 2147483647ull) n = n * 10 + (b[p] - '0');
        p++;
      }
      if (isTimeout) return p > ds && n <= 2147483ull ? (int)(n * 1000) : -1;
      while (p < e && b[p] != COMMA) p++;
    } else if (isTimeout) {
      return -1;
    } else {
      while (p < e && b[p] != COMMA) p++;
    }
  }
  return -1;
}

inline int fail(int32_t* out, int code) {
  out[OUT_ERROR] = code;
  return -1;
}

// Any LF in b[i, end) not preceded by CR (prev: the byte before i, or -1).
inline bool hasBareLf(const uint8_t* b, int i, int end, int prev) {
  for (int j = i; j < end; j++) {
    if (b[j] == LF && (j > i ? b[j - 1] : prev) != CR) return true;
  }
  return false;
}

inline int findHeadEnd(const uint8_t* b, int i, int len) {
  // memchr for CR (vectorised in glibc), then check the next three bytes.
  const uint8_t* p = b + i;
  const uint8_t* const stop = b + len;
  while (stop - p >= 4) {
    p = static_cast<const uint8_t*>(memchr(p, CR, (size_t)(stop - p - 3)));
    if (p == nullptr) return -1;
    if (p[1] == LF && p[2] == CR && p[3] == LF) return (int)(p - b);
    p++;
  }
  return -1;
}

}  // namespace detail

/**
 * Scans b[start, len) for one response head. Returns the index just past its CRLFCRLF, -2 when the head is
 * incomplete (no verdict yet), or -1 with out[OUT_ERROR] set. `max`: head size limit. `outLen`: out's
 * capacity in int32s. Never reads outside b[0, len) and never allocates.
 */
inline int scanHead(const uint8_t* b, int start, int len, int max, int32_t* out, int outLen) {
  using namespace detail;
  out[OUT_ERROR] = 0;
  int prev = start > 0 ? b[start - 1] : -1;
  int term = findHeadEnd(b, start, len);
  if (term == -1 || term + 4 - start > max) {
    int lim = start + max < len ? start + max : len;
    if (hasBareLf(b, start, lim, prev)) return fail(out, E_BARE_LF);
    if (term != -1 || len - start >= max) return fail(out, E_TOO_LARGE);
    return -2;
  }
  const int end = term + 4;
  int p = start;
  if (end - start < 16 || b[p] != 'H' || b[p + 1] != 'T' || b[p + 2] != 'T' || b[p + 3] != 'P' ||
      b[p + 4] != '/' || b[p + 5] != '1' || b[p + 6] != '.' || b[p + 8] != SP) {
    return fail(out, E_STATUS_LINE);
  }
  uint8_t minor = b[p + 7];
  if (minor != '1' && minor != '0') return fail(out, E_VERSION);
  int d0 = b[p + 9] - '0', d1 = b[p + 10] - '0', d2 = b[p + 11] - '0';
  if (d0 < 1 || d0 > 9 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) return fail(out, E_STATUS_CODE);
  const int status = d0 * 100 + d1 * 10 + d2;
  p += 12;
  int rs = p, re = p;
  uint8_t c = b[p];
  if (c == SP) {
    rs = ++p;
    while ((c = b[p]) != CR) {
      if (T.field[c] == 0) return fail(out, E_REASON);
      p++;
    }
    re = p;
  } else if (c != CR) {
    return fail(out, E_STATUS_LINE);
  }
  if (b[p + 1] != LF) return fail(out, E_CR_STATUS);
  p += 2;

  int flags = minor == '0' ? F_HTTP10 : 0;
  int64_t contentLength = -1;
  int keepAliveMs = -1;
  int count = 0;
  int32_t* h = out + OUT_HEADERS;
  const int capacity = (outLen - OUT_HEADERS) / 4;

  while ((c = b[p]) != CR) {
    const int ns = p;
    while (T.token[c] != 0) c = b[++p];
    if (c != COLON || p == ns) {
      if (p == ns && isOws(c)) return fail(out, E_OBS_FOLD);
      if (c == LF) return fail(out, E_BARE_LF);
      return fail(out, E_NAME);
    }
    const int ne = p++;
    while (isOws((c = b[p]))) p++;
    const int vs = p;
    while (c != CR) {
      if (T.field[c] == 0) return fail(out, c == LF ? E_BARE_LF : E_VALUE);
      c = b[++p];
    }
    if (b[p + 1] != LF) return fail(out, E_BARE_CR);
    int ve = p;
    while (ve > vs && isOws(b[ve - 1])) ve--;
    p += 2;
    if (count >= capacity) return fail(out, E_OUT_FULL);
    h[0] = ns; h[1] = ne; h[2] = vs; h[3] = ve;
    h += 4;
    count++;
    switch (ne - ns) {
      case 14:
        if (eqLower(b, ns, ne, "content-length", 14)) {
          int64_t n = lengthList(b, vs, ve);
          if (n < 0) return fail(out, n == -2 ? E_CL_CONFLICT : E_CL_INVALID);
          if (contentLength != -1 && contentLength != n) return fail(out, E_CL_CONFLICT);
          contentLength = n;
        }
        break;
      case 17:
        if (eqLower(b, ns, ne, "transfer-encoding", 17)) {
          if (flags & F_TE) return fail(out, E_TE_REPEATED);
          flags |= F_TE;
          if (!eqLower(b, vs, ve, "chunked", 7)) return fail(out, E_TE_UNSUPPORTED);
          flags |= F_CHUNKED;
        }
        break;
      case 10:
        if (eqLower(b, ns, ne, "connection", 10)) {
          if (!connectionTokens(b, vs, ve, flags)) return fail(out, E_CONNECTION);
        } else if (eqLower(b, ns, ne, "keep-alive", 10)) {
          int ms = keepAliveTimeout(b, vs, ve);
          if (ms >= 0) keepAliveMs = ms;
        }
        break;
    }
  }
  if (p != end - 2) return fail(out, E_BARE_CR);
  if (status >= 200 && (flags & F_TE) && contentLength != -1) return fail(out, E_TE_AND_CL);

  out[OUT_STATUS] = status;
  if (contentLength != -1) {
    flags |= F_HAS_CL;
    out[OUT_CL_HI] = (int32_t)(contentLength >> 32);
    out[OUT_CL_LO] = (int32_t)(uint32_t)(contentLength & 0xffffffffu);
  } else {
    out[OUT_CL_HI] = -1;
    out[OUT_CL_LO] = -1;
  }
  out[OUT_FLAGS] = flags;
  out[OUT_REASON_START] = rs;
  out[OUT_REASON_END] = re;
  out[OUT_COUNT] = count;
  out[OUT_KEEPALIVE_MS] = keepAliveMs;
  return end;
}

// 64-bit hash for cache keys: two murmur3-style 32-bit lanes over little-endian words in one pass, so the
// TypeScript twin computes the same value with Math.imul. Not cryptographic: collisions are checked by the
// caller comparing the stored key.
inline uint32_t rotl(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }
inline uint32_t fmix(uint32_t h) {
  h ^= h >> 16; h *= 0x85ebca6bu; h ^= h >> 13; h *= 0xc2b2ae35u; h ^= h >> 16;
  return h;
}
inline void hash64(const uint8_t* b, size_t n, uint32_t seed, uint32_t* hi, uint32_t* lo) {
  uint32_t h1 = seed ^ (uint32_t)n, h2 = 0x9e3779b9u ^ seed ^ (uint32_t)n;
  size_t i = 0;
  for (; i + 4 <= n; i += 4) {
    uint32_t k = (uint32_t)b[i] | ((uint32_t)b[i + 1] << 8) | ((uint32_t)b[i + 2] << 16) | ((uint32_t)b[i + 3] << 24);
    uint32_t k1 = rotl(k * 0xcc9e2d51u, 15) * 0x1b873593u;
    h1 ^= k1; h1 = rotl(h1, 13) * 5 + 0xe6546b64u;
    uint32_t k2 = rotl(k * 0x85ebca6bu, 17) * 0xc2b2ae35u;
    h2 ^= k2; h2 = rotl(h2, 11) * 9 + 0x52dce729u;
  }
  uint32_t k = 0;
  switch (n & 3) {
    case 3: k ^= (uint32_t)b[i + 2] << 16; [[fallthrough]];
    case 2: k ^= (uint32_t)b[i + 1] << 8; [[fallthrough]];
    case 1:
      k ^= b[i];
      h1 ^= rotl(k * 0xcc9e2d51u, 15) * 0x1b873593u;
      h2 ^= rotl(k * 0x85ebca6bu, 17) * 0xc2b2ae35u;
  }
  h1 += h2; h2 += h1;
  h1 = fmix(h1); h2 = fmix(h2);
  h1 += h2; h2 += h1;
  *hi = h1; *lo = h2;
}

}  // namespace pc
