/*
 * train/stream.c - the streaming trainer: batches from a RowSource, one
 * sae_loss_grad + Adam step each, progress and train_log.csv, checkpoints
 * (state.bin beside the SAE) and exact resume. See stream.h.
 */
#include "train/stream.h"
#include "core/dir.h"
#include "core/util.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define STATE_MAGIC "GS2STRM1"

StreamTrain stream_train_default(void) {
    StreamTrain t;
    memset(&t, 0, sizeof t);
    t.p = sae_default_params();
    t.p.batch = 4096;
    t.epochs = 1;
    t.log_every = 10;
    t.dead_after = 1e6;
    t.progress_secs = 10;
    return t;
}

/* ---- signals: a flag, checked between steps ---- */

static volatile sig_atomic_t stop_signal;
static void on_signal(int sig) { stop_signal = sig; }

/* ---- the state beside the SAE ---- */

typedef struct {
    int64_t d, L, k, step, adam_step, cursor[4];
    double tokens;
} StateHeader;

typedef struct {
    SAEAdam adam;
    int64_t *quiet_for;   /* (L) tokens since each latent last fired */
    double tokens;
    long step;
    char *log;            /* train_log.csv so far */
    size_t log_len, log_cap;
} State;

static void log_add(State *s, const char *line) {
    size_t n = strlen(line);
    if (s->log_len + n + 1 > s->log_cap) {
        s->log_cap = (s->log_len + n + 1) * 2;
        s->log = xrealloc(s->log, s->log_cap);
    }
    memcpy(s->log + s->log_len, line, n + 1);
    s->log_len += n;
}

static int write_fully(FILE *f, const void *p, size_t n) { return fwrite(p, 1, n, f) == n ? 0 : -1; }

/* The output folder as one unit: the SAE, the log and state.bin. */
static int checkpoint(const StreamTrain *t, const SAE *sae, const State *s, RowSource *src) {
    DirTxn tx;
    if (dir_begin(&tx, t->out) != 0) return -1;
    int rc = sae_save(sae, tx.tmp, &t->p, t->model, t->hook);
    char *logp = path_join(tx.tmp, "train_log.csv"), *stp = path_join(tx.tmp, "state.bin");
    if (rc == 0) rc = file_write_atomic(logp, s->log, s->log_len);
    if (rc == 0) {
        char tmp[4096];
        FILE *f = file_begin(stp, tmp, sizeof tmp);
        if (!f) rc = -1;
        else {
            StateHeader h = {sae->d, sae->L, sae->k, s->step, s->adam.step, {0}, s->tokens};
            src->cursor(src->self, h.cursor);
            size_t n = (size_t)sae->L * sae->d;
            if (write_fully(f, STATE_MAGIC, 8) || write_fully(f, &h, sizeof h) ||
                write_fully(f, s->adam.m, n * sizeof(float)) || write_fully(f, s->adam.v, n * sizeof(float)) ||
                write_fully(f, s->quiet_for, (size_t)sae->L * sizeof(int64_t))) {
                file_abort(f, tmp);
                rc = err_set("%s: writing the training state failed (%s)", stp, strerror(errno));
            } else
                rc = file_commit(f, tmp, stp);
        }
    }
    if (rc == 0) rc = dir_commit(&tx);
    dir_abort(&tx);
    free(logp), free(stp);
    return rc == 0 ? 0 : err_prefix("checkpoint into %s", t->out);
}

static int load_state(const char *dir, const SAE *sae, State *s, RowSource *src, long log_every) {
    char *stp = path_join(dir, "state.bin"), *buf = NULL;
    size_t len;
    int rc = -1;
    if (file_read_max(stp, &buf, &len, (size_t)1 << 40) != 0) {
        err_prefix("--resume %s: no training state (a folder written by ./run train --cache/--dataset)", dir);
        goto out;
    }
    StateHeader h;
    size_t n = (size_t)sae->L * sae->d, want = 8 + sizeof h + 2 * n * sizeof(float) + (size_t)sae->L * sizeof(int64_t);
    if (len < 8 + sizeof h || memcmp(buf, STATE_MAGIC, 8) != 0) { err_set("%s: not a training state file", stp); goto out; }
    memcpy(&h, buf + 8, sizeof h);
    if (h.d != sae->d || h.L != sae->L || len != want) {
        err_set("%s: the state is for an SAE of d = %lld, L = %lld (%zu bytes), not the one in the folder (d = %d, L = %d); "
                "the checkpoint is damaged", stp, (long long)h.d, (long long)h.L, len, sae->d, sae->L);
        goto out;
    }
    const char *p = buf + 8 + sizeof h;
    memcpy(s->adam.m, p, n * sizeof(float));
    memcpy(s->adam.v, p + n * sizeof(float), n * sizeof(float));
    memcpy(s->quiet_for, p + 2 * n * sizeof(float), (size_t)sae->L * sizeof(int64_t));
    s->adam.step = (long)h.adam_step;
    s->step = (long)h.step;
    s->tokens = h.tokens;
    int64_t cur[4];
    src->cursor(src->self, cur);
    if (cur[3] != h.cursor[3]) {
        err_set("--resume %s: the checkpoint's data order was drawn with seed %lld, this run's with %lld; give --seed %lld",
                dir, (long long)h.cursor[3], (long long)cur[3], (long long)h.cursor[3]);
        goto out;
    }
    src->seek(src->self, h.cursor);
    /* the log so far */
    char *logp = path_join(dir, "train_log.csv"), *lb;
    size_t ll;
    if (file_read_max(logp, &lb, &ll, (size_t)1 << 32) == 0) {
        /* the line a run writes at its last step is not one an unbroken run writes: drop it */
        char *last = ll > 1 ? memrchr(lb, '\n', ll - 1) : NULL;
        if (last && atol(last + 1) % log_every != 0) last[1] = 0;
        log_add(s, lb);
        free(lb);
    }
    free(logp);
    rc = 0;
out:
    free(buf);
    free(stp);
    return rc;
}

static void fmt_count(char *b, size_t n, double v) {
    if (v >= 1e9) snprintf(b, n, "%.2fG", v / 1e9);
    else if (v >= 1e6) snprintf(b, n, "%.2fM", v / 1e6);
    else if (v >= 1e3) snprintf(b, n, "%.1fk", v / 1e3);
    else snprintf(b, n, "%.0f", v);
}

int stream_train(SAE *sae, RowSource *src, const StreamTrain *t, const char *resume_dir, StreamTrainReport *rep) {
    int d = sae->d, L = sae->L, B = t->p.batch;
    if (src->width != d) return err_set("the rows are %d wide, the SAE's input is %d", src->width, d);
    if (B < 2 || B > SAE_MAX_BATCH) return err_set("--batch %d: give 2..%d tokens a step", B, SAE_MAX_BATCH);
    double total = t->tokens;
    if (total <= 0) {
        long er = src->epoch_rows(src->self);
        if (er <= 0) return err_set("give a budget with --tokens N (the source has no fixed epoch)");
        total = (double)er * (t->epochs > 0 ? t->epochs : 1);
    }
    State s;
    memset(&s, 0, sizeof s);
    sae_adam_init(&s.adam, (long)L * d);
    s.quiet_for = xcalloc((size_t)L, sizeof(int64_t));
    if (resume_dir) {
        if (load_state(resume_dir, sae, &s, src, t->log_every) != 0) {
            sae_adam_free(&s.adam);
            free(s.quiet_for);
            free(s.log);
            return -1;
        }
    } else
        log_add(&s, "step,tokens,loss,mse,sparsity,decor,l0,fvu,dead_pct,tokens_per_s\n");
    float *X = xmalloc_aligned((size_t)B * d * sizeof(float));
    float *g = xmalloc_aligned((size_t)L * d * sizeof(float));
    float *Z = xmalloc_aligned((size_t)B * L * sizeof(float));
    int64_t *fired = xmalloc((size_t)L * sizeof(int64_t));
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    double t0 = time_now(), last_print = 0, tok0 = s.tokens, next_ckpt = 0;
    if (t->ckpt_every > 0) next_ckpt = (floor(s.tokens / t->ckpt_every) + 1) * t->ckpt_every;
    double loss = 0, l0 = 0, fvu = 0, dead_pct = 0;
    int rc = 0;
    long steps_here = 0;
    char line[512];
    while (s.tokens + 2 <= total) {
        if (stop_signal || (t->stop_after_steps > 0 && steps_here >= t->stop_after_steps)) { rc = 1; break; }
        long n = total - s.tokens < B ? (long)(total - s.tokens) : B;
        if (src->next(src->self, X, n) != 0) { rc = -1; break; }
        SAELosses l;
        sae_loss_grad(sae, X, (int)n, t->p.sparsity_weight, t->p.decor_weight, g, Z, &l);
        if (!isfinite(l.total)) {
            rc = err_set("step %ld: the loss is %g; lower --lr (the weights of the last checkpoint are in %s)", s.step + 1,
                         l.total, t->out);
            break;
        }
        sae_adam_step(&s.adam, sae->W, g, &t->p);
        /* statistics of this batch: L0, FVU = sum (Y - X)^2 / sum (X - mean X)^2, dead latents */
        double nnz = 0, var = 0;
        memset(fired, 0, (size_t)L * sizeof(int64_t));
        for (long i = 0; i < n; i++)
            for (int j = 0; j < L; j++)
                if (Z[(size_t)i * L + j] != 0) nnz++, fired[j] = 1;
        for (int c = 0; c < d; c++) {
            double mu = 0, q = 0;
            for (long i = 0; i < n; i++) mu += X[(size_t)i * d + c];
            mu /= (double)n;
            for (long i = 0; i < n; i++) {
                double e = X[(size_t)i * d + c] - mu;
                q += e * e;
            }
            var += q;
        }
        long dead = 0;
        for (int j = 0; j < L; j++) {
            s.quiet_for[j] = fired[j] ? 0 : s.quiet_for[j] + n;
            dead += (double)s.quiet_for[j] >= t->dead_after;
        }
        loss = l.total, l0 = nnz / (double)n, fvu = var > 0 ? l.mse * (double)n * d / var : 0;
        dead_pct = 100.0 * (double)dead / L;
        s.tokens += (double)n;
        s.step++, steps_here++;
        double now = time_now(), tps = (s.tokens - tok0) / (now - t0 + 1e-9);
        if (s.step % t->log_every == 0 || s.tokens + 2 > total) {
            snprintf(line, sizeof line, "%ld,%.0f,%.9g,%.9g,%.9g,%.9g,%.3f,%.6f,%.3f,%.0f\n", s.step, s.tokens, l.total, l.mse,
                     l.sparsity, l.decor, l0, fvu, dead_pct, tps);
            log_add(&s, line);
        }
        if (!t->quiet && (now - last_print >= (t->progress_tty ? 0.25 : t->progress_secs) || s.tokens + 2 > total)) {
            last_print = now;
            char a[32], b[32];
            fmt_count(a, sizeof a, s.tokens);
            fmt_count(b, sizeof b, total);
            double eta = tps > 0 ? (total - s.tokens) / tps : 0;
            fprintf(stderr, "%strain: %s/%s tokens  %.0f tok/s  ETA %.0fs  loss %.4f  L0 %.1f  FVU %.4f  dead %.1f%%%s",
                    t->progress_tty ? "\r" : "", a, b, tps, eta, loss, l0, fvu, dead_pct, t->progress_tty ? "  " : "\n");
            fflush(stderr);
        }
        if (t->ckpt_every > 0 && s.tokens >= next_ckpt && s.tokens + 2 <= total) {
            if (checkpoint(t, sae, &s, src) != 0) { rc = -1; break; }
            next_ckpt = (floor(s.tokens / t->ckpt_every) + 1) * t->ckpt_every;
        }
    }
    if (!t->quiet && t->progress_tty) fputc('\n', stderr);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (rc >= 0 && checkpoint(t, sae, &s, src) != 0) rc = -1;
    if (rep) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        *rep = (StreamTrainReport){s.tokens, time_now() - t0, loss, l0, fvu, dead_pct, s.step, ru.ru_maxrss, (int)stop_signal};
    }
    free(X), free(g), free(Z), free(fired);
    sae_adam_free(&s.adam);
    free(s.quiet_for);
    free(s.log);
    return rc;
}
