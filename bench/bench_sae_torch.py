#!/usr/bin/python3
"""bench/bench_sae_torch.py EPOCHS [T d L k seed] - the baseline for bench/bench_sae.c:
the seed's own SparseAE and training loop (tests/gen_sae_golden.py holds the
verbatim copy) under Debian's python3-torch, on the same inputs the C side
regenerates. Prints one line per epoch "loss E total sparsity decor" and then
"seconds S" (training loop only, inputs excluded).

bench_sae runs it with 2 threads and OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'tests'))
import torch  # noqa: E402
from gen_sae_golden import SparseAE, make_inputs, seed_loop  # noqa: E402


def main():
    epochs = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    T, d, L, k, seed = (int(a) for a in sys.argv[2:7]) if len(sys.argv) > 6 else (220, 3072, 6144, 1024, 11)
    torch.set_num_threads(int(os.environ.get('TORCH_THREADS', '2')))
    Xn, Wn = make_inputs(T, d, L, seed)
    X = torch.from_numpy(Xn)
    ae = SparseAE(input_dim=d, k=k, latent_dim=L)
    with torch.no_grad():
        ae.encoder.weight.copy_(torch.from_numpy(Wn))
    t0 = time.time()
    seed_loop(ae, X, epochs, lambda e, l: print('loss %d %.9g %.9g %.9g' % (e + 1, l[0], l[1], l[2]), flush=True))
    print('seconds %.3f' % (time.time() - t0), flush=True)


if __name__ == '__main__':
    main()
