#!/usr/bin/env bash
# tests/test_run_stamp.sh - ./run's build check: it starts make only when the
# binary is older than the Makefile or than a source or header of the folders
# it is built from (the Makefile's MODULES, and cuda/), and then make decides.
# Runs the real ./run in a scratch tree with a small Makefile, make wrapped to
# count its calls, the files' times set explicitly (no sleeping).
set -u
. "$(dirname "$0")/lib.sh"
root=$(pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/core" "$tmp/sae" "$tmp/cuda" "$tmp/tests" "$tmp/build" "$tmp/bin"
realmake=$(command -v make)
printf '#!/bin/sh\necho "$*" >>"%s/calls"\nexec "%s" "$@"\n' "$tmp" "$realmake" >"$tmp/bin/make"
chmod +x "$tmp/bin/make"
export PATH="$tmp/bin:$PATH"
cp "$root/run" "$tmp/run"
cat >"$tmp/Makefile" <<'EOF'
MODULES   := core sae
build/gpt2sae: $(foreach m,$(MODULES),$(wildcard $(m)/*.c $(m)/*.h)) $(wildcard cuda/*.cu) Makefile
	@printf '#!/bin/sh\necho engine "$$@"\n' >build/gpt2sae
	@chmod +x build/gpt2sae
EOF
echo 'int f(void);' >"$tmp/core/f.h"
echo 'int f(void) { return 0; }' >"$tmp/core/f.c"
echo 'int g(void) { return 1; }' >"$tmp/sae/g.c"
echo '__global__ void k() {}' >"$tmp/cuda/k.cu"
echo 'int main(void) { return 0; }' >"$tmp/tests/test_x.c"
old="2020-01-01 00:00:00"
touch -d "$old" "$tmp/Makefile" "$tmp"/*/*.[ch] "$tmp"/cuda/*
calls() { if [ -f "$tmp/calls" ]; then wc -l <"$tmp/calls" | tr -d ' '; else echo 0; fi; }
# (re)set the binary to a time after every source, and forget make's calls
fresh() {
    (cd "$tmp" && "$realmake" -s build/gpt2sae >/dev/null)
    touch -d "$old" "$tmp/Makefile" "$tmp"/*/*.[ch] "$tmp"/cuda/*
    touch -d "2021-01-01" "$tmp/build/gpt2sae"
    rm -f "$tmp/calls"
}
newer() { touch -d "2022-01-01" "$1"; }

out=$(cd "$tmp" && ./run a b 2>/dev/null)
check "no binary: make builds it, then it runs ('$out', make called $(calls)x)" test "$out" = "engine a b" -a "$(calls)" -ge 1
fresh
out=$(cd / && "$tmp/run" x 2>/dev/null)
check "binary newer than every source: no make, the binary runs (from another folder)" test "$out" = "engine x" -a "$(calls)" = 0
for f in core/f.c core/f.h sae/g.c cuda/k.cu Makefile; do
    fresh; newer "$tmp/$f"
    "$tmp/run" >/dev/null 2>&1
    check "$f newer than the binary: make is asked" test "$(calls)" -ge 1
done
fresh; echo 'int h(void);' >"$tmp/sae/h.h"
"$tmp/run" >/dev/null 2>&1
check "a new header in a module: make is asked" test "$(calls)" -ge 1
fresh; newer "$tmp/tests/test_x.c"
"$tmp/run" >/dev/null 2>&1
check "a newer test source (not part of the engine): no make" test "$(calls)" = 0
sed -i 's/^MODULES .*/MODULES := core sae extra/' "$tmp/Makefile"
mkdir -p "$tmp/extra"; echo 'int e;' >"$tmp/extra/e.c"
fresh; newer "$tmp/extra/e.c"
"$tmp/run" >/dev/null 2>&1
check "a newer source in a folder the Makefile's MODULES adds: make is asked" test "$(calls)" -ge 1
finish
