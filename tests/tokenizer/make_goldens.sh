#!/usr/bin/env bash
# tests/tokenizer/make_goldens.sh - regenerate the tokenizer goldens in tests/golden/
# from the reference implementations (nobody here wrote them):
#   bpe_palinka.ids  palinka.txt                 gpt-tokenizer 4.0.0 == js-tiktoken 1.0.21
#   bpe_stress.ids   tests/tokenizer/stress.txt  gpt-tokenizer 4.0.0 == js-tiktoken 1.0.21
#   bpe_special.ids  tests/tokenizer/special.txt js-tiktoken, "<|endoftext|>" allowed (50256)
#   bpe_words.txt    "word id" for the seed's geography words: id is the first
#                    token of " word" (tokenizer.encode(w, add_prefix_space=True)[0]),
#                    gpt-tokenizer == js-tiktoken
# Each file is one line of ids separated by spaces. Run from the repository
# root after `(cd tests/tokenizer && npm ci)`:
#   bash tests/tokenizer/make_goldens.sh
# It refuses to write a golden when the two references disagree, or when the
# text has a character whose class differs between node and our tables.
set -euo pipefail
cd "$(dirname "$0")/../.."
enc=tests/tokenizer/encode.js
python3 tests/tokenizer/make_stress.py | cmp - tests/tokenizer/stress.txt
node tests/tokenizer/check_classes.js palinka.txt tests/tokenizer/stress.txt tests/tokenizer/special.txt
mkdir -p tests/golden
for pair in palinka:palinka.txt stress:tests/tokenizer/stress.txt; do
    name=${pair%%:*} file=${pair#*:}
    a=$(node $enc --lib gpt-tokenizer "$file")
    b=$(node $enc --lib js-tiktoken "$file")
    [ "$a" = "$b" ] || { echo "gpt-tokenizer and js-tiktoken disagree on $file" >&2; exit 1; }
    echo "$a" > tests/golden/bpe_$name.ids
    echo "tests/golden/bpe_$name.ids: $(wc -w < tests/golden/bpe_$name.ids) ids"
done
node $enc --lib js-tiktoken --special tests/tokenizer/special.txt > tests/golden/bpe_special.ids
echo "tests/golden/bpe_special.ids: $(wc -w < tests/golden/bpe_special.ids) ids"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
words="Hungary geographical European Union provinces Austria Czech Republic Slovakia Romania Italy Greece regions"
files=()
for w in $words; do printf ' %s' "$w" > "$tmp/$w"; files+=("$tmp/$w"); done
a=$(node $enc --lib gpt-tokenizer "${files[@]}" | awk '{print $1}')
b=$(node $enc --lib js-tiktoken "${files[@]}" | awk '{print $1}')
[ "$a" = "$b" ] || { echo "gpt-tokenizer and js-tiktoken disagree on the words" >&2; exit 1; }
paste -d' ' <(printf '%s\n' $words) <(echo "$a") > tests/golden/bpe_words.txt
echo "tests/golden/bpe_words.txt: $(wc -l < tests/golden/bpe_words.txt) words"
