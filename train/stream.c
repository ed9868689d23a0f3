/*
 * train/stream.c - the streaming trainer, whatever the model: batches from
 * a RowSource, one model step each, progress and train_log.csv, checkpoints
 * (state.bin beside the model's files) and exact resume. See stream.h.
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

/* ---- the state beside the model ---- */

typedef struct {
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

/* The output folder as one unit: the model's files, the log and state.bin. */
static int checkpoint(const StreamTrain *t, StreamModel *model, const State *s, RowSource *src) {
    DirTxn tx;
    if (dir_begin(&tx, t->out) != 0) return -1;
    int rc = model->save(model->self, tx.tmp, t);
    char *logp = path_join(tx.tmp, "train_log.csv"), *stp = path_join(tx.tmp, "state.bin");
    if (rc == 0) rc = file_write_atomic(logp, s->log, s->log_len);
    if (rc == 0) {
        char tmp[4096];
        FILE *f = file_begin(stp, tmp, sizeof tmp);
        if (!f) rc = -1;
        else {
            StreamStateHeader h;
            memset(&h, 0, sizeof h);
            h.step = s->step, h.tokens = s->tokens, h.batch = t->p.batch;
            src->cursor(src->self, h.cursor);
            if (fwrite(model->magic, 1, 8, f) != 8 || fwrite(&h, sizeof h, 1, f) != 1 ||
                model->state_write(model->self, f) != 0) {
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

int stream_state_magic(const char *dir, char magic[9]) {
    char *stp = path_join(dir, "state.bin");
    FILE *f = fopen(stp, "rb");
    size_t got = f ? fread(magic, 1, 8, f) : 0;
    if (f) fclose(f);
    magic[got] = 0;
    int rc = got == 8 ? 0 : err_set("--resume %s: no training state (%s; a folder written by ./run train --cache/--dataset)",
                                     dir, f ? "state.bin is too short" : "no state.bin");
    free(stp);
    return rc;
}

static int load_state(const char *dir, StreamModel *model, State *s, RowSource *src, const StreamTrain *t) {
    char *stp = path_join(dir, "state.bin"), *buf = NULL;
    size_t len;
    int rc = -1;
    if (file_read_max(stp, &buf, &len, (size_t)1 << 40) != 0) {
        err_prefix("--resume %s: no training state (a folder written by ./run train --cache/--dataset)", dir);
        goto out;
    }
    StreamStateHeader h;
    if (len < 8 + sizeof h || memcmp(buf, model->magic, 8) != 0) {
        err_set("%s: not a training state of a %s SAE (written by another kind of run, or damaged)", stp, model->name);
        goto out;
    }
    memcpy(&h, buf + 8, sizeof h);
    if (h.batch != t->p.batch) {
        err_set("--resume %s: the checkpoint was trained with --batch %lld, this run asks for %d; give --batch %lld "
                "(the same batches continue exactly)", dir, (long long)h.batch, t->p.batch, (long long)h.batch);
        goto out;
    }
    if (model->state_read(model->self, buf + 8 + sizeof h, len - 8 - sizeof h, stp) != 0) goto out;
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
        if (last && atol(last + 1) % t->log_every != 0) last[1] = 0;
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

/* The budget in tokens: --tokens, or --epochs passes over the source (0: none given for an endless source),
 * rounded down to whole batches. Every step is a whole batch, so a run stopped at any budget and resumed
 * takes the same steps as one that never stopped. */
static double budget(const StreamTrain *t, RowSource *src) {
    double b = t->tokens > 0 ? t->tokens : (double)src->epoch_rows(src->self) * (t->epochs > 0 ? t->epochs : 1);
    return t->p.batch > 0 ? floor(b / t->p.batch) * t->p.batch : 0;
}

long stream_total_steps(const StreamTrain *t, RowSource *src) {
    return t->p.batch > 0 ? (long)(budget(t, src) / t->p.batch) : 0;
}

int stream_train(StreamModel *model, RowSource *src, const StreamTrain *t, const char *resume_dir, StreamTrainReport *rep) {
    int B = t->p.batch;
    if (src->width != model->d) return err_set("the rows are %d wide, the SAE's input is %d", src->width, model->d);
    if (B < 2 || B > SAE_MAX_BATCH) return err_set("--batch %d: give 2..%d tokens a step", B, SAE_MAX_BATCH);
    double total = budget(t, src);
    if (total <= 0 && t->tokens > 0)
        return err_set("--tokens %.0f: less than one batch of %d tokens; give more tokens or a smaller --batch",
                       t->tokens, B);
    if (total <= 0 && src->epoch_rows(src->self) > 0)
        return err_set("--epochs %d: %ld tokens, less than one batch of %d; give more epochs, --tokens N or a "
                       "smaller --batch", t->epochs > 0 ? t->epochs : 1,
                       src->epoch_rows(src->self) * (t->epochs > 0 ? t->epochs : 1), B);
    if (total <= 0) return err_set("give a budget with --tokens N (the source has no fixed epoch)");
    State s;
    memset(&s, 0, sizeof s);
    if (resume_dir) {
        if (load_state(resume_dir, model, &s, src, t) != 0) {
            free(s.log);
            return -1;
        }
    } else {
        char head[512];
        snprintf(head, sizeof head, "step,tokens,%s,tokens_per_s\n", model->log_columns);
        log_add(&s, head);
    }
    float *X = xmalloc_aligned((size_t)B * model->d * sizeof(float));
    struct sigaction sa, old_int, old_term;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    stop_signal = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    double t0 = time_now(), last_print = 0, tok0 = s.tokens, next_ckpt = 0;
    if (t->ckpt_every > 0) next_ckpt = (floor(s.tokens / t->ckpt_every) + 1) * t->ckpt_every;
    StreamStep st = {0};
    int rc = 0;
    long steps_here = 0;
    char line[512];
    while (s.tokens + B <= total) {
        if (stop_signal || (t->stop_after_steps > 0 && steps_here >= t->stop_after_steps)) { rc = 1; break; }
        const long n = B;
        if (src->next(src->self, X, n) != 0) { rc = -1; break; }
        if (model->step(model->self, X, (int)n, &st) != 0) {
            rc = err_set("%s (the weights of the last checkpoint are in %s)", err_get(), t->out);
            break;
        }
        s.tokens += (double)n;
        s.step++, steps_here++;
        double now = time_now(), tps = (s.tokens - tok0) / (now - t0 + 1e-9);
        if (s.step % t->log_every == 0 || s.tokens + B > total) {
            snprintf(line, sizeof line, "%ld,%.0f,%s,%.0f\n", s.step, s.tokens, st.csv, tps);
            log_add(&s, line);
        }
        if (!t->quiet && (now - last_print >= (t->progress_tty ? 0.25 : t->progress_secs) || s.tokens + B > total)) {
            last_print = now;
            char a[32], b[32];
            fmt_count(a, sizeof a, s.tokens);
            fmt_count(b, sizeof b, total);
            double eta = tps > 0 ? (total - s.tokens) / tps : 0;
            fprintf(stderr, "%strain: %s/%s tokens  %.0f tok/s  ETA %.0fs  loss %.4f  L0 %.1f  FVU %.4f  dead %.1f%%%s",
                    t->progress_tty ? "\r" : "", a, b, tps, eta, st.loss, st.l0, st.fvu, 100 * st.dead_frac,
                    t->progress_tty ? "  " : "\n");
            fflush(stderr);
        }
        if (t->ckpt_every > 0 && s.tokens >= next_ckpt && s.tokens + B <= total) {
            if (checkpoint(t, model, &s, src) != 0) { rc = -1; break; }
            next_ckpt = (floor(s.tokens / t->ckpt_every) + 1) * t->ckpt_every;
        }
    }
    if (!t->quiet && t->progress_tty) fputc('\n', stderr);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (rc >= 0 && checkpoint(t, model, &s, src) != 0) rc = -1;
    if (rep) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        *rep = (StreamTrainReport){s.tokens, time_now() - t0, st.loss, st.l0, st.fvu, 100 * st.dead_frac, s.tokens - tok0, s.step,
                                   ru.ru_maxrss, (int)stop_signal};
    }
    free(X);
    free(s.log);
    return rc;
}
