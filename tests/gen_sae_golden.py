#!/usr/bin/python3
"""tests/gen_sae_golden.py - golden values for the SAE from the seed's own code.

Runs the notebook's SparseAE class and training loop (copied verbatim below,
only the device handling removed) under Debian's python3-torch (1.13, CPU),
from inputs X (T, d) and W (L, d) that tests/test_sae*.c regenerate bit for
bit from a seed (splitmix64 + exact arithmetic, see make_inputs), and runs the
seed's statistics code (numpy) on the resulting latents.

How it was run (from the repository root):
    /usr/bin/python3 tests/gen_sae_golden.py small   # -> tests/golden/sae_small.txt  (T=40, d=96, L=192, k=32)
    /usr/bin/python3 tests/gen_sae_golden.py full    # -> tests/golden/sae_full.txt   (T=220, d=3072, L=6144, k=1024)
The full shape takes 5-25 minutes with 2 threads (22 on the shared machine that
made the committed file); only digests of its latents
are kept (three rows' nonzeros and the column sums).

Output format: blocks "name count" followed by count numbers, one line each block.
"""
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim

M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def splitmix64(seed, n):
    """n outputs of splitmix64 started at state seed (as the C side: sae_test_uniform)."""
    with np.errstate(over='ignore'):
        i = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(seed) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return z


def uniform(seed, n):
    """Exact multiples of 2^-24 in [0, 1), as float64."""
    return (splitmix64(seed, n) >> np.uint64(40)).astype(np.float64) / 16777216.0


def make_inputs(T, d, L, seed):
    """X (T, d): MLP-pre-activation-like data (negative mean, per-column scale,
    a rank-2 shared component, Irwin-Hall noise); W (L, d) ~ U(-1/sqrt(d), 1/sqrt(d)).
    Every operation is one IEEE double op in a fixed order, then one rounding
    to float32, so C computes the same bits."""
    u = uniform(seed, 4 * T * d).reshape(4, T, d)
    noise = ((u[0] + u[1]) + (u[2] + u[3])) - 2.0                 # (T, d) in (-2, 2)
    cu = uniform(seed + 1, 4 * d).reshape(4, d)
    mu = cu[0] * 0.8 - 0.9                                        # (d) column means in [-0.9, -0.1)
    sc = cu[1] * 1.5 + 0.5                                        # (d) column scales
    g1 = cu[2] - 0.5
    g2 = cu[3] - 0.5
    fu = uniform(seed + 2, 2 * T).reshape(2, T)
    f1 = fu[0] * 4.0 - 2.0                                        # (T) token factors
    f2 = fu[1] * 2.0 - 1.0
    X = ((mu[None, :] + sc[None, :] * noise) + f1[:, None] * g1[None, :]) + f2[:, None] * g2[None, :]
    b = 1.0 / np.sqrt(float(d))
    W = (uniform(seed + 3, L * d).reshape(L, d) * 2.0 - 1.0) * b
    return X.astype(np.float32), W.astype(np.float32)


# ---- the seed's class, verbatim ----------------------------------------------
class SparseAE(nn.Module):
  def __init__(self, input_dim, latent_dim, k=None, sparsity_weight=1, decor_weight=.0005):
    super().__init__()
    self.encoder = nn.Linear(input_dim, latent_dim, bias=False)
    self.sparsity_weight = sparsity_weight
    self.decor_weight = decor_weight
    if k==None:
      self.k = input_dim//2
    else:
      self.k = k

  def forward(self, x):
    latent = F.relu(self.encoder(x))
    topk_vals = torch.topk(latent,self.k,dim=1)[0]
    thresh = topk_vals[:,-1].unsqueeze(1) # kth-largest value is the smallest of the sorted top-k
    mask = (latent >= thresh).float() # mask is 0's and 1's
    latent_sparse = latent * mask
    y = F.linear(latent_sparse, self.encoder.weight.t())
    return y,latent_sparse

  def sparsity_loss(self, z):
    return self.sparsity_weight * torch.mean(torch.abs(z))

  def decorrelation_loss(self, estLatent):
    cov = torch.cov(estLatent.T)
    off_diag = cov - torch.diag(torch.diag(cov))
    return self.decor_weight * torch.sum(off_diag**2)


def seed_loop(ae, X, n_epochs, report=None):
    """The notebook's training loop (full batch, Adam lr 1e-4, its per-epoch
    .item() calls). Returns the losses (n_epochs, 3): total, sparsity, decor;
    report(epoch, losses[epoch]) is called after each epoch when given."""
    optimizer = optim.Adam(ae.parameters(), lr=.0001)
    mse_loss = nn.MSELoss()
    losses = np.zeros((n_epochs, 3))
    for epoch in range(n_epochs):
        optimizer.zero_grad()
        x_pred, latent = ae(X)
        L1 = ae.sparsity_loss(latent)
        deCor = ae.decorrelation_loss(latent)
        loss = mse_loss(x_pred, X) + L1 + deCor
        losses[epoch, 0] = loss.item()
        losses[epoch, 1] = L1.item()
        losses[epoch, 2] = deCor.item()
        loss.backward()
        optimizer.step()
        if report:
            report(epoch, losses[epoch])
    return losses


def train_seed(Xn, Wn, k, n_epochs):
    """The notebook's training cells, with the initial weight set to Wn."""
    X = torch.from_numpy(Xn)
    ae = SparseAE(input_dim=X.shape[1], k=k, latent_dim=Wn.shape[0])
    with torch.no_grad():
        ae.encoder.weight.copy_(torch.from_numpy(Wn))

    def report(epoch, l):
        if epoch % 11 == 0:
            print(f'Epoch {epoch+1:3d}, loss = {l[0]:.4f}')
    losses = seed_loop(ae, X, n_epochs, report)
    with torch.no_grad():
        aeout, latent = ae(X)
    return losses, latent.cpu().numpy()


def seed_stats(latent, target_tokens):
    """The notebook's statistics cells, verbatim apart from the variable names."""
    densitymask = np.full(latent.shape, np.nan)
    densitymask[latent != 0] = 1
    latentDensity = 100 * np.nansum(densitymask, axis=0) / densitymask.shape[0]
    with np.errstate(invalid='ignore'):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            nonzeroAct = np.nanmean(np.abs(latent * densitymask), axis=0)
    nonzeroAct[np.isnan(nonzeroAct)] = 0
    densityActivation = latentDensity * nonzeroAct
    # the notebook uses np.argsort(x)[::-1]; ties are ordered by the stable sort here
    sortByActivity = np.argsort(nonzeroAct, kind='stable')[::-1]
    sortByTokenDensity = np.argsort(latentDensity, kind='stable')[::-1]
    geoscore = np.zeros(latent.shape[1])
    for comp in range(latent.shape[1]):
        targ = latent[target_tokens, comp]
        nontarg = latent[~target_tokens, comp]
        if (nontarg.sum() > 0) & (targ.sum() > 0):
            geoscore[comp] = targ[np.nonzero(targ)].mean() / nontarg[np.nonzero(nontarg)].mean()
    return latentDensity, nonzeroAct, densityActivation, sortByActivity, sortByTokenDensity, geoscore


def block(f, name, values, fmt='%.9g'):
    values = np.asarray(values).ravel()
    f.write('%s %d\n' % (name, values.size))
    f.write(' '.join(fmt % v for v in values) + '\n')


def sparse_rows(f, name, latent, rows):
    for r in rows:
        nz = np.nonzero(latent[r])[0]
        block(f, '%s_%d_idx' % (name, r), nz, '%d')
        block(f, '%s_%d_val' % (name, r), latent[r, nz])


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else 'small'
    torch.set_num_threads(2)
    if mode == 'small':
        T, d, L, k, seed, epochs = 40, 96, 192, 32, 7, 100
    else:
        T, d, L, k, seed, epochs = 220, 3072, 6144, 1024, 11, 100
    X, W = make_inputs(T, d, L, seed)
    losses, latent = train_seed(X, W, k, epochs)
    out = 'tests/golden/sae_%s.txt' % mode
    with open(out, 'w') as f:
        block(f, 'shape', [T, d, L, k, seed, epochs], '%d')
        # digests of the inputs, to check that C regenerated the same bits
        block(f, 'x_sum', [X.astype(np.float64).sum()], '%.17g')
        block(f, 'w_sum', [W.astype(np.float64).sum()], '%.17g')
        block(f, 'x_head', X.ravel()[:8])
        block(f, 'w_head', W.ravel()[:8])
        block(f, 'losses', losses)                       # (epochs, 3): total, sparsity, decor
        block(f, 'latent_fro', [np.linalg.norm(latent.astype(np.float64))], '%.17g')
        block(f, 'latent_colsum', latent.astype(np.float64).sum(axis=0))
        if mode == 'small':
            block(f, 'latent', latent)                    # (T, L) in full
            target = np.arange(T) % 5 == 2                # a word-category mask
            target[[3, 11]] = True
            block(f, 'target', target.astype(int), '%d')
            dens, act, dact, byact, bydens, geo = seed_stats(latent, target)
            block(f, 'density', dens)
            block(f, 'mean_act', act)
            block(f, 'density_act', dact)
            block(f, 'by_activation', byact, '%d')
            block(f, 'by_density', bydens, '%d')
            block(f, 'geoscore', geo)
        else:
            sparse_rows(f, 'latent_row', latent, [0, 109, 219])
    print('wrote', out)


if __name__ == '__main__':
    main()
