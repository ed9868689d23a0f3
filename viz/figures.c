/*
 * viz/figures.c - the seed's figures, one function each, built from plain
 * arrays with viz/plot.h. The comments quote the notebook line each follows.
 */
#include "viz/figures.h"
#include "core/util.h"
#include "viz/plot.h"

#include <stdio.h>
#include <stdlib.h>

static void finish(Figure *f, Svg *s, const char *banner, const char *id_prefix) {
    if (banner) fig_set_banner(f, banner);
    fig_set_id_prefix(f, id_prefix);
    fig_render(f, s);
    fig_free(f);
}

void figure_losses(Svg *s, const float *losses, int E, const char *banner, const char *id_prefix) {
    static const char *fmt[3] = {"ks-", "ko-", "k^-"};
    static const char *title[3] = {"Total loss", "Sparsity loss", "Decorrelation loss"};
    const Rgba face[3] = {{.9f, .7f, .7f, .5f}, {.7f, .9f, .7f, .5f}, {.7f, .7f, .9f, .5f}};
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

void figure_latents(Svg *s, const float *latent, int T, int L, const char *banner, const char *id_prefix) {
    Figure f;
    fig_init(&f, 10, 3, 1, 1); /* plt.figure(figsize=(10,3)) */
    /* plt.imshow(latent,vmin=0,vmax=.1,aspect='auto'); plt.colorbar(pad=.01) */
    axes_image(fig_axes(&f, 0), latent, T, L, 0, 0.1, CMAP_VIRIDIS, 1);
    axes_set(fig_axes(&f, 0), "Latent component index", "Token index", "Latent activations");
    finish(&f, s, banner, id_prefix);
}

void figure_density(Svg *s, const float *density, const float *act, int L, const char *banner,
                    const char *id_prefix) {
    double *zi = xmalloc(sizeof(double) * L), *zd = xmalloc(sizeof(double) * L), *za = xmalloc(sizeof(double) * L);
    double *ni = xmalloc(sizeof(double) * L), *nd = xmalloc(sizeof(double) * L), *na = xmalloc(sizeof(double) * L);
    int nz = 0, nn = 0;
    for (int j = 0; j < L; j++) {
        if (density[j] == 0) { /* whichzero = latentDensity==0 */
            zi[nz] = j; zd[nz] = density[j]; za[nz] = act[j]; nz++;
        } else {
            ni[nn] = j; nd[nn] = density[j]; na[nn] = act[j]; nn++;
        }
    }
    char title[128];
    /* title=f'Latent component layer is {100*(1-whichzero.mean()):.2f}% dense' */
    snprintf(title, sizeof title, "Latent component layer is %.2f%% dense", L ? 100.0 * nn / L : 0.0);
    Figure f;
    fig_init(&f, 12, 3.3, 1, 3);
    PlotAxes *a0 = fig_axes(&f, 0), *a1 = fig_axes(&f, 1), *a2 = fig_axes(&f, 2);
    /* axs[0].plot(np.where(whichzero)[0],latentDensity[whichzero],'rx',alpha=.1) */
    axes_plot(a0, zi, zd, nz, "rx", RGBA_NONE, 0, 0.1);
    axes_plot(a0, ni, nd, nn, "ko", rgba(.9f, .7f, .7f, 1), 0, 0.5);
    axes_set(a0, "Latent component index", "% tokens with activation", title);
    axes_plot(a1, zi, za, nz, "rx", RGBA_NONE, 0, 0.1);
    axes_plot(a1, ni, na, nn, "ko", rgba(.7f, .9f, .7f, 1), 0, 0.5);
    axes_set(a1, "Latent component index", "Nonzero activations", "Latent component activations");
    /* axs[2].plot(nonzeroAct[~whichzero],latentDensity[~whichzero],'ko',...) */
    axes_plot(a2, na, nd, nn, "ko", rgba(.7f, .7f, .9f, 1), 0, 0.5);
    axes_set(a2, "Nonzero activations", "% tokens with activation", "Activations by density");
    free(zi); free(zd); free(za); free(ni); free(nd); free(na);
    finish(&f, s, banner, id_prefix);
}

void figure_score(Svg *s, const float *score, int L, const char *title, const char *banner, const char *id_prefix) {
    double *y = xmalloc(sizeof(double) * (L > 0 ? L : 1));
    for (int j = 0; j < L; j++) y[j] = score[j];
    Figure f;
    fig_init(&f, 10, 4, 1, 1); /* plt.figure(figsize=(10,4)) */
    /* plt.plot(geoscore,'ko',markerfacecolor=[.9,.7,.7,.5]) */
    axes_plot(fig_axes(&f, 0), NULL, y, L, "ko", rgba(.9f, .7f, .7f, .5f), 0, 1);
    axes_set(fig_axes(&f, 0), "Latent components", "Score", title);
    free(y);
    finish(&f, s, banner, id_prefix);
}
