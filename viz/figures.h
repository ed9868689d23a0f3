/*
 * viz/figures.h - the seed notebook's figures, each drawn into its own SVG.
 *
 *   SVG s;
 *   figure_losses(&s, losses, 100, "random weights — not GPT-2", "f1");
 *   svg_save(&s, "out/palinka/losses.svg");  // or inline s.buf in report.html
 *   svg_free(&s);
 *
 * banner: a warning line drawn on top of the figure (and its <title>), or
 * NULL. id_prefix: makes the SVG's ids unique inside one HTML page (or NULL).
 * Each function calls svg_init on s; the caller svg_free's it.
 */
#ifndef VIZ_FIGURES_H
#define VIZ_FIGURES_H

#include "viz/svg.h"

/* plt.subplots(1,3,figsize=(12,3)): total, sparsity and decorrelation loss
 * per epoch ('ks-', 'ko-', 'k^-', pastel faces, linewidth .5).
 * losses: (E, 3) row-major, the columns in that order. */
void figure_losses(SVG *s, const float *losses, int E, const char *banner, const char *id_prefix);
/* plt.imshow(latent, vmin=0, vmax=.1, aspect='auto') + colorbar, figsize (10,3).
 * latent: (T, L). */
void figure_latents(SVG *s, const float *latent, int T, int L, const char *banner, const char *id_prefix);
/* plt.subplots(1,3,figsize=(12,3.3)): density per latent, nonzero
 * activation per latent, and density against activation; the first title
 * says "XX.XX% dense". Dead latents (density 0; the seed's faint red x's at
 * 0, a solid bar for a real SAE) are not drawn: a note under the first two
 * panels gives their count. Above ~300 latents the markers shrink (to 3 pt),
 * so overlapping points read as a denser cloud.
 * density: (L) percent of tokens where the latent is nonzero;
 * act: (L) mean |activation| over those tokens (0 where none). */
void figure_density(SVG *s, const float *density, const float *act, int L, const char *banner,
                    const char *id_prefix);
/* plt.plot(score, 'ko', markerfacecolor=[.9,.7,.7,.5]), figsize (10,4).
 * score: (L), 0 where a latent has no score (sae_word_score): those are
 * counted in a note under the axes, not drawn as a bar at 0.
 * title: e.g. "Geography token activation score". */
void figure_score(SVG *s, const float *score, int L, const char *title, const char *banner, const char *id_prefix);

#endif
