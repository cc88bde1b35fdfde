#!/usr/bin/env bash
# Fuzzes the native response-head scanner (native/head.h) with libFuzzer under ASan+UBSan for a bounded
# time, then checks the native addon and the TypeScript twin agree on every corpus input.
#   scripts/fuzz.sh               # 60 s
#   FUZZ_SECONDS=600 scripts/fuzz.sh
# Needs clang (apt-get install -y clang); not part of npm test. The corpus lives in build/fuzz/corpus
# (seeded from native/fuzz/seeds); crashes are written to build/fuzz/ as crash-*.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN="${FUZZ_SECONDS:-60}"
OUT=build/fuzz
mkdir -p "$OUT/corpus"
command -v clang++ >/dev/null || { echo "fuzz: clang++ not found (apt-get install -y clang)"; exit 2; }
clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -I native native/fuzz/head_fuzz.cc -o "$OUT/head_fuzz"
cp -n native/fuzz/seeds/* "$OUT/corpus/" 2>/dev/null || true
echo "fuzz: running head_fuzz for ${SECONDS_TO_RUN}s"
"$OUT/head_fuzz" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -print_final_stats=1 \
  -artifact_prefix="$OUT/" "$OUT/corpus" 2>&1 | tail -n 25
echo "fuzz: corpus has $(ls "$OUT/corpus" | wc -l) inputs; checking native/twin parity"
[ -f build/Release/portcullis.node ] || npm run build:native
[ -f dist/src/native/index.js ] || npx tsc -p tsconfig.json
node native/fuzz/parity.mjs "$OUT/corpus"
