/*
 * cuda/cuda_hooks.cu - gpt2/gpt2.h's hooks on the GPU forward: many sites in
 * one pass of B windows (harvest/), and activations changed by a host
 * function, an SAE spliced in, an ablation (eval/), then the pass resumed
 * from a site. The pass itself is cuda_gpt2.cu's (cu_gpt2_pass); this file
 * runs the hooks at each site and holds the public entry points.
 *
 * Per site, per hook, in order: the device copy (d_out), the host copies
 * (out, and resid: the residual stream as the site sees it), then fn on a
 * host copy of act that goes back into the pass. A capture costs one copy
 * of (rows, width); a fn costs a download and an upload of it.
 */
#include "cuda/cuda_hooks.cuh"

#include <stdlib.h>

int cu_hooks_check(const CUDAHook *hooks, int n_hooks, int n_layer) {
    if (n_hooks < 0 || (n_hooks > 0 && !hooks)) return err_set("%d hooks but no array of them", n_hooks);
    for (int i = 0; i < n_hooks; i++) {
        if (hooks[i].layer < 0 || hooks[i].layer >= n_layer)
            return err_set("hook layer %d: the model has %d (0..%d)", hooks[i].layer, n_layer, n_layer - 1);
        if ((int)hooks[i].site < 0 || (int)hooks[i].site >= GPT2_NSITES)
            return err_set("hook site %d unknown", (int)hooks[i].site);
    }
    return 0;
}

int cu_hooks_deepest(const CUDAHook *hooks, int n_hooks) {
    int last = -1;
    for (int i = 0; i < n_hooks; i++) {
        int k = hooks[i].layer * GPT2_NSITES + hooks[i].site;
        if (k > last) last = k;
    }
    return last;
}

int cu_hooks_at(const CUDAHook *hooks, int n_hooks, int layer, GPT2Site site, float *d_act, const float *d_resid,
                int rows, int width, int C) {
    const size_t bytes = (size_t)rows * width * sizeof(float);
    for (int i = 0; i < n_hooks; i++) {
        const CUDAHook *h = &hooks[i];
        if (h->layer != layer || h->site != site) continue;
        if (h->d_out && cuda_copy(h->d_out, d_act, bytes) != 0) return -1;
        if (h->out && cuda_download(h->out, d_act, bytes) != 0) return -1;
        if (h->resid && cuda_download(h->resid, d_resid, (size_t)rows * C * sizeof(float)) != 0) return -1;
        if (!h->fn) continue;
        /* the host function sees (and may change) a copy; the pass goes on with what it leaves */
        float *act = (float *)xmalloc(bytes); /* (rows, width) */
        GPT2HookCtx ctx = {layer, site, 0, rows, width};
        int rc = cuda_download(act, d_act, bytes);
        if (rc == 0) {
            err_clear();
            if (h->fn(h->user, &ctx, act) != 0)
                rc = err_get()[0] ? -1 : err_set("a hook at layer %d %s stopped the pass", layer, gpt2_site_name(site));
        }
        if (rc == 0) rc = cuda_upload(d_act, act, bytes);
        free(act);
        if (rc != 0) return -1;
    }
    return 0;
}

int cuda_gpt2_forward_batch(CUDAGPT2 *g, const int32_t *ids, int B, int T, const CUDAHook *hooks, int n_hooks,
                            float *logits) {
    CU_REQUIRE(ids != NULL, "no token ids (NULL)");
    if (cu_gpt2_pass(g, ids, B, T, hooks, n_hooks, -1, NULL, NULL, logits != NULL, logits) != 0)
        return err_prefix("cuda_gpt2_forward_batch");
    return 0;
}

int cuda_gpt2_resume(CUDAGPT2 *g, int layer, GPT2Site site, const float *resid, const float *act, int T,
                     const CUDAHook *hooks, int n_hooks, float *logits) {
    CU_REQUIRE(layer >= 0 && (int)site >= 0 && (int)site < GPT2_NSITES, "layer %d site %d does not exist", layer,
               (int)site);
    CU_REQUIRE(act && logits, "resume: the activation and a logits buffer are needed");
    int is_resid = site == GPT2_RESID_PRE || site == GPT2_RESID_MID || site == GPT2_RESID_POST;
    CU_REQUIRE(is_resid || resid, "resume after %s: the residual stream is needed", gpt2_site_name(site));
    if (cu_gpt2_pass(g, NULL, 1, T, hooks, n_hooks, layer * GPT2_NSITES + site, resid, act, 1, logits) != 0)
        return err_prefix("cuda_gpt2_resume");
    return 0;
}

/* ---- the passes in eval/'s and harvest/'s shapes ---- */

int cuda_eval_grab(void *g, int layer, GPT2Site site, const int32_t *ids, int T, float *act, float *resid,
                   float *logits) {
    CUDAHook h = {layer, site, act, NULL, resid, NULL, NULL};
    return cuda_gpt2_forward_batch((CUDAGPT2 *)g, ids, 1, T, &h, 1, logits);
}

int cuda_eval_resume(void *g, int layer, GPT2Site site, const float *resid, const float *act, int T, float *logits) {
    return cuda_gpt2_resume((CUDAGPT2 *)g, layer, site, resid, act, T, NULL, 0, logits);
}

int cuda_harvest_pass(void *g, const int32_t *ids, int B, int T, int n_hooks, const int *layer, const GPT2Site *site,
                      float *const *acts) {
    CU_REQUIRE(n_hooks >= 1, "no hooks to harvest");
    CUDAHook *h = (CUDAHook *)xcalloc((size_t)n_hooks, sizeof *h); /* (n_hooks) captures to the host */
    for (int k = 0; k < n_hooks; k++) h[k].layer = layer[k], h[k].site = site[k], h[k].out = acts[k];
    int rc = cuda_gpt2_forward_batch((CUDAGPT2 *)g, ids, B, T, h, n_hooks, NULL);
    free(h);
    return rc;
}
