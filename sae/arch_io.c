/*
 * sae/arch_io.c - checkpoints other tools load, and theirs loaded here.
 *
 * SAELens 6 (SAE.load_from_disk(DIR)): DIR/cfg.json + DIR/sae_weights.safetensors
 * (+ DIR/sparsity.safetensors, tensor "sparsity" (d_sae) = log10 feature
 * density). Tensors, F32:
 *   standard (our relu)   W_enc (d_in, d_sae), W_dec (d_sae, d_in), b_enc (d_sae), b_dec (d_in)
 *   topk                  the same; cfg "k"
 *   jumprelu              the same + threshold (d_sae)   (our batchtopk saves as this)
 *   gated                 W_enc, b_gate, r_mag, b_mag (d_sae), W_dec, b_dec
 * cfg.json: architecture, d_in, d_sae, dtype "float32", device "cpu",
 * apply_b_dec_to_input true, normalize_activations "none", reshape_activations
 * "none", metadata {model_name, hook_name, hook_head_index null, prepend_bos
 * false (the engine adds no BOS), context_size, dataset_path}; the same names
 * also at the top level for SAELens 5 (6 drops fields its config lacks).
 *
 * What is folded at save time, so the file needs nothing of our training:
 *   - the input scale s (x' = s x, relu's E||x'|| = sqrt(d)): with f' = f/s,
 *     f' = act(W_enc (x - b_dec/s) + b_enc/s), x̂ = W_decᵀ f' + b_dec/s, so
 *     b_enc, b_dec, b_mag and the thresholds are divided by s;
 *   - relu's decoder norms (the April update): W_enc[i] *= ||W_dec[i]||,
 *     b_enc[i] *= ||W_dec[i]||, W_dec[i] /= ||W_dec[i]|| (f_i scales by the norm,
 *     W_dec[i] f_i is unchanged).
 * Reading, a checkpoint with apply_b_dec_to_input false (Gemma Scope) is
 * turned into ours (which always subtracts b_dec): b_enc += W_enc b_dec
 * (gated: b_gate += W b_dec, b_mag += exp(r_mag) W b_dec).
 *
 * sparsify (EleutherAI; SparseCoder.load_from_disk(DIR)): DIR/cfg.json
 * (d_in, num_latents or expansion_factor, k) + DIR/sae.safetensors with
 * encoder.weight (num_latents, d_in) (nn.Linear's (out, in)), encoder.bias
 * (num_latents), W_dec (num_latents, d_in) - a clone of encoder.weight, so
 * rows are latents, the same orientation as SAELens' W_dec - and b_dec
 * (d_in). Its encoder is TopK(ReLU(W (x - b_dec) + b)), our topk.
 */
#include "sae/arch_io.h"
#include "core/json.h"
#include "core/util.h"
#include "weights/safetensors.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- writing ---- */

static const char *saelens_arch(SAEArchKind a) {
    switch (a) {
    case SAE_ARCH_RELU: return "standard";
    case SAE_ARCH_TOPK: return "topk";
    case SAE_ARCH_GATED: return "gated";
    default: return "jumprelu"; /* jumprelu, and batchtopk as its JumpReLU */
    }
}

static void write_str_field(FILE *f, const char *key, const char *v, const char *indent) {
    fprintf(f, "%s\"%s\": ", indent, key);
    if (v) json_write_string(f, v, strlen(v));
    else fprintf(f, "null");
}

/* The run's fields (model_name, hook_name, hook_head_index, prepend_bos,
 * context_size, dataset_path) at one indent, without a trailing comma:
 * SAELens 6 reads them from "metadata", older loaders at the top level, so
 * they are written in both places. */
static void write_run_fields(FILE *f, const char *model, const char *hook, int ctx, const char *data,
                             const char *ind) {
    write_str_field(f, "model_name", model, ind);
    fprintf(f, ",\n");
    write_str_field(f, "hook_name", hook, ind);
    fprintf(f, ",\n%s\"hook_head_index\": null,\n%s\"prepend_bos\": false,\n%s\"context_size\": %d,\n", ind, ind,
            ind, ctx);
    write_str_field(f, "dataset_path", data, ind);
}

static int write_cfg(const char *path, const char *arch, int d, int n, int k, const SAEArchMeta *meta) {
    char tmp[4096];
    FILE *f = file_begin(path, tmp, sizeof tmp);
    if (!f) return -1;
    const char *model = meta && meta->model_name ? meta->model_name : "gpt2";
    const char *hook = meta && meta->hook_name ? meta->hook_name : "blocks.6.mlp.hook_pre";
    const char *data = meta && meta->dataset_path ? meta->dataset_path : "";
    const int ctx = meta ? meta->context_size : 0;
    fprintf(f, "{\n  \"architecture\": \"%s\",\n  \"d_in\": %d,\n  \"d_sae\": %d,\n", arch, d, n);
    if (k > 0) fprintf(f, "  \"k\": %d,\n  \"rescale_acts_by_decoder_norm\": false,\n", k);
    fprintf(f, "  \"dtype\": \"float32\",\n  \"device\": \"cpu\",\n  \"apply_b_dec_to_input\": true,\n"
               "  \"normalize_activations\": \"none\",\n  \"reshape_activations\": \"none\",\n");
    fprintf(f, "  \"metadata\": {\n");
    write_run_fields(f, model, hook, ctx, data, "    ");
    fprintf(f, "\n  },\n");
    write_run_fields(f, model, hook, ctx, data, "  ");
    fprintf(f, "\n}\n");
    if (ferror(f)) {
        file_abort(f, tmp);
        return err_set("%s: write failed", path);
    }
    return file_commit(f, tmp, path);
}

/* (rows, cols) -> (cols, rows) */
static float *transpose(const float *a, int rows, int cols) {
    float *t = xmalloc((size_t)rows * cols * sizeof(float));
    for (int r = 0; r < rows; r++)
        for (int c = 0; c < cols; c++) t[(size_t)c * rows + r] = a[(size_t)r * cols + c];
    return t;
}

int sae_arch_save_saelens(const SAEArch *m, const char *dir, const SAEArchMeta *meta, const float *log10_density) {
    const int d = m->p.d, n = m->p.n;
    const float inv_s = 1.0f / m->input_scale;
    if (path_mkdirs(dir) != 0) return -1;
    /* folded copies */
    float *W_enc = xmalloc((size_t)n * d * sizeof(float)), *W_dec = xmalloc((size_t)n * d * sizeof(float));
    float *b_enc = xmalloc((size_t)n * sizeof(float)), *b_dec = xmalloc((size_t)d * sizeof(float));
    float *extra = xmalloc((size_t)n * sizeof(float)); /* threshold, or b_mag */
    memcpy(W_enc, m->W_enc, (size_t)n * d * sizeof(float));
    memcpy(W_dec, m->W_dec, (size_t)n * d * sizeof(float));
    for (int i = 0; i < n; i++) b_enc[i] = m->b_enc[i] * inv_s;
    for (int j = 0; j < d; j++) b_dec[j] = m->b_dec[j] * inv_s;
    for (int i = 0; i < n; i++) {
        if (m->p.arch == SAE_ARCH_JUMPRELU) extra[i] = expf(m->log_threshold[i]) * inv_s;
        else if (m->p.arch == SAE_ARCH_BATCHTOPK) extra[i] = m->threshold * inv_s;
        else if (m->p.arch == SAE_ARCH_GATED) extra[i] = m->b_mag[i] * inv_s;
    }
    if (m->p.arch == SAE_ARCH_RELU) {
        for (int i = 0; i < n; i++) {
            double s = 0;
            for (int j = 0; j < d; j++) s += (double)W_dec[(size_t)i * d + j] * W_dec[(size_t)i * d + j];
            const float nr = (float)sqrt(s);
            if (nr == 0) continue;
            for (int j = 0; j < d; j++) W_dec[(size_t)i * d + j] /= nr, W_enc[(size_t)i * d + j] *= nr;
            b_enc[i] *= nr;
        }
    }
    float *W_enc_t = transpose(W_enc, n, d); /* SAELens: (d_in, d_sae) */
    STWriter w;
    st_writer_init(&w);
    st_writer_add(&w, "W_enc", (int64_t[]){d, n}, 2, W_enc_t);
    st_writer_add(&w, "W_dec", (int64_t[]){n, d}, 2, W_dec);
    st_writer_add(&w, m->p.arch == SAE_ARCH_GATED ? "b_gate" : "b_enc", (int64_t[]){n}, 1, b_enc);
    st_writer_add(&w, "b_dec", (int64_t[]){d}, 1, b_dec);
    if (m->p.arch == SAE_ARCH_JUMPRELU || m->p.arch == SAE_ARCH_BATCHTOPK)
        st_writer_add(&w, "threshold", (int64_t[]){n}, 1, extra);
    if (m->p.arch == SAE_ARCH_GATED) {
        st_writer_add(&w, "r_mag", (int64_t[]){n}, 1, m->r_mag);
        st_writer_add(&w, "b_mag", (int64_t[]){n}, 1, extra);
    }
    st_writer_meta(&w, "format", "pt");
    char *wpath = path_join(dir, "sae_weights.safetensors"), *cpath = path_join(dir, "cfg.json");
    int rc = st_writer_write(&w, wpath);
    st_writer_free(&w);
    if (rc == 0)
        rc = write_cfg(cpath, saelens_arch(m->p.arch), d, n, m->p.arch == SAE_ARCH_TOPK ? m->p.k : 0, meta);
    if (rc == 0 && log10_density) {
        char *spath = path_join(dir, "sparsity.safetensors");
        st_writer_init(&w);
        st_writer_add(&w, "sparsity", (int64_t[]){n}, 1, log10_density);
        rc = st_writer_write(&w, spath);
        st_writer_free(&w);
        free(spath);
    }
    free(wpath), free(cpath);
    free(W_enc), free(W_dec), free(W_enc_t), free(b_enc), free(b_dec), free(extra);
    return rc;
}

int sae_tied_save_saelens(const float *W, int L, int d, int k, const char *dir, const SAEArchMeta *meta) {
    if (path_mkdirs(dir) != 0) return -1;
    float *W_enc_t = transpose(W, L, d);
    float *b_enc = xcalloc((size_t)L, sizeof(float)), *b_dec = xcalloc((size_t)d, sizeof(float));
    STWriter w;
    st_writer_init(&w);
    st_writer_add(&w, "W_enc", (int64_t[]){d, L}, 2, W_enc_t);
    st_writer_add(&w, "W_dec", (int64_t[]){L, d}, 2, W);
    st_writer_add(&w, "b_enc", (int64_t[]){L}, 1, b_enc);
    st_writer_add(&w, "b_dec", (int64_t[]){d}, 1, b_dec);
    st_writer_meta(&w, "format", "pt");
    char *wpath = path_join(dir, "sae_weights.safetensors"), *cpath = path_join(dir, "cfg.json");
    int rc = st_writer_write(&w, wpath);
    st_writer_free(&w);
    if (rc == 0) rc = write_cfg(cpath, "topk", d, L, k, meta);
    free(wpath), free(cpath), free(W_enc_t), free(b_enc), free(b_dec);
    return rc;
}

int sae_arch_save_sparsify(const SAEArch *m, const char *dir) {
    if (m->p.arch != SAE_ARCH_TOPK) return err_set("%s: sparsify stores TopK SAEs only (this one is %s)", dir, sae_arch_name(m->p.arch));
    if (m->input_scale != 1.0f) return err_set("%s: sparsify has no input scale; train without scale_inputs", dir);
    const int d = m->p.d, n = m->p.n;
    if (path_mkdirs(dir) != 0) return -1;
    STWriter w;
    st_writer_init(&w);
    st_writer_add(&w, "encoder.weight", (int64_t[]){n, d}, 2, m->W_enc);
    st_writer_add(&w, "encoder.bias", (int64_t[]){n}, 1, m->b_enc);
    st_writer_add(&w, "W_dec", (int64_t[]){n, d}, 2, m->W_dec);
    st_writer_add(&w, "b_dec", (int64_t[]){d}, 1, m->b_dec);
    char *wpath = path_join(dir, "sae.safetensors"), *cpath = path_join(dir, "cfg.json");
    int rc = st_writer_write(&w, wpath);
    st_writer_free(&w);
    if (rc == 0) {
        char tmp[4096];
        FILE *f = file_begin(cpath, tmp, sizeof tmp);
        if (!f) rc = -1;
        else {
            fprintf(f, "{\"activation\": \"topk\", \"expansion_factor\": %d, \"normalize_decoder\": true, "
                       "\"num_latents\": %d, \"k\": %d, \"multi_topk\": %s, \"skip_connection\": false, "
                       "\"transcode\": false, \"d_in\": %d}\n",
                    n / d > 0 ? n / d : 1, n, m->p.k, m->p.multi_topk ? "true" : "false", d);
            rc = file_commit(f, tmp, cpath);
        }
    }
    free(wpath), free(cpath);
    return rc;
}

/* ---- reading ---- */

static int get_int(const JSON *cfg, const char *key, const char *path, long *out, int required) {
    const JSON *v = json_get(cfg, key);
    long long x;
    if (!v) return required ? err_set("%s: missing field \"%s\"", path, key) : 1;
    if (json_as_int(v, &x) != 0 || x < 1 || x > (1L << 30))
        return err_set("%s: field \"%s\" must be a positive integer", path, key);
    *out = (long)x;
    return 0;
}

/* tensor name of shape (a) or (a, b); copies it out as F32 */
static int get_tensor(SafeTensors *st, const char *name, int ndim, long a, long b, float *out) {
    const STTensor *t = safetensors_find(st, name);
    if (!t) return err_set("%s: missing tensor \"%s\"", st->path, name);
    if (t->ndim != ndim || t->shape[0] != a || (ndim == 2 && t->shape[1] != b)) {
        if (ndim == 2)
            return err_set("%s: tensor \"%s\" has shape [%lld%s%lld], expected [%ld, %ld] from cfg.json", st->path, name,
                           (long long)t->shape[0], t->ndim > 1 ? ", " : "", t->ndim > 1 ? (long long)t->shape[1] : 0LL, a, b);
        return err_set("%s: tensor \"%s\" has %lld values, expected %ld from cfg.json", st->path, name, (long long)t->numel, a);
    }
    const float *p = safetensors_f32(st, t);
    if (!p) return -1;
    memcpy(out, p, (size_t)t->numel * sizeof(float));
    return 0;
}

/* A checkpoint folder being read: its cfg.json and weights file; the loaders
 * below fill them, sae_arch_load frees them, whatever the outcome. */
typedef struct {
    char *cpath, *wpath;
    JSON cfg;
    SafeTensors st;
} LoadFolder;

static int load_saelens(SAEArch *m, LoadFolder *f, const SAEArchRequest *want) {
    const char *cpath = f->cpath;
    long d, n, k = 0;
    if (json_parse_file(&f->cfg, cpath) != 0) return -1;
    const JSON *ja = json_get(&f->cfg, "architecture");
    if (!ja) { err_set("%s: missing field \"architecture\"", cpath); return -1; }
    if (ja->type != JSON_STRING) { err_set("%s: field \"architecture\" must be a string", cpath); return -1; }
    SAEArchKind arch;
    const char *an = ja->str;
    if (strcmp(an, "standard") == 0) arch = SAE_ARCH_RELU;
    else if (strcmp(an, "topk") == 0) arch = SAE_ARCH_TOPK;
    else if (strcmp(an, "jumprelu") == 0 || strcmp(an, "batchtopk") == 0) arch = SAE_ARCH_JUMPRELU;
    else if (strcmp(an, "gated") == 0) arch = SAE_ARCH_GATED;
    else { err_set("%s: architecture \"%s\" is not one of standard, topk, jumprelu, batchtopk, gated", cpath, an); return -1; }
    if (get_int(&f->cfg, "d_in", cpath, &d, 1) != 0 || get_int(&f->cfg, "d_sae", cpath, &n, 1) != 0) return -1;
    if (arch == SAE_ARCH_TOPK && get_int(&f->cfg, "k", cpath, &k, 1) != 0) return -1;
    const JSON *na = json_get(&f->cfg, "normalize_activations");
    if (na && na->type == JSON_STRING && strcmp(na->str, "none") != 0) {
        err_set("%s: normalize_activations \"%s\" is not supported (fold the scaling factor into the weights first)", cpath, na->str);
        return -1;
    }
    const JSON *ab = json_get(&f->cfg, "apply_b_dec_to_input");
    const int apply_b_dec = !ab || ab->type != JSON_BOOL || ab->boolean; /* SAELens' default: true */
    if (want) {
        /* a jumprelu file is what a batchtopk run saves */
        SAEArchKind w = want->arch == SAE_ARCH_BATCHTOPK ? SAE_ARCH_JUMPRELU : want->arch;
        if (want->any_arch == 0 && w != arch) {
            err_set("%s: architecture is \"%s\", but %s was asked for", cpath, an, sae_arch_name(want->arch));
            return -1;
        }
        if (want->d && want->d != d) { err_set("%s: d_in = %ld, but the activations have width %d", cpath, d, want->d); return -1; }
        if (want->n && want->n != n) { err_set("%s: d_sae = %ld, but %d latents were asked for", cpath, n, want->n); return -1; }
    }
    if (safetensors_open(&f->st, f->wpath) != 0) return -1;
    SAEArchParams p = sae_arch_default_params(arch, (int)d, (int)n);
    if (arch == SAE_ARCH_TOPK) p.k = (int)k;
    if (arch == SAE_ARCH_TOPK && p.k >= n) { err_set("%s: k = %ld must be below d_sae = %ld", cpath, k, n); return -1; }
    p.b_dec_init = SAE_BDEC_ZERO;
    p.scale_inputs = 0;
    if (sae_arch_init(m, &p, NULL, 0) != 0) return -1;
    float *W_enc_t = xmalloc((size_t)n * d * sizeof(float));
    if (get_tensor(&f->st, "W_enc", 2, d, n, W_enc_t) != 0 || get_tensor(&f->st, "W_dec", 2, n, d, m->W_dec) != 0 ||
        get_tensor(&f->st, "b_dec", 1, d, 0, m->b_dec) != 0 ||
        get_tensor(&f->st, arch == SAE_ARCH_GATED ? "b_gate" : "b_enc", 1, n, 0, m->b_enc) != 0 ||
        (arch == SAE_ARCH_GATED &&
         (get_tensor(&f->st, "r_mag", 1, n, 0, m->r_mag) != 0 || get_tensor(&f->st, "b_mag", 1, n, 0, m->b_mag) != 0)) ||
        (arch == SAE_ARCH_JUMPRELU && get_tensor(&f->st, "threshold", 1, n, 0, m->log_threshold) != 0)) {
        free(W_enc_t);
        sae_arch_free(m);
        return -1;
    }
    for (long i = 0; i < n; i++)
        for (long j = 0; j < d; j++) m->W_enc[i * d + j] = W_enc_t[j * n + i];
    free(W_enc_t);
    if (arch == SAE_ARCH_JUMPRELU)
        for (long i = 0; i < n; i++) m->log_threshold[i] = logf(m->log_threshold[i]); /* 0 -> -inf: θ = 0 */
    if (!apply_b_dec) {
        for (long i = 0; i < n; i++) {
            double s = 0;
            for (long j = 0; j < d; j++) s += (double)m->W_enc[i * d + j] * m->b_dec[j];
            m->b_enc[i] += (float)s;
            if (arch == SAE_ARCH_GATED) m->b_mag[i] += expf(m->r_mag[i]) * (float)s;
        }
    }
    return 0;
}

static int load_sparsify(SAEArch *m, LoadFolder *f, const SAEArchRequest *want) {
    const char *cpath = f->cpath;
    long d, n, k, ef = 0;
    if (json_parse_file(&f->cfg, cpath) != 0) return -1;
    if (get_int(&f->cfg, "d_in", cpath, &d, 1) != 0 || get_int(&f->cfg, "k", cpath, &k, 1) != 0) return -1;
    int r = get_int(&f->cfg, "num_latents", cpath, &n, 0);
    if (r < 0) return -1;
    if (r == 1) {
        if (get_int(&f->cfg, "expansion_factor", cpath, &ef, 0) != 0) {
            err_set("%s: missing field \"num_latents\" (or \"expansion_factor\")", cpath);
            return -1;
        }
        n = d * ef;
    }
    const JSON *tc = json_get(&f->cfg, "transcode");
    if (tc && tc->type == JSON_BOOL && tc->boolean) { err_set("%s: a transcoder (transcode: true) is not an SAE", cpath); return -1; }
    if (want) {
        if (!want->any_arch && want->arch != SAE_ARCH_TOPK) {
            err_set("%s: a sparsify checkpoint is topk, but %s was asked for", cpath, sae_arch_name(want->arch));
            return -1;
        }
        if (want->d && want->d != d) { err_set("%s: d_in = %ld, but the activations have width %d", cpath, d, want->d); return -1; }
        if (want->n && want->n != n) { err_set("%s: num_latents = %ld, but %d latents were asked for", cpath, n, want->n); return -1; }
    }
    if (k >= n) { err_set("%s: k = %ld must be below num_latents = %ld", cpath, k, n); return -1; }
    if (safetensors_open(&f->st, f->wpath) != 0) return -1;
    SAEArchParams p = sae_arch_default_params(SAE_ARCH_TOPK, (int)d, (int)n);
    p.k = (int)k;
    p.b_dec_init = SAE_BDEC_ZERO;
    if (sae_arch_init(m, &p, NULL, 0) != 0) return -1;
    if (get_tensor(&f->st, "encoder.weight", 2, n, d, m->W_enc) != 0 || get_tensor(&f->st, "encoder.bias", 1, n, 0, m->b_enc) != 0 ||
        get_tensor(&f->st, "W_dec", 2, n, d, m->W_dec) != 0 || get_tensor(&f->st, "b_dec", 1, d, 0, m->b_dec) != 0) {
        sae_arch_free(m);
        return -1;
    }
    return 0;
}

int sae_arch_load(SAEArch *m, const char *dir, const SAEArchRequest *want) {
    memset(m, 0, sizeof *m);
    char *a = path_join(dir, "sae_weights.safetensors"), *b = path_join(dir, "sae.safetensors");
    const int saelens = path_is_file(a), sparsify = path_is_file(b);
    free(a), free(b);
    if (saelens || sparsify) {
        LoadFolder f = {.cpath = path_join(dir, "cfg.json"),
                        .wpath = path_join(dir, saelens ? "sae_weights.safetensors" : "sae.safetensors")};
        int rc = saelens ? load_saelens(m, &f, want) : load_sparsify(m, &f, want);
        json_free(&f.cfg);
        safetensors_close(&f.st);
        free(f.cpath), free(f.wpath);
        return rc;
    }
    if (!path_is_dir(dir)) return err_set("%s: no such folder", dir);
    return err_set("%s: neither sae_weights.safetensors (SAELens) nor sae.safetensors (sparsify) is there", dir);
}

void sae_arch_log10_density(SAEArch *m, const float *X, long T, int B, float *out) {
    const int n = m->p.n;
    long *cnt = xcalloc((size_t)n, sizeof(long));
    float *F = xmalloc((size_t)B * n * sizeof(float));
    for (long t0 = 0; t0 < T; t0 += B) {
        int b = (int)(T - t0 < B ? T - t0 : B);
        sae_arch_encode(m, X + (size_t)t0 * m->p.d, b, F);
        for (int r = 0; r < b; r++)
            for (int i = 0; i < n; i++) cnt[i] += F[(size_t)r * n + i] != 0.0f;
    }
    for (int i = 0; i < n; i++) out[i] = (float)log10((double)cnt[i] / (double)(T > 0 ? T : 1) + 1e-10);
    free(F);
    free(cnt);
}
