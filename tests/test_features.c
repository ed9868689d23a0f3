/*
 * tests/test_features.c - features/ against a plain computation over the
 * whole latent matrix of a small random model and a random SAE: density,
 * mean, max, the top windows (sets, order, the tie rule, contexts), the
 * histograms, the seeded quantile samples (reproducible), the logit effects
 * (a direct matrix product in double), the state's size (it does not grow
 * with the corpus), the browser's files, and bad input.
 */
#include "core/util.h"
#include "eval/intervene.h"
#include "features/features.h"
#include "gpt2/gpt2.h"
#include "sae/sae.h"
#include "tests/hash_model.h"
#include "tests/test.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { NCTX = 32, CTX = 8, NW = 12, V = 60, C = 16 };

typedef struct { float a; int64_t pos; uint64_t key; } Item;

static int cmp_top(const void *x, const void *y) {
    const Item *a = x, *b = y;
    if (a->a != b->a) return a->a > b->a ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}
static int cmp_key(const void *x, const void *y) {
    const Item *a = x, *b = y;
    if (a->key != b->key) return a->key < b->key ? -1 : 1;
    return a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* The reference context of (latent i, stream position pos): the tokens and
 * activations of its window within ±r. Returns 1 if it equals tok/ctx (W). */
static int ctx_equal(const uint16_t *tok, const float *ctx, const int32_t *ids, const float *Fall, int n, int i,
                     int64_t pos, int r) {
    int64_t w = pos / CTX, t = pos % CTX;
    for (int k = -r; k <= r; k++) {
        int64_t u = t + k;
        int in = u >= 0 && u < CTX;
        uint16_t et = in ? (uint16_t)ids[w * CTX + u] : FEAT_NO_TOKEN;
        float ea = in ? Fall[(size_t)(w * CTX + u) * n + i] : 0.0f;
        if (tok[k + r] != et || ctx[k + r] != ea) return 0;
    }
    return 1;
}

static void run_stats(FeatStats *fs, int n, const FeatParams *p, const float *Fall, const int32_t *ids,
                      const uint8_t *mask, int nw) {
    feat_init(fs, n, p);
    for (int pass = 1; pass <= 2; pass++) {
        feat_begin_pass(fs, pass);
        for (int w = 0; w < nw; w++)
            feat_add(fs, Fall + (size_t)w * CTX * n, ids + w * CTX, mask + w * CTX, CTX, (int64_t)w * CTX);
    }
    feat_finish(fs);
}

int main(void) {
    GPT2Model m;
    float *store = hash_model(&m, 2, 2, C, V, NCTX, 0.25f);
    const int layer = 1, d = 4 * C;
    char hook[64];
    gpt2_site_tl_name(hook, sizeof hook, layer, GPT2_MLP_PRE);
    SAEParams sp = sae_default_params();
    sp.latents = 48, sp.k = 12, sp.seed = 3;
    SAE sae;
    if (sae_init(&sae, d, &sp) != 0) { CHECK(0, "sae_init: %s", err_get()); return test_finish(); }
    EvalSAE es;
    eval_sae_wrap(&es, &sae, m.cfg.name, hook);
    const int n = es.d_sae;

    /* windows: window w + 6 repeats window w for w < 3, so activations tie
       exactly (same tokens, same positions); position 0 is masked (BOS) */
    int32_t ids[NW * CTX];
    uint8_t mask[NW * CTX];
    for (int w = 0; w < NW; w++)
        for (int t = 0; t < CTX; t++) {
            int src = (w >= 6 && w < 9) ? w - 6 : w;
            ids[w * CTX + t] = t == 0 ? V - 1 : (int)((src * 37 + t * 11 + src * t) % (V - 1));
            mask[w * CTX + t] = t != 0;
        }
    GPT2Forward f;
    gpt2_forward_init(&f, &m);
    float *x = xmalloc(sizeof(float) * CTX * d), *Fall = xmalloc(sizeof(float) * NW * CTX * n);
    for (int w = 0; w < NW; w++) {
        gpt2_capture(&f, ids + w * CTX, CTX, layer, GPT2_MLP_PRE, x);
        es.encode(&es, x, CTX, Fall + (size_t)w * CTX * n);
    }

    FeatParams p = feat_default_params();
    p.top_k = 6, p.radius = 3, p.n_intervals = 4, p.per_interval = 3, p.n_bins = 7, p.n_logits = 5, p.seed = 11;
    FeatStats fs;
    run_stats(&fs, n, &p, Fall, ids, mask, NW);

    /* the plain computation, latent by latent */
    int bad_dens = 0, bad_top = 0, bad_ctx = 0, bad_hist = 0, bad_smp = 0, bad_sum = 0, ties = 0, full = 0;
    Item *items = xmalloc(sizeof(Item) * NW * CTX);
    for (int i = 0; i < n; i++) {
        int ni = 0;
        double sum = 0;
        float mx = 0;
        for (int64_t pos = 0; pos < NW * CTX; pos++) {
            float a = Fall[(size_t)pos * n + i];
            if (!mask[pos] || !(a > 0)) continue;
            items[ni++] = (Item){a, pos, feat_key(p.seed, i, pos)};
            sum += a, mx = a > mx ? a : mx;
        }
        if (fs.fires[i] != ni || fs.max[i] != mx || fabs(fs.sum[i] - sum) > 1e-9 * (1 + sum)) bad_dens++;
        qsort(items, (size_t)ni, sizeof(Item), cmp_top);
        int kk = ni < p.top_k ? ni : p.top_k;
        full += ni > p.top_k;
        if (fs.top_n[i] != kk) bad_top++;
        for (int e = 0; e < kk && e < fs.top_n[i]; e++) {
            const FeatEx *ex = &fs.top[(size_t)i * p.top_k + e];
            if (ex->act != items[e].a || ex->pos != items[e].pos) bad_top++;
            if (e + 1 < ni && items[e + 1].a == items[e].a) ties++;
            if (!ctx_equal(fs.top_tok + ((size_t)i * p.top_k + e) * fs.W, fs.top_ctx + ((size_t)i * p.top_k + e) * fs.W,
                           ids, Fall, n, i, items[e].pos, p.radius))
                bad_ctx++;
        }
        /* histogram and samples against the final max */
        uint32_t hist[64] = {0};
        long hsum = 0;
        for (int b = 0; b < p.n_bins; b++) hsum += fs.hist[(size_t)i * p.n_bins + b];
        if (hsum != ni) bad_sum++;
        for (int e = 0; e < ni; e++) {
            int b = (int)floor((double)items[e].a * p.n_bins / mx);
            hist[b >= p.n_bins ? p.n_bins - 1 : b]++;
        }
        for (int b = 0; b < p.n_bins; b++) bad_hist += hist[b] != fs.hist[(size_t)i * p.n_bins + b];
        for (int q = 0; q < p.n_intervals; q++) {
            Item in_q[NW * CTX];
            int nq = 0;
            for (int e = 0; e < ni; e++) {
                int b = (int)floor((double)items[e].a * p.n_intervals / mx);
                if ((b >= p.n_intervals ? p.n_intervals - 1 : b) == q) in_q[nq++] = items[e];
            }
            qsort(in_q, (size_t)nq, sizeof(Item), cmp_key);
            size_t c = (size_t)i * p.n_intervals + q;
            int want = nq < p.per_interval ? nq : p.per_interval;
            if (fs.smp_seen[c] != nq || fs.smp_n[c] != want) { bad_smp++; continue; }
            for (int e = 0; e < want; e++) {
                const FeatEx *ex = &fs.smp[c * p.per_interval + e];
                if (ex->pos != in_q[e].pos || ex->act != in_q[e].a || ex->key != in_q[e].key) bad_smp++;
                if (!ctx_equal(fs.smp_tok + (c * p.per_interval + e) * fs.W, fs.smp_ctx + (c * p.per_interval + e) * fs.W,
                               ids, Fall, n, i, in_q[e].pos, p.radius))
                    bad_ctx++;
            }
        }
    }
    CHECK(bad_dens == 0, "density, sum and max of %d latents equal the plain computation (%d differ)", n, bad_dens);
    CHECK(bad_top == 0 && full > 0,
          "top-%d sets and order equal a full sort by (activation desc, position asc) (%d differ; %d latents "
          "fire more than %d times)", p.top_k, bad_top, full, p.top_k);
    CHECK(ties > 0, "the data holds exact ties inside the top windows (%d), resolved to the earlier position", ties);
    CHECK(bad_ctx == 0, "every example's context (±%d tokens, activations) equals its window's (%d differ)", p.radius,
          bad_ctx);
    CHECK(bad_sum == 0, "each latent's histogram counts sum to its firing positions (%d differ)", bad_sum);
    CHECK(bad_hist == 0, "histogram counts equal the plain binning over (0, max] (%d bins differ)", bad_hist);
    CHECK(bad_smp == 0, "quantile samples equal the bottom-%d keys of each interval (%d differ)", p.per_interval, bad_smp);

    /* reproducible; another seed draws other samples */
    FeatStats fs2, fs3;
    run_stats(&fs2, n, &p, Fall, ids, mask, NW);
    size_t S = (size_t)n * p.n_intervals * p.per_interval;
    int same = !memcmp(fs.smp_n, fs2.smp_n, sizeof(int) * n * p.n_intervals);
    for (size_t e = 0; e < S && same; e++) same = fs.smp[e].pos == fs2.smp[e].pos;
    CHECK(same, "the same seed gives the same samples");
    FeatParams p3 = p;
    p3.seed = 12;
    run_stats(&fs3, n, &p3, Fall, ids, mask, NW);
    int diff = 0;
    for (size_t e = 0; e < S; e++) diff += fs.smp[e].pos != fs3.smp[e].pos;
    CHECK(diff > 0, "another seed draws other samples (%d of %zu slots differ)", diff, S);

    /* memory: feat_add allocates nothing (the heap in use is the same after
       one window and after all windows of both passes, 5 times over) */
    {
        FeatStats mm;
        feat_init(&mm, n, &p);
        feat_add(&mm, Fall, ids, mask, CTX, 0);   /* starts the thread pool, if not yet */
        size_t before = mallinfo2().uordblks;
        for (int rep = 0; rep < 5; rep++)
            for (int pass = 1; pass <= 2; pass++) {
                feat_begin_pass(&mm, pass);
                for (int w = 0; w < NW; w++)
                    feat_add(&mm, Fall + (size_t)w * CTX * n, ids + w * CTX, mask + w * CTX, CTX,
                             (int64_t)(rep * NW + w) * CTX);
            }
        size_t after = mallinfo2().uordblks;
        if (before == 0 && after == 0) SKIP("the heap in use: mallinfo2 sees nothing (a sanitizer's allocator)");
        else CHECK(after == before, "the heap in use after %lld positions equals that after one window (%zu, %zu bytes)",
                   (long long)mm.positions, before, after);
        feat_free(&mm);
    }
    /* memory: the state is sized by the latents alone */
    FeatStats small;
    run_stats(&small, n, &p, Fall, ids, mask, 2);
    CHECK(feat_bytes(&small) == feat_bytes(&fs) && small.positions < fs.positions,
          "the state holds %zu bytes after %lld positions and after %lld", feat_bytes(&fs),
          (long long)small.positions, (long long)fs.positions);
    feat_free(&small), feat_free(&fs2), feat_free(&fs3);

    /* feat_collect_ids runs the same passes through the model itself */
    {
        uint8_t ones[NW * CTX];
        memset(ones, 1, sizeof ones);
        FeatStats ref, got;
        run_stats(&ref, n, &p, Fall, ids, ones, NW);
        feat_init(&got, n, &p);
        FeatTimes tm;
        int rc = feat_collect_ids(&got, &f, &es, layer, GPT2_MLP_PRE, ids, NW * CTX, CTX, &tm);
        size_t K = (size_t)n * p.top_k, S2 = (size_t)n * p.n_intervals * p.per_interval;
        int eq = rc == 0 && got.positions == ref.positions && !memcmp(got.top_n, ref.top_n, sizeof(int) * n) &&
                 !memcmp(got.hist, ref.hist, sizeof(uint32_t) * n * p.n_bins) &&
                 !memcmp(got.smp_n, ref.smp_n, sizeof(int) * n * p.n_intervals);
        for (size_t e = 0; eq && e < K; e++) eq = got.top[e].pos == ref.top[e].pos && got.top[e].act == ref.top[e].act;
        for (size_t e = 0; eq && e < S2; e++) eq = got.smp[e].pos == ref.smp[e].pos;
        CHECK(eq && tm.tokens == NW * CTX, "feat_collect_ids (model + encoder + both passes) equals the passes over the "
              "latent matrix (%lld positions, forward %.3f s, encode %.3f s, upkeep %.3f s)", (long long)got.positions,
              tm.forward, tm.encode, tm.upkeep);
        feat_free(&got);
        feat_init(&got, n, &p);
        CHECK(feat_collect_ids(&got, &f, &es, layer, GPT2_MLP_PRE, ids, CTX - 1, CTX, NULL) != 0,
              "a token set shorter than one window: refused (%s)", err_get());
        CHECK(feat_collect_ids(&got, &f, &es, layer, GPT2_RESID_POST, ids, NW * CTX, CTX, NULL) != 0,
              "an SAE that does not fit the site: refused (%s)", err_get());
        feat_free(&got), feat_free(&ref);
    }

    /* logit effects against a direct product in double */
    FeatLogits lg;
    CHECK(feat_logits(&lg, &es, &m, layer, GPT2_MLP_PRE, &p) == 0, "logit effects computed");
    int bad_lg = 0, bad_lh = 0;
    double worst = 0;
    for (int i = 0; i < n; i++) {
        double r[C], lv[V];
        for (int c = 0; c < C; c++) {
            double s = 0;
            for (int j = 0; j < d; j++) s += (double)es.W_dec[(size_t)i * d + j] * m.w.h[layer].fcprojw[(size_t)j * C + c];
            r[c] = s * m.w.lnfw[c];
        }
        for (int v = 0; v < V; v++) {
            double s = 0;
            for (int c = 0; c < C; c++) s += r[c] * m.w.lm_head[(size_t)v * C + c];
            lv[v] = s;
        }
        /* the k-th largest value and every id whose value is within 1e-5 of it */
        for (int e = 0; e < p.n_logits; e++) {
            int id = lg.top_id[i * p.n_logits + e], bid = lg.bot_id[i * p.n_logits + e];
            int rank = 0, brank = 0;
            for (int v = 0; v < V; v++) rank += lv[v] > lv[id] + 1e-5, brank += lv[v] < lv[bid] - 1e-5;
            if (rank > e || brank > e) bad_lg++;
            worst = fmax(worst, fabs(lg.top_val[i * p.n_logits + e] - lv[id]));
            worst = fmax(worst, fabs(lg.bot_val[i * p.n_logits + e] - lv[bid]));
        }
        long hs = 0;
        for (int b = 0; b < p.n_bins; b++) hs += lg.hist[i * p.n_bins + b];
        bad_lh += hs != V;
    }
    CHECK(bad_lg == 0 && worst < 1e-5, "top/bottom %d logits equal the double product (%d misranked, worst |diff| %.2g)",
          p.n_logits, bad_lg, worst);
    CHECK(bad_lh == 0, "every logit histogram counts all %d tokens (%d differ)", V, bad_lh);

    /* the browser's files */
    char dir[] = "/tmp/test_features_XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "a temporary folder");
    char *out = path_join(dir, "fb");
    FeatInfo info = {"hash model", hook, "random SAE", NULL, "test windows", CTX, V, 0, 0, 0, NULL};
    CHECK(feat_write_browser(out, &fs, &lg, NULL, &info) == 0, "the browser is written");
    char *idx = path_join(out, "index.html"), *s0 = path_join(out, "data/s_00000.js");
    CHECK(path_is_file(idx) && path_is_file(s0), "index.html and the first shard exist");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "node tests/features_check.js %s %d >/dev/null", out, n);
    if (system("command -v node >/dev/null 2>&1") == 0) CHECK(system(cmd) == 0, "the data files parse and hold %d latents (%s)", n, cmd);
    else SKIP("the data files' shapes: no node");
    /* the same statistics by brute force in Python, from the latent matrix */
    {
        char *fp = path_join(dir, "F.f32"), *ip = path_join(dir, "ids.txt"), *mp = path_join(dir, "mask.txt");
        FILE *a = fopen(fp, "wb"), *b = fopen(ip, "w"), *c = fopen(mp, "w");
        int ok = a && b && c && fwrite(Fall, sizeof(float), (size_t)NW * CTX * n, a) == (size_t)NW * CTX * n;
        for (int t = 0; ok && t < NW * CTX; t++) fprintf(b, "%d\n", ids[t]), fprintf(c, "%d\n", mask[t]);
        if (a) fclose(a);
        if (b) fclose(b);
        if (c) fclose(c);
        CHECK(ok, "the latent matrix, ids and mask written for the Python check");
        snprintf(cmd, sizeof cmd, "python3 tests/features_brute.py %s %d %d %d %d %d %d %d %d %llu", dir, n, NW, CTX,
                 p.top_k, p.radius, p.n_intervals, p.per_interval, p.n_bins, (unsigned long long)p.seed);
        fflush(stdout);
        if (system("command -v python3 >/dev/null 2>&1") == 0) CHECK(system(cmd) == 0, "%s", cmd);
        else SKIP("the Python brute force: no python3");
        free(fp), free(ip), free(mp);
    }

    /* the pipeline's path: some latents, from the latent matrix (no second forward), in two texts */
    {
        int sel[5] = {7, 2, 40, 11, 30};
        long bounds[3] = {0, 5 * CTX, NW * CTX};
        FeatLatents z = {ids, Fall, NW * CTX, n, bounds, 2, CTX, sel, 5};
        uint8_t ones[NW * CTX];
        memset(ones, 1, sizeof ones);
        FeatStats ref, got;
        run_stats(&ref, n, &p, Fall, ids, ones, NW);
        feat_init(&got, 5, &p);
        int rc = feat_collect_latents(&got, &z), bad = rc != 0;
        size_t S1 = (size_t)p.n_intervals * p.per_interval;
        for (int r = 0; r < 5 && !bad; r++) {
            int i = sel[r];
            bad |= got.id[r] != i || got.fires[r] != ref.fires[i] || got.max[r] != ref.max[i] ||
                   got.top_n[r] != ref.top_n[i] ||
                   memcmp(got.hist + (size_t)r * p.n_bins, ref.hist + (size_t)i * p.n_bins, sizeof(uint32_t) * p.n_bins);
            for (int e = 0; e < got.top_n[r] && !bad; e++)
                bad |= got.top[(size_t)r * p.top_k + e].pos != ref.top[(size_t)i * p.top_k + e].pos ||
                       memcmp(got.top_ctx + ((size_t)r * p.top_k + e) * got.W, ref.top_ctx + ((size_t)i * p.top_k + e) * ref.W,
                              sizeof(float) * got.W);
            for (size_t e = 0; e < S1 && !bad; e++)
                bad |= got.smp[r * S1 + e].pos != ref.smp[i * S1 + e].pos || got.smp[r * S1 + e].key != ref.smp[i * S1 + e].key;
        }
        CHECK(!bad, "feat_collect_latents of latents {7, 2, 40, 11, 30} of the latent matrix equals those rows of the "
              "full statistics (top windows, contexts, histograms, samples with the latents' own keys)");
        int wrong[2] = {3, n};
        FeatLatents zb = z;
        zb.sel = wrong, zb.n_sel = 2;
        FeatStats b2;
        feat_init(&b2, 2, &p);
        CHECK(feat_collect_latents(&b2, &zb) != 0, "a latent outside the SAE: refused (%s)", err_get());
        feat_free(&b2), feat_free(&got), feat_free(&ref);

        /* their logit effects: the rows of the full tables */
        FeatLogits ls;
        int lbad = feat_logits_of(&ls, &es, &m, layer, GPT2_MLP_PRE, &p, sel, 5) != 0;
        for (int r = 0; r < 5 && !lbad; r++)
            lbad |= memcmp(ls.top_id + r * p.n_logits, lg.top_id + sel[r] * p.n_logits, sizeof(int32_t) * p.n_logits) ||
                    memcmp(ls.bot_id + r * p.n_logits, lg.bot_id + sel[r] * p.n_logits, sizeof(int32_t) * p.n_logits) ||
                    memcmp(ls.hist + r * p.n_bins, lg.hist + sel[r] * p.n_bins, sizeof(uint32_t) * p.n_bins);
        CHECK(!lbad, "feat_logits_of the 5 latents equals their rows of feat_logits (tables and histograms)");
        feat_logits_free(&ls);

        char *out2 = path_join(dir, "fb2");
        FeatInfo info2 = {"hash model", hook, "random SAE", NULL, "two texts", 0, 0, 0, 0, 0, "a test's pick"};
        FeatTimes tb;
        CHECK(feat_build(out2, &m, &es, NULL, &z, &p, &info2, &tb) == 0 && info2.ctx == CTX && info2.sae_latents == n,
              "feat_build writes a browser of 5 of %d latents (upkeep %.4f s, logits %.4f s, write %.4f s)", n,
              tb.upkeep, tb.logits, tb.write);
        snprintf(cmd, sizeof cmd, "node tests/features_check.js %s 5 >/dev/null", out2);
        if (system("command -v node >/dev/null 2>&1") == 0) CHECK(system(cmd) == 0, "its data files parse (%s)", cmd);
        else SKIP("its data files' shapes: no node");
        free(out2);
    }

    /* the pipeline's pick: its drawn latents, then the rankings in turn, live ones only, up to the cap */
    {
        int by_a[6] = {5, 4, 3, 2, 1, 0}, by_b[6] = {0, 3, 1, 5, 2, 4}, first[2] = {2, 4};
        const int *rk[2] = {by_a, by_b};
        float dens[6] = {1, 1, 1, 0, 1, 1};   /* latent 3 never fired */
        int out[6], got = feat_pick(out, 6, first, 2, rk, 2, 6, dens);
        int want[5] = {2, 4, 5, 0, 1};
        CHECK(got == 5 && !memcmp(out, want, sizeof want),
              "feat_pick: drawn {2, 4}, then by turns 5, 0, (4 taken, 3 dead), 1: %d chosen, %d %d %d %d %d", got,
              out[0], out[1], out[2], out[3], out[4]);
        got = feat_pick(out, 3, first, 2, rk, 2, 6, dens);
        CHECK(got == 3 && out[2] == 5, "feat_pick stops at the cap (3)");
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) printf("  (could not remove %s)\n", dir);
    free(idx), free(s0), free(out);

    /* bad input */
    FeatStats z;
    CHECK(feat_init(&z, 0, &p) != 0, "no latents: refused (%s)", err_get());
    FeatParams pb = p;
    pb.top_k = 0;
    CHECK(feat_init(&z, n, &pb) != 0, "top_k 0: refused (%s)", err_get());
    FeatLogits lg2;
    CHECK(feat_logits(&lg2, &es, &m, layer, GPT2_RESID_PRE, &p) != 0,
          "an SAE whose d_in (%d) is not the site's width: refused (%s)", d, err_get());
    CHECK(feat_logits(&lg2, &es, &m, 9, GPT2_MLP_PRE, &p) != 0, "a layer the model lacks: refused (%s)", err_get());

    feat_logits_free(&lg);
    feat_free(&fs);
    free(items), free(x), free(Fall);
    gpt2_forward_free(&f);
    sae_free(&sae);
    free(m.w.h), free(store);
    return test_finish();
}
