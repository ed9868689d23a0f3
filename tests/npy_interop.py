#!/usr/bin/python3
# tests/npy_interop.py - NumPy's side of the .npy interop test (tests/test_npy.c).
#
#   /usr/bin/python3 tests/npy_interop.py write DIR   NumPy writes the arrays below into DIR
#   /usr/bin/python3 tests/npy_interop.py check DIR   NumPy reads the files our C code wrote
#
# The committed goldens in tests/golden/npy/ were made, from the repository
# root, with Debian's python3-numpy 1.24:
#   /usr/bin/python3 tests/npy_interop.py write tests/golden/npy
# (file names end in .npy.golden so .gitignore's *.npy does not hide them).
# test_npy.c also runs `write` live into a temporary folder when NumPy is
# installed, and `check` on what it wrote. Values are simple formulas both
# sides compute: f(k) = 0.5*k - 1 (float32), i(k) = 7*k - 20 (int32), k the flat index.
import io
import os
import sys

import numpy as np


def f32(*shape):
    n = int(np.prod(shape)) if shape else 1
    return (0.5 * np.arange(n, dtype=np.float64) - 1).astype(np.float32).reshape(shape)


def i32(*shape):
    n = int(np.prod(shape)) if shape else 1
    return (7 * np.arange(n, dtype=np.int64) - 20).astype(np.int32).reshape(shape)


def save(d, name, arr, version=None, **kw):
    path = os.path.join(d, name + ".npy.golden")
    with open(path, "wb") as fh:
        if version is None:
            np.save(fh, arr, **kw)
        else:
            np.lib.format.write_array(fh, arr, version=version, **kw)


def write(d):
    os.makedirs(d, exist_ok=True)
    save(d, "f32_3x4_v1", f32(3, 4))
    save(d, "i32_10_v1", i32(10))
    save(d, "f32_2x3x2_v2", f32(2, 3, 2), version=(2, 0))
    save(d, "i32_2x5_v3", i32(2, 5), version=(3, 0))
    save(d, "f32_4x3_be", f32(4, 3).astype(">f4"))
    save(d, "i32_6_be", i32(6).astype(">i4"))
    save(d, "f32_scalar", f32())
    save(d, "f32_0x3", f32(0, 3))
    save(d, "f32_1x1x1x1x1x1x1x7", f32(1, 1, 1, 1, 1, 1, 1, 7))
    # ones we must refuse, with a clear message
    save(d, "bad_fortran", np.asfortranarray(f32(2, 3)))
    save(d, "bad_f64", f32(3).astype(np.float64))
    save(d, "bad_i64", i32(3).astype(np.int64))
    save(d, "bad_object", np.array([1, "a"], dtype=object), allow_pickle=True)
    save(d, "bad_structured", np.zeros(2, dtype=[("a", "<f4"), ("b", "<i4")]))


def check(d):
    want = {
        "c_f32_3x4": f32(3, 4),
        "c_i32_10": i32(10),
        "c_f32_scalar": f32(),
        "c_f32_0x3": f32(0, 3),
        "c_i32_2x1x3": i32(2, 1, 3),
    }
    bad = 0
    for name, ref in want.items():
        path = os.path.join(d, name + ".npy")
        with open(path, "rb") as fh:
            major, minor = np.lib.format.read_magic(fh)
            np.lib.format.read_array_header_1_0(fh)
            offset = fh.tell()
        got = np.load(path)
        mm = np.load(path, mmap_mode="r")  # memory-mapping needs an exact, well-formed header
        ok = (major, minor) == (1, 0) and offset % 64 == 0 and got.dtype == ref.dtype and got.shape == ref.shape \
            and np.array_equal(got, ref) and np.array_equal(np.asarray(mm), ref) and got.flags["C_CONTIGUOUS"]
        print("  %s %s: version %d.%d, data at %d, %s %s" % ("ok  " if ok else "FAIL", name, major, minor, offset,
                                                          got.dtype, got.shape))
        bad += not ok
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    {"write": write, "check": check}[sys.argv[1]](sys.argv[2])
