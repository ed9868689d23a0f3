#!/usr/bin/python3
# tests/gen_viz_golden.py - colormap data and goldens for viz/, from matplotlib.
#
# Run with Debian's python3 and python3-matplotlib (3.6.3 made the golden):
#   /usr/bin/python3 tests/gen_viz_golden.py table  > /tmp/viridis.inc  # viridis's 256 published entries,
#                                                                     # pasted into viz/colormap.c
#   /usr/bin/python3 tests/gen_viz_golden.py golden > tests/golden/colormaps.txt
#   /usr/bin/python3 tests/gen_viz_golden.py hist   > tests/golden/histogram.txt
# The golden holds, for sample values t, matplotlib's own cm.viridis(t) and
# cm.Reds(t) (RGB). viz/colormap.c builds Reds from ColorBrewer's nine control
# points itself, so the Reds comparison checks an independent computation;
# the viridis one checks the indexing (t -> entry), which is ours.
import sys

if sys.argv[1:] in (["table"], ["golden"]):
    import numpy as np
    from matplotlib import cm

if sys.argv[1:] == ["table"]:
    for r, g, b in cm.viridis.colors:
        print(f"    {{{r:.6f}f, {g:.6f}f, {b:.6f}f}},")
elif sys.argv[1:] == ["golden"]:
    ts = [0.0, 1e-9, 0.001, 0.0039, 0.004, 0.05, 0.1, 0.123456, 0.25, 0.3333, 0.5, 0.5019,
          0.6, 0.75, 0.8, 0.9, 0.95, 0.99, 0.996, 0.9999, 1.0, -0.5, 1.5]
    rng = np.random.default_rng(1)
    ts += list(rng.random(40))
    print("# t viridis_r viridis_g viridis_b reds_r reds_g reds_b  (matplotlib %s)" % __import__("matplotlib").__version__)
    for t in ts:
        v = cm.viridis(float(t))
        r = cm.Reds(float(t))
        print(f"{t:.9f} {v[0]:.9f} {v[1]:.9f} {v[2]:.9f} {r[0]:.9f} {r[1]:.9f} {r[2]:.9f}")
elif sys.argv[1:] == ["hist"]:
    # viz/hist.h's layout computed here from its words (plain Python, no C):
    # the bars of two histograms, one line each "bar x y width height", and
    # the axis labels, for tests/test_viz.c to find in svg_histogram's path.
    cases = [([0, 3, 7, 1, 0, 12, 5, 0, 0, 2], -1.5, 2.25, 300, 120),
             ([(i * 7919) % 13 if i % 5 else 0 for i in range(200)], 0.0, 0.0123, 220, 100)]
    print("# case nb lo hi w h, then: bar x y width height (nonempty bins), label lo, label hi")
    for counts, lo, hi, w, h in cases:
        nb = len(counts)
        print("case", nb, repr(lo), repr(hi), w, h, " ".join(map(str, counts)))
        bw = (w - 40) / nb
        bar = max(bw - 1, 1)
        mx = max(counts)
        for b, c in enumerate(counts):
            if c:
                bh = c / mx * (h - 30)
                print(f"bar {30 + b * bw:.6f} {h - 25 - bh:.6f} {bar:.6f} {bh:.6f}")
        print(f"label {lo:.3g}")
        print(f"label {hi:.3g}")
else:
    sys.exit("usage: gen_viz_golden.py table|golden|hist")
