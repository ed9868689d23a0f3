#!/usr/bin/python3
# tests/bpe_openai.py - OpenAI's GPT-2 encoder algorithm (the encoder.py that
# came with GPT-2), written again from its published description, as an
# independent judge of the engine's tokenizer (tokenizer/). Nothing here is
# shared with the C code: the byte-to-unicode table, the pre-tokenising
# regular expression and the merge loop are OpenAI's, run by Python's `regex`
# module.
#
# Needs Debian's python3 and python3-regex (apt-get install python3-regex);
# run it with /usr/bin/python3. DIR holds vocab.json + merges.txt (Hugging
# Face) or encoder.json + vocab.bpe (OpenAI):
#
#   /usr/bin/python3 tests/bpe_openai.py DIR FILE...    the ids of each file (UTF-8
#                                                       text), one line per file
#   /usr/bin/python3 tests/bpe_openai.py DIR --golden > tests/golden/bpe_long_words.txt
#                                                       the long-word golden
#   /usr/bin/python3 tests/bpe_openai.py DIR --word HEXALPHABET NCHARS SEED
#                                                       one generated word's ids
#
# The long-word golden: one case a line, "name nchars seed alphabet ids...",
# alphabet as the hex of its UTF-8 characters. The word is nchars characters
# drawn from the alphabet by splitmix64 (word_chars below; tests/test_bpe.c
# draws the same word) and encoded as one text.
#
# Note: Python's regex counts U+0085 and U+FEFF as white space (\s), as
# tiktoken's Rust regex does; JavaScript ports (gpt-tokenizer, js-tiktoken)
# do not. The generated words contain neither.
import json
import os
import sys

import regex as re

# The pre-tokeniser: contractions, letters, numbers, other symbols (each with
# at most one leading space), then white space not followed by a non-space,
# then any white space.
PAT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def bytes_to_unicode():
    """Every byte as one printable character: the printable bytes (! .. ~,
    ¡ .. ¬, ® .. ÿ) stand for themselves, the other 68 become U+0100 on in
    increasing order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def get_pairs(word):
    """The set of adjacent symbol pairs of a word (a tuple of symbols)."""
    return set(zip(word, word[1:]))


class Encoder:
    def __init__(self, encoder, merges):
        self.encoder = encoder
        self.byte_encoder = bytes_to_unicode()
        self.bpe_ranks = {m: i for i, m in enumerate(merges)}
        self.cache = {}

    def bpe(self, token):
        """Merge the lowest-ranked adjacent pair, every occurrence of it left
        to right, until no adjacent pair is in the merges."""
        if token in self.cache:
            return self.cache[token]
        word = tuple(token)
        pairs = get_pairs(word)
        if not pairs:
            return [token]
        while True:
            bigram = min(pairs, key=lambda p: self.bpe_ranks.get(p, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                new_word.extend(word[i:j])
                i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        self.cache[token] = list(word)
        return self.cache[token]

    def encode(self, text):
        ids = []
        for piece in PAT.findall(text):
            piece = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(piece))
        return ids


def load(d):
    for vocab, merges in (("vocab.json", "merges.txt"), ("encoder.json", "vocab.bpe")):
        v, m = os.path.join(d, vocab), os.path.join(d, merges)
        if os.path.isfile(v) and os.path.isfile(m):
            with open(v, encoding="utf-8") as f:
                encoder = json.load(f)
            with open(m, encoding="utf-8") as f:
                lines = f.read().split("\n")
            pairs = [tuple(l.split()) for l in lines if l and not l.startswith("#version")]
            return Encoder(encoder, pairs)
    sys.exit(f"bpe_openai.py: no vocab.json + merges.txt or encoder.json + vocab.bpe in {d}")


M64 = (1 << 64) - 1


def word_chars(alphabet, nchars, seed):
    """nchars characters drawn from alphabet (a list of strings) with
    splitmix64: state += 0x9E3779B97F4A7C15, z = state,
    z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9, z = (z ^ z >> 27) * 0x94D049BB133111EB,
    draw = z ^ z >> 31; character = alphabet[draw % len(alphabet)]."""
    s = seed & M64
    out = []
    for _ in range(nchars):
        s = (s + 0x9E3779B97F4A7C15) & M64
        z = s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
        z ^= z >> 31
        out.append(alphabet[z % len(alphabet)])
    return "".join(out)


# The golden's alphabets: digits, letters, mixed (letters, digits, symbols),
# base64, DNA, single repeated bytes, CJK.
ALPHABETS = [
    ("digits", list("0123456789")),
    ("letters", list("etaoinshrdlu")),
    ("mixed", list("abcxyzQ017-'_.")),
    ("base64", list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")),
    ("DNA", list("ACGT")),
    ("one-a", ["a"]),
    ("one-0", ["0"]),
    ("one-space", [" "]),
    ("one-newline", ["\n"]),
    ("CJK", list("的一是不了人我在有他")),
]
GOLDEN_LENGTHS = [255, 256, 512]


def hexalpha(alphabet):
    return "".join(c.encode("utf-8").hex() for c in alphabet)


def unhexalpha(h):
    return [c for c in bytes.fromhex(h).decode("utf-8")]


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__ or "usage: bpe_openai.py DIR FILE... | DIR --golden | DIR --word HEX N SEED")
    enc = load(argv[0])
    if argv[1] == "--golden":
        print("# long words: name nchars seed alphabet(hex UTF-8) ids...; made by "
              "/usr/bin/python3 tests/bpe_openai.py DIR --golden (Python regex %s)" % re.__version__)
        seed = 1
        for name, alphabet in ALPHABETS:
            for n in GOLDEN_LENGTHS:
                ids = enc.encode(word_chars(alphabet, n, seed))
                print(name, n, seed, hexalpha(alphabet), " ".join(map(str, ids)))
                seed += 1
    elif argv[1] == "--word":
        ids = enc.encode(word_chars(unhexalpha(argv[2]), int(argv[3]), int(argv[4])))
        print(" ".join(map(str, ids)))
    else:
        for path in argv[1:]:
            with open(path, "rb") as f:
                text = f.read().decode("utf-8")
            print(" ".join(map(str, enc.encode(text))))


if __name__ == "__main__":
    main(sys.argv[1:])
