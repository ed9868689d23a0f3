/*
 * viz/figures.c - the figures of the notebook this engine reproduces ("the
 * seed", see README.md), one function each, built from plain arrays with
 * viz/plot.h. The comments quote the notebook line each follows, and say why
 * where a figure departs from it (latents without a value are counted in a
 * note instead of drawn as a bar at 0).
 */
#include "viz/figures.h"
#include "core/util.h"
#include "viz/plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static void finish(Figure *f, SVG *s, const char *banner, const char *id_prefix) {
    if (banner) fig_set_banner(f, banner);
    fig_set_id_prefix(f, id_prefix);
    fig_render(f, s);
    fig_free(f);
}

void figure_losses(SVG *s, const float *losses, int E, const char *banner, const char *id_prefix) {
    static const char *fmt[3] = {"ks-", "ko-", "k^-"};
    static const char *title[3] = {"Total loss", "Sparsity loss", "Decorrelation loss"};
    const RGBA face[3] = {{.9f, .7f, .7f, .5f}, {.7f, .9f, .7f, .5f}, {.7f, .7f, .9f, .5f}};
    Figure f;
    fig_init(&f, 12, 3, 1, 3); /* _,axs = plt.subplots(1,3,figsize=(12,3)) */
    double *y = xmalloc(sizeof(double) * (E > 0 ? E : 1));
    for (int i = 0; i < 3; i++) {
        for (int e = 0; e < E; e++) y[e] = losses[(size_t)e * 3 + i];
        /* axs[i].plot(losses[:,i],'ks-',markerfacecolor=[.9,.7,.7,.5],linewidth=.5) */
        axes_plot(fig_axes(&f, i), NULL, y, E, fmt[i], face[i], 0.5, 1);
        axes_set(fig_axes(&f, i), "Epoch", "Loss", title[i]);
    }
    free(y);
    finish(&f, s, banner, id_prefix);
}

void figure_latents(SVG *s, const float *latent, int T, int L, const char *banner, const char *id_prefix) {
    Figure f;
    fig_init(&f, 10, 3, 1, 1); /* plt.figure(figsize=(10,3)) */
    /* plt.imshow(latent,vmin=0,vmax=.1,aspect='auto'); plt.colorbar(pad=.01) */
    axes_image(fig_axes(&f, 0), latent, T, L, 0, 0.1, CMAP_VIRIDIS, 1);
    axes_set(fig_axes(&f, 0), "Latent component index", "Token index", "Latent activations");
    finish(&f, s, banner, id_prefix);
}

/* Markers for n points: the seed's size 6 up to a few hundred points; for the
 * thousands of latents of a real SAE smaller ones, so that overlapping points
 * (at alpha .5) still read as a denser cloud instead of one solid band. */
static double marker_size(int n) { return n <= 300 ? 6.0 : n >= 3000 ? 3.0 : 6.0 * sqrt(300.0 / n); }

void figure_density(SVG *s, const float *density, const float *act, int L, const char *banner,
                    const char *id_prefix) {
    double *ni = xmalloc(sizeof(double) * (L > 0 ? L : 1)), *nd = xmalloc(sizeof(double) * (L > 0 ? L : 1));
    double *na = xmalloc(sizeof(double) * (L > 0 ? L : 1));
    int nn = 0;
    for (int j = 0; j < L; j++) {
        if (density[j] == 0) continue; /* whichzero = latentDensity==0: counted, not drawn */
        ni[nn] = j; nd[nn] = density[j]; na[nn] = act[j]; nn++;
    }
    int dead = L - nn;
    char title[128], note[128];
    /* title=f'Latent component layer is {100*(1-whichzero.mean()):.2f}% dense' */
    snprintf(title, sizeof title, "Latent component layer is %.2f%% dense", L ? 100.0 * nn / L : 0.0);
    /* The seed draws the dead latents as faint red x's at y = 0; with thousands
     * of them that is a solid bar hiding the live latents of low density (one
     * token in 220 is 0.45%). Their number is what matters: it is printed. */
    snprintf(note, sizeof note, "%d of %d latents dead (never active), not drawn", dead, L);
    double ms = marker_size(nn);
    Figure f;
    fig_init(&f, 12, 3.3, 1, 3);
    PlotAxes *a0 = fig_axes(&f, 0), *a1 = fig_axes(&f, 1), *a2 = fig_axes(&f, 2);
    /* axs[0].plot(np.where(~whichzero)[0],latentDensity[~whichzero],'ko',markerfacecolor=[.9,.7,.7],alpha=.5) */
    axes_plot(a0, ni, nd, nn, "ko", rgba(.9f, .7f, .7f, 1), 0, 0.5);
    axes_marker_size(a0, ms);
    axes_set(a0, "Latent component index", "% tokens with activation", title);
    if (dead) axes_note(a0, note);
    axes_plot(a1, ni, na, nn, "ko", rgba(.7f, .9f, .7f, 1), 0, 0.5);
    axes_marker_size(a1, ms);
    axes_set(a1, "Latent component index", "Nonzero activations", "Latent component activations");
    if (dead) axes_note(a1, note);
    /* axs[2].plot(nonzeroAct[~whichzero],latentDensity[~whichzero],'ko',...) */
    axes_plot(a2, na, nd, nn, "ko", rgba(.7f, .7f, .9f, 1), 0, 0.5);
    axes_marker_size(a2, ms);
    axes_set(a2, "Nonzero activations", "% tokens with activation", "Activations by density");
    free(ni); free(nd); free(na);
    finish(&f, s, banner, id_prefix);
}

void figure_score(SVG *s, const float *score, int L, const char *title, const char *banner, const char *id_prefix) {
    /* A latent inactive on the category's tokens or on all the others has no
     * ratio; the seed stores 0 there and plots it, which for most latents of a
     * sparse SAE is a solid bar at 0. Those are counted, not drawn (a defined
     * score is a ratio of two positive means, never 0). */
    double *x = xmalloc(sizeof(double) * (L > 0 ? L : 1)), *y = xmalloc(sizeof(double) * (L > 0 ? L : 1));
    int n = 0;
    for (int j = 0; j < L; j++)
        if (score[j] != 0) { x[n] = j; y[n] = score[j]; n++; }
    Figure f;
    fig_init(&f, 10, 4, 1, 1); /* plt.figure(figsize=(10,4)) */
    PlotAxes *a = fig_axes(&f, 0);
    /* plt.plot(geoscore,'ko',markerfacecolor=[.9,.7,.7,.5]) */
    axes_plot(a, x, y, n, "ko", rgba(.9f, .7f, .7f, .5f), 0, 1);
    axes_marker_size(a, marker_size(n));
    axes_set(a, "Latent components", "Score", title);
    if (n < L) {
        char note[160];
        snprintf(note, sizeof note, "%d of %d latents have no score (never active on the category's tokens, "
                 "or on the others), not drawn", L - n, L);
        axes_note(a, note);
    }
    free(x);
    free(y);
    finish(&f, s, banner, id_prefix);
}
