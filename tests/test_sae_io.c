/*
 * tests/test_sae_io.c - checkpoints and `./run train` (cmd_train called in
 * process): the SAELens layout (W_enc = W_decᵀ, zero biases, cfg.json),
 * losses.csv, latents.npy, --init, and the errors a user can cause (k > L,
 * NaN in X, empty X, a checkpoint of the wrong width, a loss that becomes
 * NaN) - none of which may damage a good output folder.
 */
#include "cli/cli.h"
#include "core/json.h"
#include "core/util.h"
#include "sae/sae.h"
#include "tests/test.h"
#include "tests/test_util.h"
#include "tests/test_sae_golden.h"
#include "weights/npy.h"
#include "weights/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[256];

static int run_train(const char *args) {
    /* split args on spaces into argv for cmd_train */
    char buf[2048];
    snprintf(buf, sizeof buf, "train %s", args);
    char *argv[64];
    int argc = 0;
    for (char *tok = strtok(buf, " "); tok && argc < 63; tok = strtok(NULL, " ")) argv[argc++] = tok;
    argv[argc] = NULL;
    fflush(stdout);
    int rc = cmd_train(argc, argv);
    fflush(stdout);
    return rc;
}

static char *p_(const char *name) {
    static char bufs[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(bufs[i], sizeof bufs[i], "%s/%s", dir, name);
    return bufs[i];
}

int main(void) {
    snprintf(dir, sizeof dir, "/tmp/test_sae_io.%d", (int)getpid());
    path_mkdirs(dir);
    const int T = 30, d = 24, L = 48;
    float *X = malloc(sizeof(float) * T * d), *W = malloc(sizeof(float) * L * d);
    sae_test_inputs(T, d, L, 21, X, W);
    if (npy_write_f32(p_("acts.npy"), X, (int64_t[]){T, d}, 2) != 0) {
        CHECK(0, "npy_write_f32: %s", err_get());
        return test_finish();
    }

    /* ---- a run and what it writes ---- */
    char args[1024];
    snprintf(args, sizeof args, "--acts %s -o %s --epochs 7 --k 6 --decor-weight 0.01 --seed 5 --quiet", p_("acts.npy"), p_("run"));
    CHECK(run_train(args) == 0, "train --acts ... -o DIR --epochs 7 --k 6 exits 0");
    SafeTensors st;
    memset(&st, 0, sizeof st);
    if (safetensors_open(&st, p_("run/sae_weights.safetensors")) != 0) {
        CHECK(0, "open the checkpoint: %s", err_get());
        return test_finish();
    }
    const STTensor *we = safetensors_find(&st, "W_enc"), *wd = safetensors_find(&st, "W_dec");
    const STTensor *be = safetensors_find(&st, "b_enc"), *bd = safetensors_find(&st, "b_dec");
    CHECK(we && wd && be && bd, "checkpoint has W_enc, W_dec, b_enc, b_dec");
    if (!(we && wd && be && bd)) return test_finish();
    CHECK(we->ndim == 2 && we->shape[0] == d && we->shape[1] == L && wd->ndim == 2 && wd->shape[0] == L &&
              wd->shape[1] == d && be->ndim == 1 && be->shape[0] == L && bd->ndim == 1 && bd->shape[0] == d,
          "shapes: W_enc [d_in, d_sae] = [%lld, %lld], W_dec [d_sae, d_in] = [%lld, %lld], b_enc [%lld], b_dec [%lld]",
          (long long)we->shape[0], (long long)we->shape[1], (long long)wd->shape[0], (long long)wd->shape[1],
          (long long)be->shape[0], (long long)bd->shape[0]);
    const float *Wenc = safetensors_f32(&st, we), *Wdec = safetensors_f32(&st, wd);
    const float *benc = safetensors_f32(&st, be), *bdec = safetensors_f32(&st, bd);
    int tr = 1, zeros = 1;
    for (int l = 0; l < L; l++)
        for (int j = 0; j < d; j++) tr &= Wenc[j * L + l] == Wdec[l * d + j];
    for (int l = 0; l < L; l++) zeros &= benc[l] == 0.0f;
    for (int j = 0; j < d; j++) zeros &= bdec[j] == 0.0f;
    CHECK(tr, "W_enc is exactly W_decᵀ (tied weights)");
    CHECK(zeros, "b_enc and b_dec are zeros");

    /* the library, from the same seed, gives the same weights */
    SAEParams p = sae_default_params();
    p.epochs = 7; p.k = 6; p.decor_weight = 0.01f; p.seed = 5;
    SAE ref;
    sae_init(&ref, d, &p);
    SAEResult rr;
    sae_train(&ref, X, T, &p, &rr);
    check_close("checkpoint W_dec = sae_train's weights", Wdec, ref.W, (long)L * d, 0.0f, 0.0f);

    /* cfg.json */
    char *text;
    size_t len;
    JSON cfg;
    memset(&cfg, 0, sizeof cfg);
    int ok = file_read_all(p_("run/cfg.json"), &text, &len) == 0 && json_parse(&cfg, text, len) == 0;
    CHECK(ok, "cfg.json is JSON");
    if (ok) {
        long long din = 0, dsae = 0, k = 0;
        const JSON *hn = json_get(&cfg, "hook_name"), *mn = json_get(&cfg, "model_name");
        const JSON *ar = json_get(&cfg, "architecture"), *md = json_get(&cfg, "metadata");
        const JSON *pb = json_get(md, "prepend_bos"), *mh = json_get(md, "hook_name");
        json_as_int(json_get(&cfg, "d_in"), &din);
        json_as_int(json_get(&cfg, "d_sae"), &dsae);
        json_as_int(json_get(&cfg, "k"), &k);
        CHECK(din == d && dsae == L && k == 6 && hn && hn->str && strcmp(hn->str, "blocks.6.mlp.hook_pre") == 0 && mn &&
                  mn->str && strcmp(mn->str, "gpt2") == 0 && ar && ar->str && strcmp(ar->str, "topk") == 0 && pb &&
                  pb->type == JSON_BOOL && !pb->boolean && mh && mh->str && strcmp(mh->str, "blocks.6.mlp.hook_pre") == 0,
              "cfg.json (SAELens 6): architecture topk, d_in %lld, d_sae %lld, k %lld, model gpt2, hook "
              "blocks.6.mlp.hook_pre, metadata.prepend_bos false", din, dsae, k);
        json_free(&cfg);
        free(text);
    }

    /* losses.csv */
    ok = file_read_all(p_("run/losses.csv"), &text, &len) == 0;
    if (ok) {
        int lines = 0;
        for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
        double e, tot, sp, dc;
        const char *row = strchr(text, '\n');
        double mse;
        int n = row ? sscanf(row + 1, "%lf,%lf,%lf,%lf,%lf", &e, &tot, &sp, &dc, &mse) : 0;
        const char *head = "epoch,total,sparsity,decorrelation,mse\n";
        CHECK(strncmp(text, head, strlen(head)) == 0 && lines == 8 && n == 5 && e == 1 &&
                  fabs(tot - rr.losses[0].total) <= 1e-7 * tot && fabs(dc - rr.losses[0].decor) <= 1e-7 * dc &&
                  fabs(mse - rr.losses[0].mse) <= 1e-7 * mse,
              "losses.csv: the pipeline's header epoch,total,sparsity,decorrelation,mse and 7 rows matching "
              "sae_train's losses");
        free(text);
    } else {
        CHECK(0, "losses.csv: %s", err_get());
    }

    /* latents.npy = the final ẑ */
    Npy lat;
    if (npy_read(&lat, p_("run/latents.npy")) == 0) {
        CHECK(lat.dtype == NPY_F32 && lat.ndim == 2 && lat.shape[0] == T && lat.shape[1] == L, "latents.npy is float32 (T, L) = (%lld, %lld)",
              (long long)lat.shape[0], (long long)(lat.ndim > 1 ? lat.shape[1] : 0));
        if (lat.numel == (int64_t)T * L) check_close("latents.npy = sae_train's final latents", lat.f32, rr.latents, (long)T * L, 0.0f, 0.0f);
        npy_free(&lat);
    } else {
        CHECK(0, "latents.npy: %s", err_get());
    }

    /* ---- --init: resume from the checkpoint ---- */
    snprintf(args, sizeof args, "--acts %s -o %s --epochs 3 --decor-weight 0.01 --init %s --quiet", p_("acts.npy"), p_("resumed"),
             p_("run/sae_weights.safetensors"));
    CHECK(run_train(args) == 0, "train --init DIR/sae_weights.safetensors exits 0");
    SAE back;
    if (sae_load(&back, p_("resumed/sae_weights.safetensors")) == 0) {
        SAEParams p3 = p;
        p3.epochs = 3;
        SAEResult r3;
        sae_train(&ref, X, T, &p3, &r3);   /* continue the library's SAE by 3 epochs (fresh Adam, as --init) */
        CHECK(back.k == 6, "--init keeps the checkpoint's k (%d)", back.k);
        check_close("--init then 3 epochs = 3 more epochs in the library", back.W, ref.W, (long)L * d, 0.0f, 0.0f);
        sae_result_free(&r3);
        sae_free(&back);
    } else {
        CHECK(0, "load the resumed checkpoint: %s", err_get());
    }

    /* ---- bad input never damages the good folder ---- */
    test_copy_file(p_("run/sae_weights.safetensors"), p_("good.safetensors"));
    snprintf(args, sizeof args, "--acts %s -o %s --k 49 --quiet", p_("acts.npy"), p_("run"));
    CHECK(run_train(args) != 0, "--k 49 > L = 48 fails");
    snprintf(args, sizeof args, "--acts %s -o %s --k 0 --quiet", p_("acts.npy"), p_("run"));
    CHECK(run_train(args) != 0, "--k 0 fails");
    X[5] = NAN;
    npy_write_f32(p_("nan.npy"), X, (int64_t[]){T, d}, 2);
    X[5] = 0.5f;
    snprintf(args, sizeof args, "--acts %s -o %s --quiet", p_("nan.npy"), p_("run"));
    CHECK(run_train(args) != 0 && strstr(err_get(), "nan.npy") && strstr(err_get(), "input is bad") &&
              strstr(err_get(), "token 0") && !strstr(err_get(), "--lr"),
          "X with a NaN fails, naming the file and the row, not the learning rate: %s", err_get());
    npy_write_f32(p_("empty.npy"), X, (int64_t[]){0, d}, 2);
    snprintf(args, sizeof args, "--acts %s -o %s --quiet", p_("empty.npy"), p_("run"));
    CHECK(run_train(args) != 0, "an empty X (0 tokens) fails");
    npy_write_f32(p_("narrow.npy"), X, (int64_t[]){T, d - 4}, 2);
    snprintf(args, sizeof args, "--acts %s -o %s --init %s --quiet", p_("narrow.npy"), p_("run"), p_("good.safetensors"));
    CHECK(run_train(args) != 0, "a checkpoint whose width does not match X fails");
    snprintf(args, sizeof args, "--acts %s -o %s --quiet", p_("missing.npy"), p_("run"));
    CHECK(run_train(args) != 0, "a missing --acts file fails");
    CHECK(test_files_same(p_("run/sae_weights.safetensors"), p_("good.safetensors")), "after all that, DIR/sae_weights.safetensors is untouched");

    /* ---- options ---- */
    snprintf(args, sizeof args, "--acts %s -o %s --device tpu --quiet", p_("acts.npy"), p_("opt"));
    CHECK(run_train(args) == 2 && !path_is_dir(p_("opt")), "--device tpu refused (exit 2), nothing written");
    snprintf(args, sizeof args, "--acts %s -o %s --quiet -- extra", p_("acts.npy"), p_("opt"));
    CHECK(run_train(args) == 2 && !path_is_dir(p_("opt")), "an argument after -- refused (train takes only options)");
    snprintf(args, sizeof args, "--acts %s -o %s --epochs 1 --device cpu --quiet --", p_("acts.npy"), p_("opt"));
    CHECK(run_train(args) == 0 && path_is_file(p_("opt/sae_weights.safetensors")), "--device cpu, and a final -- ends the options");

    /* ---- DIR is replaced as one unit ---- */
    snprintf(args, sizeof args, "--acts %s -o %s --epochs 5 --save-every 2 --seed 5 --quiet", p_("acts.npy"),
             p_("unit"));
    CHECK(run_train(args) == 0, "train --save-every 2 --epochs 5 exits 0");
    CHECK(path_is_file(p_("unit/sae_weights.safetensors")) && path_is_file(p_("unit/latents.npy")) &&
              path_is_file(p_("unit/losses.csv")) && path_is_file(p_("unit/cfg.json")),
          "DIR holds the final unit (sae_weights.safetensors, cfg.json, losses.csv, latents.npy)");
    char *csv = NULL;
    size_t csv_len = 0;
    int rows = -1;
    if (file_read_all(p_("unit/losses.csv"), &csv, &csv_len) == 0) {
        rows = -1;
        for (size_t i = 0; i < csv_len; i++) rows += csv[i] == '\n';
        free(csv);
    }
    CHECK(rows == 5, "... whose losses.csv has the 5 epochs (%d)", rows);
    FILE *mine = fopen(p_("unit/notes.txt"), "w");
    if (mine) fputs("a user's file\n", mine), fclose(mine);
    test_copy_file(p_("unit/sae_weights.safetensors"), p_("unit_before.safetensors"));
    CHECK(run_train(args) != 0 && strstr(err_get(), "unit"),
          "a DIR holding a file the engine did not write is refused: %s", err_get());
    CHECK(path_is_file(p_("unit/notes.txt")) && test_files_same(p_("unit/sae_weights.safetensors"), p_("unit_before.safetensors")),
          "... and left as it was");
    /* a failed run between checkpoints: DIR holds a whole checkpoint, never a mix */
    remove(p_("unit/notes.txt"));
    snprintf(args, sizeof args, "--acts %s -o %s --epochs 40 --save-every 1 --lr 1e37 --quiet", p_("acts.npy"),
             p_("unit"));
    CHECK(run_train(args) == 1, "a run whose loss becomes NaN after --save-every checkpoints exits 1");
    rows = -1;
    if (file_read_all(p_("unit/losses.csv"), &csv, &csv_len) == 0) {
        rows = -1;
        for (size_t i = 0; i < csv_len; i++) rows += csv[i] == '\n';
        free(csv);
    }
    CHECK(rows >= 1 && !path_is_file(p_("unit/latents.npy")),
          "... DIR is one unit: the last good weights and their %d epochs of losses, no latents.npy of the "
          "earlier run", rows);

    /* ---- a loss that becomes NaN ---- */
    snprintf(args, sizeof args, "--acts %s -o %s --epochs 40 --lr 1e37 --quiet", p_("acts.npy"), p_("nan_run"));
    CHECK(run_train(args) == 1, "a loss that becomes NaN stops training with exit status 1");
    SAE nanw;
    if (sae_load(&nanw, p_("nan_run/sae_weights.safetensors")) == 0) {
        int fin = 1;
        for (int i = 0; i < L * d; i++) fin &= isfinite(nanw.W[i]);
        CHECK(fin, "the checkpoint left behind holds the last weights with a finite loss");
        sae_free(&nanw);
    } else {
        CHECK(0, "no checkpoint after the NaN stop: %s", err_get());
    }
    CHECK(!path_is_file(p_("nan_run/latents.npy")), "no latents.npy from a failed run");

    safetensors_close(&st);
    sae_result_free(&rr);
    sae_free(&ref);
    free(X); free(W);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) printf("  (could not remove %s)\n", dir);
    return test_finish();
}
