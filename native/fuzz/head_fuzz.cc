// libFuzzer harness for the native response-head scanner and hash (native/head.h), under ASan + UBSan.
// Built and run by scripts/fuzz.sh. The first input byte picks the head size limit so the "too large"
// and incomplete paths are reached too; the rest is the head, in a buffer of exactly its size.
#include <cstdint>
#include <cstring>
#include <vector>

#include "../head.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  int max = data[0] < 16 ? (data[0] + 1) * 4 : 64 * 1024;
  std::vector<uint8_t> buf(data + 1, data + size);  // exact size: ASan sees any read past the end
  const uint8_t* p = buf.empty() ? nullptr : buf.data();
  static_assert(pc::OUT_HEADERS == 12, "layout");
  std::vector<int32_t> out(pc::OUT_HEADERS + 4 * (max / 4 + 1));
  if (p != nullptr) {
    int r = pc::scanHead(p, 0, (int)buf.size(), max, out.data(), (int)out.size());
    if (r > (int)buf.size() || r < -2) __builtin_trap();
    if (r > 0) {
      int count = out[pc::OUT_COUNT];
      for (int i = 0; i < count; i++) {
        const int32_t* h = &out[pc::OUT_HEADERS + 4 * i];
        if (!(0 <= h[0] && h[0] < h[1] && h[1] < h[2] + 1 && h[2] <= h[3] && h[3] <= r)) __builtin_trap();
      }
    }
    uint32_t hi, lo;
    pc::hash64(p, buf.size(), 0, &hi, &lo);
  }
  return 0;
}
