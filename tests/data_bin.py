#!/usr/bin/env python3
"""tests/data_bin.py - an independent reader of token files, for tests/test_data.sh.

    python3 tests/data_bin.py header FILE     "magic version count size" of an llm.c file
    python3 tests/data_bin.py docs FILE       one line a document: the ids after each 50256
    python3 tests/data_bin.py docs --raw FILE the same for a raw uint16 file (no header)

Written from llm.c's description of the format (dev/data/data_common.py:
a header of 256 int32 - magic 20240520, version 1, token count - then the
tokens as uint16), with the standard library only. Exits 1 when the file does
not match its header.
"""
import struct
import sys


def read_tokens(path, raw):
    data = open(path, "rb").read()
    if raw:
        if len(data) % 2:
            sys.exit(f"{path}: odd size {len(data)}")
        return None, struct.unpack(f"<{len(data) // 2}H", data)
    header = struct.unpack("<256i", data[:1024])
    count = header[2]
    if header[0] != 20240520 or header[1] != 1 or any(header[3:]):
        sys.exit(f"{path}: bad header {header[:4]}")
    if len(data) != 1024 + 2 * count:
        sys.exit(f"{path}: {len(data)} bytes, header says {count} tokens")
    return header, struct.unpack(f"<{count}H", data[1024:])


def main():
    args = sys.argv[1:]
    raw = "--raw" in args
    args = [a for a in args if a != "--raw"]
    what, path = args
    header, tokens = read_tokens(path, raw)
    if what == "header":
        print(header[0], header[1], header[2], 1024 + 2 * len(tokens))
        return
    out, doc = [], None
    for t in tokens:
        if t == 50256:
            if doc is not None:
                out.append(" ".join(doc))
            doc = []
        else:
            if doc is None:
                sys.exit(f"{path}: the first token is {t}, not <|endoftext|>")
            doc.append(str(t))
    if doc is not None:
        out.append(" ".join(doc))
    sys.stdout.write("".join(line + "\n" for line in out))


main()
