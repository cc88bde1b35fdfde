// Portcullis native addon: per-thread instance (Napi::Addon), no C++ statics.
// Every exported function has a TypeScript twin in src/native/fallback.ts.
#include <napi.h>

class Portcullis : public Napi::Addon<Portcullis> {
 public:
  Portcullis(Napi::Env env, Napi::Object exports) {
    DefineAddon(exports, {
      InstanceMethod("abiVersion", &Portcullis::AbiVersion),
    });
  }

 private:
  Napi::Value AbiVersion(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), 1);
  }
};

NODE_API_ADDON(Portcullis)
