/*
 * cli/cmd_generate.c - ./run generate: continue a prompt with GPT-2 on the
 * CPU (KV cache and sampling: gpt2/generate.h), or with --device cuda on the
 * GPU (cuda/cuda.h's decoder; the sampling stays the CPU's), streaming the
 * tokens as they are made; optionally while intervening on an SAE's latents
 * (eval/intervene.h: steer, clamp, ablate, splice; the GPU steers only), and
 * --compare the texts made from the same seed without and with the
 * interventions (cli/generate_compare.c).
 */
#include "cli/cli.h"
#include "cli/generate.h"
#include "cli/pipeline.h"
#include "core/pool.h"
#include "core/util.h"
#include "cuda/cuda.h"
#include "gpt2/generate.h"
#include "weights/fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void generate_usage(FILE *f) {
    fprintf(f,
            "usage: ./run generate (--prompt TEXT | --prompt-file FILE) [OPTIONS]\n"
            "\n"
            "Continue the prompt with GPT-2, printing each token as it is made.\n"
            "\n"
            "  --prompt TEXT        the text to continue\n"
            "  --prompt-file FILE   ... read from FILE (- for standard input)\n"
            "  --max-new N          new tokens per sample (default 64); prompt and new tokens\n"
            "                       together stop at n_ctx (1024 for GPT-2), said on stderr:\n"
            "                       there is no sliding window\n"
            "  -n N                 samples of the same prompt (default 1)\n"
            "  --temperature T      >= 0 (default 1); 0 is --greedy\n"
            "  --top-k K            keep the K most likely tokens (default 0: all)\n"
            "  --top-p P            keep the most likely tokens up to mass P, in (0, 1] (default 1)\n"
            "  --freq-penalty F     OpenAI's frequency penalty in [-2, 2]: logit - count * F,\n"
            "                       count = times the token was generated so far (default 0)\n"
            "  --greedy             always the most likely token\n"
            "  --seed S             sampling seed (default 0): the same seed, the same text\n"
            "  --stop-at-eos        end a sample at <|endoftext|>\n"
            "  --weights PATH|NAME  the checkpoint (as ./run capture; default gpt2)\n"
            "  --random-weights     a synthetic GPT-2 (--model size, seed 0, cached): offline\n"
            "  --model NAME         the size for --random-weights (default gpt2)\n"
            "  --threads N          CPU threads (default: all cores, or $GPT2SAE_THREADS)\n"
            "  --device D           cpu (default), cuda or auto: the model on the GPU, with\n"
            "                       its KV cache there (the same sampler and seeds; --steer\n"
            "                       is the one intervention it runs; auto: the GPU when\n"
            "                       there is one and nothing else is asked)\n"
            "  --quiet              no timing line on stderr\n"
            "\n"
            "Interventions on an SAE's latents, on the prompt and on every new token:\n"
            "  --sae DIR            the SAE: a pipeline or ./run train output folder, or one\n"
            "                       trained elsewhere (SAELens: sae_weights.safetensors +\n"
            "                       cfg.json, any architecture; sparsify: sae.safetensors)\n"
            "  --hook SITE          where (a TransformerLens name); default and only valid\n"
            "                       value: the SAE's own hook\n"
            "  --steer L:COEF       add COEF * W_dec[L] to the activation (repeatable)\n"
            "  --clamp L=VALUE      set latent L to VALUE, the SAE's error term kept (repeatable)\n"
            "  --ablate L           --clamp L=0: the activation moves by -f_L W_dec[L]\n"
            "  --splice             replace the activation with the SAE's reconstruction\n"
            "                       (applied in this order: clamp/ablate, splice, steer)\n"
            "  --compare            print the text made without and with the interventions\n"
            "                       (same seed), each token's activation of the latent, and\n"
            "                       write them as text heatmaps to --html\n"
            "  --latent L           the latent --compare shows (default: the first edited)\n"
            "  --html FILE          --compare's page (default generate_compare.html)\n");
}

/* "123" into a latent index >= 0; prints a message naming opt on error */
static int parse_latent(const char *opt, const char *s, int *out) {
    long v;
    if (parse_int(s, &v) != 0 || v < 0 || v > 100000000L) {
        cli_error(2, "generate: %s '%s': the latent must be an index >= 0", opt, s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* "L<sep>VALUE" (--steer 12:8, --clamp 12=3.5) */
static int parse_edit(const char *opt, const char *s, char sep, EvalLatent *e) {
    const char *p = strchr(s, sep);
    char buf[32];
    double v;
    if (!p || p == s || (size_t)(p - s) >= sizeof buf) {
        cli_error(2, "generate: %s '%s': expected LATENT%cVALUE, e.g. %s 123%c8", opt, s, sep, opt, sep);
        return -1;
    }
    memcpy(buf, s, (size_t)(p - s));
    buf[p - s] = 0;
    if (parse_latent(opt, buf, &e->latent) != 0) return -1;
    if (parse_float(p + 1, &v) != 0 || v != v || v > 1e30 || v < -1e30) {
        cli_error(2, "generate: %s '%s': '%s' is not a number", opt, s, p + 1);
        return -1;
    }
    e->value = (float)v;
    return 0;
}

/* The latent edits into the GenOpts at dst: --steer L:COEF, --clamp L=VALUE,
 * --ablate L (= --clamp L=0); each repeatable, up to 64 of a kind. */
static int opt_edit(const char *name, const char *val, void *dst) {
    GenOpts *o = dst;
    const int steer = !strcmp(name, "--steer");
    int *cnt = steer ? &o->n_steer : &o->n_clamp;
    if (*cnt == 64) return cli_error(2, "generate: at most 64 latents per kind of edit");
    EvalLatent *e = steer ? &o->steer[*cnt] : &o->clamp[*cnt];
    if (!strcmp(name, "--ablate")) {
        if (parse_latent(name, val, &e->latent) != 0) return 2;
        e->value = 0.0f;
    } else if (parse_edit(name, val, steer ? ':' : '=', e) != 0)
        return 2;
    (*cnt)++;
    return 0;
}

/* --latent L into the int at dst */
static int opt_latent(const char *name, const char *val, void *dst) { return parse_latent(name, val, dst) ? 2 : 0; }

/* The checkpoint: --weights, --random-weights (synthesised once into the cache,
 * as the pipeline's), or the official one (fetched on first use). Caller frees. */
static char *weights_path(const GenOpts *o) {
    if (o->random_weights) return cli_weights_random(o->model, 0, NULL);
    return cli_weights_resolve(o->weights ? o->weights : "gpt2");
}

/* The prompt's text: --prompt, or --prompt-file (- = standard input). Caller frees. */
static char *read_prompt(const GenOpts *o, size_t *len) {
    char *text = NULL;
    if (o->prompt) {
        *len = strlen(o->prompt);
        return xstrdup(o->prompt);
    }
    int rc = strcmp(o->prompt_file, "-") == 0 ? file_read_stream(stdin, "standard input", (size_t)1 << 26, &text, len)
                                              : file_read_all(o->prompt_file, &text, len);
    return rc == 0 ? text : NULL;
}

/* ---- streaming the tokens ---- */

typedef struct {
    const BPE *bpe;
    const char *prompt;   /* the prompt's text, printed before each sample */
    size_t prompt_len;
    int n_samples, cur;   /* the sample being printed (-1 before the first) */
    const char *label;    /* a header per sample ("" for none) */
} Printer;

static int print_token(void *user, int sample, int32_t tok) {
    Printer *p = user;
    if (sample != p->cur) {
        if (p->cur >= 0) fputc('\n', stdout);
        if (p->n_samples > 1 || p->label[0])
            printf("=== %s%ssample %d of %d ===\n", p->label, p->label[0] ? ", " : "", sample + 1, p->n_samples);
        fwrite(p->prompt, 1, p->prompt_len, stdout);
        p->cur = sample;
    }
    size_t n;
    const char *b = bpe_token_bytes(p->bpe, tok, &n);
    if (b) fwrite(b, 1, n, stdout);
    fflush(stdout);
    return 0;
}

/* Make the samples with f's hooks, printing them; then say on stderr why each ended early. */
int generate_run(GenRun *R, GPT2Forward *f, const char *label, GPT2Generation *g) {
    Printer pr = {&R->bpe, R->text, R->text_len, R->o->gp.n_samples, -1, label};
    GPT2GenParams p = R->o->gp;
    p.on_token = print_token;
    p.user = &pr;
    double t = time_now();
    int rc = gpt2_generate(f, R->ids.ids, (int)R->ids.n, &p, g);
    t = time_now() - t;
    if (pr.cur >= 0) fputc('\n', stdout);
    fflush(stdout);
    if (rc != 0) return -1;
    long made = 0;
    for (int s = 0; s < g->n_samples; s++) {
        made += g->n[s];
        if (g->stop[s] == GPT2_STOP_CTX)
            fprintf(stderr,
                    "generate: sample %d stopped at n_ctx = %d tokens (prompt %zu + %d new), the most %s sees; there "
                    "is no sliding window (ask for fewer tokens or shorten the prompt)\n",
                    s + 1, R->m.cfg.n_ctx, R->ids.n, g->n[s], R->m.cfg.name);
    }
    char where[32];
    if (p.decoder) snprintf(where, sizeof where, "on the GPU");
    else snprintf(where, sizeof where, "%d thread%s", pool_threads(), pool_threads() == 1 ? "" : "s");
    if (!R->o->quiet)
        fprintf(stderr, "generate: %ld token%s in %.2f s (%.1f tokens/s, prompt %zu tokens, %s)\n", made,
                made == 1 ? "" : "s", t, made / (t > 0 ? t : 1e-9), R->ids.n, where);
    return 0;
}

/* ---- the SAE and the interventions ---- */

/* The one place an SAE is loaded: a pipeline or ./run train folder, or a
 * SAELens / sparsify one of any architecture (eval_sae_load). */
static int sae_open(EvalSAE *s, const char *dir) {
    if (eval_sae_load(s, dir) != 0) return err_prefix("--sae %s", dir);
    return 0;
}

int generate_add_interventions(GenRun *R, GPT2Forward *f) {
    const GenOpts *o = R->o;
    int layer = -1;
    GPT2Site site = GPT2_MLP_PRE;
    if (o->hook && gpt2_site_parse(o->hook, &layer, &site) != 0) return err_prefix("--hook");
    if (o->hook && layer < 0) return err_set("--hook %s: name the layer too, e.g. blocks.6.mlp.hook_pre", o->hook);
    EvalIntervention *iv = R->iv;
    for (int i = 0; i < R->n_iv; i++) eval_intervention_free(&iv[i]);
    R->n_iv = 0;
    if (o->n_clamp) {
        iv[R->n_iv] = eval_intervention(EVAL_CLAMP, &R->sae);
        iv[R->n_iv].latents = o->clamp, iv[R->n_iv].n_latents = o->n_clamp;
        R->n_iv++;
    }
    if (o->splice) iv[R->n_iv++] = eval_intervention(EVAL_SPLICE, &R->sae);
    if (o->n_steer) {
        iv[R->n_iv] = eval_intervention(EVAL_STEER, &R->sae);
        iv[R->n_iv].latents = o->steer, iv[R->n_iv].n_latents = o->n_steer;
        R->n_iv++;
    }
    for (int i = 0; i < R->n_iv; i++) {
        if (layer >= 0) iv[i].layer = layer, iv[i].site = site;
        if (eval_intervention_add(f, &iv[i]) != 0) return -1;
    }
    return 0;
}

/* ---- on the GPU ---- */

/* The GPU's decoder for R's model, with the --steer latents as its steering
 * vectors. The CPU's interventions are registered on a scratch pass first:
 * the one check of the latents and the hook, and where they go. */
static int device_open(GenRun *R, CUDAGPT2 **g, CUDADecoder **d) {
    GPT2Forward chk;
    gpt2_forward_init(&chk, &R->m);
    int rc = generate_add_interventions(R, &chk);
    gpt2_forward_free(&chk);
    if (rc != 0) return -1;
    if (cuda_gpt2_init(g, &R->m, 1) != 0 || cuda_decoder_init(d, *g) != 0) return err_prefix("--device cuda");
    for (int i = 0; i < R->n_iv; i++) {
        const EvalIntervention *iv = &R->iv[i]; /* EVAL_STEER: the options allow no other kind here */
        int rows[64];
        float coef[64];
        for (int j = 0; j < iv->n_latents; j++) rows[j] = iv->latents[j].latent, coef[j] = iv->latents[j].value;
        if (cuda_decoder_add_directions(*d, iv->layer, iv->site, iv->sae->W_dec, rows, coef, iv->n_latents) != 0)
            return err_prefix("--steer on the GPU");
    }
    return 0;
}

/* ---- the command ---- */

static void gen_free(GenRun *R) {
    for (int i = 0; i < R->n_iv; i++) eval_intervention_free(&R->iv[i]);
    eval_sae_free(&R->sae);
    bpe_ids_free(&R->ids);
    bpe_free(&R->bpe);
    gpt2_model_free(&R->m);
    free(R->wpath);
    free(R->text);
}

int cmd_generate(int argc, char **argv) {
    GenOpts o;
    memset(&o, 0, sizeof o);
    o.gp = gpt2_gen_default_params();
    o.model = "gpt2";
    o.latent_show = -1;
    o.html = "generate_compare.html";
    CLIDevice device = CLI_DEVICE_CPU;
    EvalLatent steer[64], clamp[64];
    o.steer = steer, o.clamp = clamp;
    const CLIOpt opts[] = {
        {"--prompt", CLI_STR, .dst = &o.prompt},
        {"--prompt-file", CLI_STR, .dst = &o.prompt_file},
        {"--max-new", CLI_INT, .dst = &o.gp.max_new, .lo = 1, .hi = 1000000},
        {"-n", CLI_INT, .dst = &o.gp.n_samples, .lo = 1, .hi = 10000},
        {"--temperature", CLI_FLOAT, .dst = &o.gp.sampler.temperature, .min = -1e30, .max = 1e30},
        {"--top-k", CLI_INT, .dst = &o.gp.sampler.top_k, .lo = -2147483647L, .hi = 2147483647L},
        {"--top-p", CLI_FLOAT, .dst = &o.gp.sampler.top_p, .min = -1e30, .max = 1e30},
        {"--freq-penalty", CLI_FLOAT, .dst = &o.gp.sampler.freq_penalty, .min = -1e30, .max = 1e30},
        {"--greedy", CLI_SET, .dst = &o.gp.sampler.greedy, .value = 1},
        {"--seed", CLI_U64, .dst = &o.gp.seed, .lo = 0, .hi = 9007199254740991L},
        {"--stop-at-eos", CLI_SET, .dst = &o.gp.stop_at_eos, .value = 1},
        {"--weights", CLI_STR, .dst = &o.weights},
        {"--random-weights", CLI_SET, .dst = &o.random_weights, .value = 1},
        {"--model", CLI_STR, .dst = &o.model},
        {"--threads", CLI_INT, .dst = &o.threads, .lo = 1, .hi = 256},
        {"--sae", CLI_STR, .dst = &o.sae_dir},
        {"--hook", CLI_STR, .dst = &o.hook},
        {"--steer", CLI_CALL, .dst = &o, .fn = opt_edit},
        {"--clamp", CLI_CALL, .dst = &o, .fn = opt_edit},
        {"--ablate", CLI_CALL, .dst = &o, .fn = opt_edit},
        {"--splice", CLI_SET, .dst = &o.splice, .value = 1},
        {"--compare", CLI_SET, .dst = &o.compare, .value = 1},
        {"--latent", CLI_CALL, .dst = &o.latent_show, .fn = opt_latent},
        {"--html", CLI_STR, .dst = &o.html},
        {"--quiet", CLI_SET, .dst = &o.quiet, .value = 1},
        {"--device", CLI_DEVICE, .dst = &device},
        {0}};
    const CLISpec spec = {"generate", {opts}, .usage = generate_usage,
                          .refuse = "give the text with --prompt or --prompt-file"};
    int parsed;
    if (cli_parse(&spec, argc, argv, &parsed)) return parsed;

    /* the options, checked before anything is loaded */
    if (!o.prompt == !o.prompt_file) {
        generate_usage(stderr);
        return cli_error(2, "generate: give the text to continue with --prompt TEXT or --prompt-file FILE (one of them)");
    }
    if (o.weights && o.random_weights) return cli_error(2, "generate: --weights and --random-weights exclude each other");
    if (gpt2_sampler_check(&o.gp.sampler) != 0) {
        cli_fail();
        return 2;
    }
    int edits = o.n_steer + o.n_clamp + o.splice;
    if ((edits || o.hook || o.compare || o.latent_show >= 0) && !o.sae_dir)
        return cli_error(2, "generate: --steer, --clamp, --ablate, --splice, --hook, --latent and --compare act on an "
                            "SAE's latents: give the SAE with --sae DIR");
    if (o.compare && !edits)
        return cli_error(2, "generate: --compare needs something to compare: --steer, --clamp, --ablate or --splice");
    if (o.compare && o.latent_show < 0) {
        if (o.n_clamp) o.latent_show = o.clamp[0].latent;
        else if (o.n_steer) o.latent_show = o.steer[0].latent;
        else return cli_error(2, "generate: --compare with --splice alone: name the latent to show with --latent L");
    }
    /* the GPU runs the model and steers; the other edits need the SAE's encoder, on the CPU */
    int cpu_only = o.n_clamp || o.splice || o.compare;
    if (device == CLI_DEVICE_CUDA && cpu_only)
        return cli_error(2, "generate: --device cuda steers (--steer) but runs no --clamp, --ablate, --splice or "
                            "--compare: use --device cpu for those");
    int on_gpu;
    if (cli_device(cpu_only ? CLI_DEVICE_CPU : device, &on_gpu) != 0) return 1;
    if (o.threads > 0) pool_set_threads(o.threads);

    GenRun R;
    memset(&R, 0, sizeof R);
    R.o = &o;
    int status = 1;
    /* the prompt */
    R.text = read_prompt(&o, &R.text_len);
    if (!R.text) goto fail;
    if (R.text_len == 0) {
        cli_error(2, "generate: the prompt%s%s is empty: give some text to continue", o.prompt_file ? " file " : "",
                  o.prompt_file ? o.prompt_file : "");
        status = 2;
        goto done;
    }
    /* the model and its tokenizer */
    R.wpath = weights_path(&o);
    if (!R.wpath || gpt2_model_load(&R.m, R.wpath) != 0) goto fail;
    if (R.m.cfg.random) fprintf(stderr, "generate: *** %s: RANDOM weights, not GPT-2: the text is noise ***\n", R.wpath);
    if (cli_tokenizer_load(&R.bpe, R.wpath) != 0) goto fail;
    if (bpe_encode(&R.bpe, R.text, R.text_len, 0, &R.ids) != 0) {
        err_prefix("the prompt");
        goto fail;
    }
    if (R.ids.n >= (size_t)R.m.cfg.n_ctx) {
        cli_error(2, "generate: the prompt is %zu tokens, but %s sees at most n_ctx = %d tokens, prompt and new "
                     "together: shorten it to under %d tokens", R.ids.n, R.m.cfg.name, R.m.cfg.n_ctx, R.m.cfg.n_ctx);
        status = 2;
        goto done;
    }
    /* the SAE: checked against the model here, so a mismatch is said before anything runs */
    if (o.sae_dir) {
        int l;
        GPT2Site s;
        if (sae_open(&R.sae, o.sae_dir) != 0) goto fail;
        if (eval_sae_check(&R.sae, &R.m, &l, &s) != 0) {
            err_prefix("--sae %s", o.sae_dir);
            goto fail;
        }
        if (o.latent_show >= R.sae.d_sae) {
            cli_error(2, "generate: --latent %d does not exist: the SAE has latents 0..%d", o.latent_show,
                      R.sae.d_sae - 1);
            status = 2;
            goto done;
        }
    }
    if (o.compare) {
        if (generate_compare(&R) != 0) goto fail;
    } else {
        GPT2Forward f;
        gpt2_forward_init(&f, &R.m);
        GPT2Generation g = {0};
        CUDAGPT2 *cg = NULL;
        CUDADecoder *cd = NULL;
        GPT2Decoder dec;
        int rc;
        rc = on_gpu ? device_open(&R, &cg, &cd) : -1;
        if (on_gpu && rc != 0 && cli_device_fallback(device) == 0) { /* auto: what the GPU cannot run goes to the CPU */
            cuda_decoder_free(cd), cuda_gpt2_free(cg);
            cd = NULL, cg = NULL, on_gpu = 0;
        }
        if (on_gpu) { /* the interventions are the decoder's; f is only the model's shape */
            dec = cuda_decoder_view(cd);
            o.gp.decoder = &dec;
        } else
            rc = generate_add_interventions(&R, &f);
        if (rc == 0) rc = generate_run(&R, &f, "", &g);
        o.gp.decoder = NULL;
        gpt2_generation_free(&g);
        gpt2_forward_free(&f);
        cuda_decoder_free(cd);
        cuda_gpt2_free(cg);
        if (rc != 0) goto fail;
    }
    status = 0;
    goto done;
fail:
    cli_fail();
    status = 1;
done:
    gen_free(&R);
    return status;
}
