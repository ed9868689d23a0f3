#!/usr/bin/env bash
# tests/test_fuzz.sh - a short, bounded fuzz run as part of `make test`: build
# the libFuzzer targets (make fuzzers: clang, ASan + UBSan) and run each for a
# few seconds from its seed corpus (FUZZ_TEST_SECONDS each; by default a 40 s
# budget shared by all targets, 5 to 10 s each). Each target's clean run is one pass. Without clang or its libFuzzer runtime (Debian: apt-get install
# clang libclang-rt-14-dev) the run is skipped, with the reason.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
skip() { echo "  skip  fuzzing: $*"; echo "0 passed, 0 failed, 1 skipped"; exit 0; }

# the fuzz targets are always built with ASan + UBSan: the plain `make test` runs them, the SAN=1 run need not again
case "${BUILD:-build}" in *san*) skip "already run, built with ASan + UBSan, by the plain make test" ;; esac
command -v clang >/dev/null || skip "clang not found (apt-get install clang libclang-rt-14-dev)"
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$probe/p.c"
clang -fsanitize=fuzzer,address,undefined -o "$probe/p" "$probe/p.c" >"$probe/log" 2>&1 ||
    skip "clang cannot link libFuzzer ($(head -n 1 "$probe/log")); apt-get install libclang-rt-14-dev"

if ! make -s -j"$(nproc 2>/dev/null || echo 2)" fuzzers >"$probe/make.log" 2>&1; then
    echo "  FAIL  make fuzzers failed:"
    tail -n 30 "$probe/make.log" | sed 's/^/        /'
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
fi
echo "  ok    make fuzzers"
n=$(ls build-fuzz/fuzz_* 2>/dev/null | grep -cvE '\.(o|d)$')
secs=${FUZZ_TEST_SECONDS:-$(( n > 0 ? 40 / n : 10 ))}
[ -z "${FUZZ_TEST_SECONDS:-}" ] && { [ "$secs" -lt 5 ] && secs=5; [ "$secs" -gt 10 ] && secs=10; }
bash tests/fuzz/run.sh build-fuzz "$secs" >"$probe/run.log" 2>&1
rc=$?
grep -v -E '^[0-9]+ passed, ' "$probe/run.log"
line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$probe/run.log" | tail -n 1)
p=$(echo "$line" | sed -nE 's/^([0-9]+) passed.*/\1/p'); p=${p:-0}
f=$(echo "$line" | sed -nE 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/p'); f=${f:-1}
s=$(echo "$line" | sed -nE 's/.*, ([0-9]+) skipped.*/\1/p'); s=${s:-0}
[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
echo "$((p + 1)) passed, $f failed, $s skipped"
[ "$f" -eq 0 ]
