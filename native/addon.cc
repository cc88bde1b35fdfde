// Portcullis native addon: per-thread instance (Napi::Addon), no mutable C++ statics.
// Every exported function has a TypeScript twin in src/native/fallback.ts with the same contract;
// src/native/index.ts picks one. Hot-path functions take typed-array out-params and build no JS objects.
//
//   scanHead(buf, start, end, max, out: Int32Array) → int     response head → offsets (native/head.h)
//   hash64(buf, start, end, seed, out: Uint32Array) → void    cache-key hash, out[0]=hi, out[1]=lo
//   gzip(buf, level) → Buffer          (only with libdeflate)  one-shot gzip member
//   zstd(buf, level) → Buffer          (only with libzstd)     one-shot zstd frame
//   ZstdStream(level).push(buf, end) → Buffer   streaming zstd, flushed at every push
//   c23strtol(text, base, unsigned) → [value, chars read, ERANGE]   test hook for native/compat.cc
//   socketId(uwsObject) → number        the uSockets socket behind a uWS.js HttpResponse, 0 if none
//   listenReusePort(host, port, backlog) → fd | -errno   a listening TCP socket with SO_REUSEPORT,
//                                        for node:net servers in several worker threads (Node 20
//                                        has no reusePort option; uWS sets it on its own sockets)
//   features: { libdeflate: bool, zstd: bool }
#include <napi.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <v8.h>

#include <cerrno>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "head.h"

#include <cerrno>
#include <cstdlib>
#if defined(__GLIBC__)
// glibc 2.38's C23 functions: its own on glibc ≥ 2.38, native/compat.cc's on older ones.
extern "C" long __isoc23_strtol(const char*, char**, int);
extern "C" unsigned long __isoc23_strtoul(const char*, char**, int);
#define PC_HAVE_C23 1
#endif

#if defined(PC_HAVE_LIBDEFLATE)
#include <libdeflate.h>
#endif
#if defined(PC_HAVE_ZSTD)
#include <zstd.h>
#endif

namespace {

// A Buffer copy of bytes, or an empty value when the environment cannot run JS any more (a
// pool thread terminated while compressing): node-addon-api's Buffer::Copy would throw, and a
// throw into a terminating environment is a fatal error that aborts the whole process.
napi_value CopyOrEmpty(Napi::Env env, const uint8_t* data, size_t n) {
  napi_value out = nullptr;
  void* copied = nullptr;
  if (napi_create_buffer_copy(env, n, data, &copied, &out) != napi_ok) return nullptr;
  return out;
}

#if defined(PC_HAVE_ZSTD)
class ZstdStream : public Napi::ObjectWrap<ZstdStream> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ZstdStream", {InstanceMethod("push", &ZstdStream::Push)});
  }
  explicit ZstdStream(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ZstdStream>(info) {
    cctx_ = ZSTD_createCCtx();
    int level = info.Length() > 0 ? info[0].As<Napi::Number>().Int32Value() : 3;
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level);
    // Browsers cap the decoder window at 8 MiB (RFC 8878 §3.1.1.1.2 recommendation for HTTP).
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_windowLog, 23);
    ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 0);
  }
  ~ZstdStream() override {
    if (cctx_ != nullptr) ZSTD_freeCCtx(cctx_);
  }

 private:
  // push(chunk, end): compresses chunk and flushes (ZSTD_e_flush) or finishes the frame (ZSTD_e_end).
  Napi::Value Push(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (cctx_ == nullptr) return env.Null();
    auto src = info[0].As<Napi::Uint8Array>();
    bool end = info[1].ToBoolean().Value();
    ZSTD_inBuffer in{src.Data(), src.ByteLength(), 0};
    size_t cap = ZSTD_compressBound(src.ByteLength()) + 64;
    std::string acc;
    std::unique_ptr<uint8_t[]> tmp(new uint8_t[cap]);
    ZSTD_EndDirective mode = end ? ZSTD_e_end : ZSTD_e_flush;
    for (;;) {
      ZSTD_outBuffer out{tmp.get(), cap, 0};
      size_t left = ZSTD_compressStream2(cctx_, &out, &in, mode);
      if (ZSTD_isError(left)) {
        ZSTD_freeCCtx(cctx_);
        cctx_ = nullptr;
        return env.Null();
      }
      acc.append(reinterpret_cast<const char*>(tmp.get()), out.pos);
      if (left == 0 && in.pos == in.size) break;
    }
    if (end) {
      ZSTD_freeCCtx(cctx_);
      cctx_ = nullptr;
    }
    return Napi::Value(env, CopyOrEmpty(env, reinterpret_cast<const uint8_t*>(acc.data()), acc.size()));
  }
  ZSTD_CCtx* cctx_ = nullptr;
};
#endif

}  // namespace

class Portcullis : public Napi::Addon<Portcullis> {
 public:
  Portcullis(Napi::Env env, Napi::Object exports) {
    Napi::Object features = Napi::Object::New(env);
#if defined(PC_HAVE_LIBDEFLATE)
    features.Set("libdeflate", true);
#else
    features.Set("libdeflate", false);
#endif
#if defined(PC_HAVE_ZSTD)
    features.Set("zstd", true);
#else
    features.Set("zstd", false);
#endif
    DefineAddon(exports, {
      InstanceMethod("abiVersion", &Portcullis::AbiVersion),
      InstanceMethod("scanHead", &Portcullis::ScanHead),
      InstanceMethod("hash64", &Portcullis::Hash64),
#if defined(PC_HAVE_LIBDEFLATE)
      InstanceMethod("gzip", &Portcullis::Gzip),
#endif
#if defined(PC_HAVE_ZSTD)
      InstanceMethod("zstd", &Portcullis::Zstd),
#endif
#if defined(PC_HAVE_C23)
      InstanceMethod("c23strtol", &Portcullis::C23Strtol),
#endif
      InstanceMethod("socketId", &Portcullis::SocketId),
      InstanceMethod("listenReusePort", &Portcullis::ListenReusePort),
      InstanceValue("features", features, napi_enumerable),
    });
#if defined(PC_HAVE_ZSTD)
    exports.Set("ZstdStream", ZstdStream::Define(env));
#endif
  }

  ~Portcullis() {
#if defined(PC_HAVE_LIBDEFLATE)
    for (auto*& c : deflaters_) {
      if (c != nullptr) libdeflate_free_compressor(c);
      c = nullptr;
    }
#endif
#if defined(PC_HAVE_ZSTD)
    if (zctx_ != nullptr) ZSTD_freeCCtx(zctx_);
#endif
  }

 private:
  Napi::Value AbiVersion(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), 3); }

  // The native socket a uWS.js HttpResponse wraps: uWS.js keeps the us_socket_t pointer in the
  // object's first internal field, and every wrapper of one connection (the filter hook's, each
  // request's) holds the same pointer. It names a connection for as long as it is open
  // (src/downstream/connections.ts); the memory is reused after close. N-API has no call for
  // internal fields, so this reads them through V8 (a napi_value is a v8::Local underneath);
  // anything else than an object with an internal field gives 0.
  // listenReusePort(host, port, backlog): socket(), SO_REUSEADDR + SO_REUSEPORT, bind(), listen().
  // Returns the descriptor (non-blocking, close-on-exec) for net.Server#listen({ fd }), or -errno.
  Napi::Value ListenReusePort(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string host = info[0].As<Napi::String>().Utf8Value();
    std::string port = std::to_string(info[1].As<Napi::Number>().Int32Value());
    int backlog = info[2].As<Napi::Number>().Int32Value();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
    if (rc != 0) return Napi::Number::New(env, rc == EAI_SYSTEM ? -errno : -EADDRNOTAVAIL);
    int result = -EADDRNOTAVAIL;
    for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
      int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) { result = -errno; continue; }
      int one = 1;
      if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
          setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
          bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, backlog) != 0) {
        result = -errno;
        close(fd);
        continue;
      }
      result = fd;
      break;
    }
    freeaddrinfo(found);
    return Napi::Number::New(env, result);
  }

  Napi::Value SocketId(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsObject()) return Napi::Number::New(env, 0);
    napi_value raw = info[0];
    v8::Local<v8::Value> value;
    static_assert(sizeof(value) == sizeof(raw), "napi_value is a v8::Local");
    std::memcpy(static_cast<void*>(&value), &raw, sizeof(raw));
    v8::Local<v8::Object> object = value.As<v8::Object>();
    if (object->InternalFieldCount() < 1) return Napi::Number::New(env, 0);
    void* pointer = object->GetAlignedPointerFromInternalField(0);
    return Napi::Number::New(env, static_cast<double>(reinterpret_cast<uintptr_t>(pointer)));
  }

#if defined(PC_HAVE_C23)
  // Test hook for native/compat.cc: c23strtol(text, base, unsigned) → [value as string, chars
  // read, whether errno became ERANGE].
  Napi::Value C23Strtol(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::string text = info[0].As<Napi::String>().Utf8Value();
    int base = info[1].As<Napi::Number>().Int32Value();
    char* end = nullptr;
    errno = 0;
    std::string value = info[2].ToBoolean() ? std::to_string(__isoc23_strtoul(text.c_str(), &end, base))
                                            : std::to_string(__isoc23_strtol(text.c_str(), &end, base));
    bool range = errno == ERANGE;
    Napi::Array out = Napi::Array::New(env, 3);
    out.Set(0u, Napi::String::New(env, value));
    out.Set(1u, Napi::Number::New(env, static_cast<double>(end - text.c_str())));
    out.Set(2u, Napi::Boolean::New(env, range));
    return out;
  }
#endif

  // Hot path: no allocation, no JS object built; the int result is the only return value.
  Napi::Value ScanHead(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto buf = info[0].As<Napi::Uint8Array>();
    int start = info[1].As<Napi::Number>().Int32Value();
    int end = info[2].As<Napi::Number>().Int32Value();
    int max = info[3].As<Napi::Number>().Int32Value();
    auto out = info[4].As<Napi::Int32Array>();
    int len = (int)buf.ElementLength();
    if (end > len) end = len;
    if (start < 0 || start > end || out.ElementLength() < (size_t)pc::OUT_HEADERS) {
      return Napi::Number::New(env, -3);
    }
    int r = pc::scanHead(buf.Data(), start, end, max, out.Data(), (int)out.ElementLength());
    return Napi::Number::New(env, r);
  }

  Napi::Value Hash64(const Napi::CallbackInfo& info) {
    auto buf = info[0].As<Napi::Uint8Array>();
    uint32_t start = info[1].As<Napi::Number>().Uint32Value();
    uint32_t end = info[2].As<Napi::Number>().Uint32Value();
    uint32_t seed = info[3].As<Napi::Number>().Uint32Value();
    auto out = info[4].As<Napi::Uint32Array>();
    size_t len = buf.ElementLength();
    if (end > len) end = (uint32_t)len;
    if (start > end) start = end;
    if (out.ElementLength() < 2) return info.Env().Undefined();
    uint32_t* o = out.Data();
    pc::hash64(buf.Data() + start, end - start, seed, &o[0], &o[1]);
    return info.Env().Undefined();
  }

#if defined(PC_HAVE_LIBDEFLATE)
  // One compressor per level, per thread (instance data), created on first use.
  Napi::Value Gzip(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto src = info[0].As<Napi::Uint8Array>();
    int level = info[1].As<Napi::Number>().Int32Value();
    if (level < 1) level = 1;
    if (level > 12) level = 12;
    libdeflate_compressor*& c = deflaters_[level];
    if (c == nullptr) c = libdeflate_alloc_compressor(level);
    if (c == nullptr) return env.Null();
    size_t bound = libdeflate_gzip_compress_bound(c, src.ByteLength());
    scratch_.resize(bound);
    size_t n = libdeflate_gzip_compress(c, src.Data(), src.ByteLength(), scratch_.data(), bound);
    if (n == 0) return env.Null();
    return Napi::Value(env, CopyOrEmpty(env, scratch_.data(), n));
  }
  libdeflate_compressor* deflaters_[13] = {};
#endif

#if defined(PC_HAVE_ZSTD)
  Napi::Value Zstd(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto src = info[0].As<Napi::Uint8Array>();
    int level = info[1].As<Napi::Number>().Int32Value();
    if (zctx_ == nullptr) zctx_ = ZSTD_createCCtx();
    if (zctx_ == nullptr) return env.Null();
    size_t bound = ZSTD_compressBound(src.ByteLength());
    scratch_.resize(bound);
    size_t n = ZSTD_compressCCtx(zctx_, scratch_.data(), bound, src.Data(), src.ByteLength(), level);
    if (ZSTD_isError(n)) return env.Null();
    return Napi::Value(env, CopyOrEmpty(env, scratch_.data(), n));
  }
  ZSTD_CCtx* zctx_ = nullptr;
#endif

#if defined(PC_HAVE_LIBDEFLATE) || defined(PC_HAVE_ZSTD)
  std::vector<uint8_t> scratch_;
#endif
};

NODE_API_ADDON(Portcullis)
