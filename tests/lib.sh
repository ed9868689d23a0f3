# tests/lib.sh - what every shell test shares. Source it first:
#
#   . "$(dirname "$0")/lib.sh"          # sets P F S, bin (the engine), check, skip, finish
#   check "tokenize prints ids" grep -q 11531 <<<"$out"
#   finish                              # "N passed, N failed, N skipped"; exit 1 on a failure
#
# BUILD names the build folder (default build); bin is $BUILD/gpt2sae.
P=0; F=0; S=0
BUILD=${BUILD:-build}
bin=$BUILD/gpt2sae
check() { # check "description" command...   (a pass when the command succeeds)
    local d=$1; shift
    if "$@"; then P=$((P + 1)); echo "  ok    $d"; else F=$((F + 1)); echo "  FAIL  $d"; fi
}
skip() { S=$((S + 1)); echo "  skip  $*"; }
finish() { echo "$P passed, $F failed, $S skipped"; [ "$F" -eq 0 ]; exit $?; }
# tiny_model DIR [synth options...]: a small random GPT-2 checkpoint in DIR
# (./run synth; default 2 layers, 2 heads, C 16, GPT-2's vocabulary, n_ctx 32;
# later options override), checked to be there
tiny_model() {
    local dir=$1; shift
    "$bin" synth -o "$dir" --n-layer 2 --n-head 2 --n-embd 16 --vocab 50257 --n-ctx 32 "$@" >/dev/null 2>&1
    check "a tiny random checkpoint ($*)" test -s "$dir/model.safetensors"
}
