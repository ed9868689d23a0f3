/*
 * dist/state.c - the training-state file of dist/state.h: written in one
 * pass through a temporary, read whole and checked field by field (sizes
 * first, so a truncated or foreign file is an error, never a short read).
 */
#include "dist/state.h"
#include "core/util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "GSSAEST1"

typedef struct {
    int32_t arch, d, n, k, n_t, zero;
    int64_t step;
    float threshold, min_kept, input_scale, pad;
} Header;

static int put(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n ? 0 : -1; }

int dist_state_save(const SAEArch *m, const char *path) {
    char tmp[4096];
    FILE *f = file_begin(path, tmp, sizeof tmp);
    if (!f) return -1;
    Header h = {m->p.arch, m->p.d, m->p.n, m->p.k, m->n_t, 0, m->step, m->threshold, m->min_kept, m->input_scale, 0};
    int bad = put(f, MAGIC, 8) || put(f, &h, sizeof h);
    for (int t = 0; !bad && t < m->n_t; t++) {
        const SAEArchTensor *x = &m->t[t];
        char name[16] = {0};
        snprintf(name, sizeof name, "%s", x->name);
        int64_t len = x->len;
        size_t bytes = (size_t)x->len * sizeof(float);
        bad = put(f, name, 16) || put(f, &len, 8) || put(f, x->w, bytes) || put(f, x->m, bytes) || put(f, x->v, bytes);
    }
    for (int i = 0; !bad && i < m->p.n; i++) {
        int64_t s = m->since_fired[i];
        bad = put(f, &s, 8);
    }
    if (bad) {
        file_abort(f, tmp);
        return err_set("%s: writing the training state failed (%s)", path, strerror(errno));
    }
    return file_commit(f, tmp, path);
}

int dist_state_load(SAEArch *m, const char *path) {
    char *buf = NULL;
    size_t len = 0;
    if (file_read_max(path, &buf, &len, (size_t)1 << 42) != 0) return -1;
    size_t want = 8 + sizeof(Header) + (size_t)m->p.n * 8;
    for (int t = 0; t < m->n_t; t++) want += 24 + 3 * (size_t)m->t[t].len * sizeof(float);
    Header h;
    int rc = -1;
    if (len < 8 + sizeof h || memcmp(buf, MAGIC, 8) != 0) {
        err_set("%s: not a training state (written by ./run train --ranks or under mpirun)", path);
        goto out;
    }
    memcpy(&h, buf + 8, sizeof h);
    if (h.arch != (int32_t)m->p.arch) {
        err_set("%s: the run trained --arch %s, not %s; give --arch %s", path, sae_arch_name((SAEArchKind)h.arch),
                sae_arch_name(m->p.arch), sae_arch_name((SAEArchKind)h.arch));
        goto out;
    }
    if (h.d != m->p.d || h.n != m->p.n) {
        err_set("%s: the run's SAE has d = %d and %d latents, this one d = %d and %d; give the same activations "
                "and --latents %d", path, h.d, h.n, m->p.d, m->p.n, h.n);
        goto out;
    }
    if (h.k != m->p.k) {
        err_set("%s: the run trained with --k %d, not %d; give --k %d", path, h.k, m->p.k, h.k);
        goto out;
    }
    if (h.n_t != m->n_t || len != want) {
        err_set("%s: %zu bytes, expected %zu for this SAE; the file is damaged (train again, or resume from a copy)",
                path, len, want);
        goto out;
    }
    const char *p = buf + 8 + sizeof h;
    for (int t = 0; t < m->n_t; t++) {
        SAEArchTensor *x = &m->t[t];
        int64_t tl;
        memcpy(&tl, p + 16, 8);
        if (strncmp(p, x->name, 16) != 0 || tl != x->len) {
            err_set("%s: tensor %d is '%.16s' of %lld floats, expected '%s' of %ld; the file is damaged", path, t, p,
                    (long long)tl, x->name, x->len);
            goto out;
        }
        size_t bytes = (size_t)x->len * sizeof(float);
        p += 24;
        memcpy(x->w, p, bytes), p += bytes;
        memcpy(x->m, p, bytes), p += bytes;
        memcpy(x->v, p, bytes), p += bytes;
    }
    for (int i = 0; i < m->p.n; i++, p += 8) {
        int64_t s;
        memcpy(&s, p, 8);
        m->since_fired[i] = (long)s;
    }
    m->step = (long)h.step, m->threshold = h.threshold, m->min_kept = h.min_kept, m->input_scale = h.input_scale;
    rc = 0;
out:
    free(buf);
    return rc;
}
