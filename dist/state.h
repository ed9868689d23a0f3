/*
 * dist/state.h - the whole training state of an SAE architecture (sae/arch.h)
 * in one file, so that a distributed run resumes exactly, with the same or
 * another number of ranks: every tensor's weights and both Adam moments, the
 * dead-latent counters, the step, batchtopk's threshold and the input scale.
 * It always holds the whole model (a latent-sharded run gathers its rows
 * first, dist_shard_collect), so it does not depend on the number of ranks.
 * The SAELens checkpoint beside it is for other tools; it folds some of this
 * (relu's decoder norms, the input scale) and holds no moments.
 *
 *   if (dist_rank() == 0 && dist_state_save(&m, "out/sae/train_state.bin") != 0) dist_abort(1);
 *   ...
 *   SAEArch m;  sae_arch_init(&m, &p, NULL, 0);              // the same arch, d, n, k
 *   if (dist_state_load(&m, "out/sae/train_state.bin") != 0) return -1;  // m->step: where to go on
 *
 * Format (little-endian, native floats): "GSSAEST1"; int32 arch, d, n, k,
 * n_t, 0; int64 step; float threshold, min_kept, input_scale, 0; then per
 * tensor char name[16], int64 len, float w[len], m[len], v[len]; then int64
 * since_fired[n].
 */
#ifndef DIST_STATE_H
#define DIST_STATE_H

#include "sae/arch.h"

/* Write m's training state to path atomically (a temporary, then rename).
 * Returns 0, or -1 with err_set() naming the file. */
int dist_state_save(const SAEArch *m, const char *path);
/* Read path into m, which sae_arch_init made with the same architecture,
 * d, n and k: a mismatch is -1 with err_set() naming the option to change. */
int dist_state_load(SAEArch *m, const char *path);

#endif
