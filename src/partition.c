/* src/partition.c - cutting the layers into S contiguous stages.
 *
 * Manual: the layers' stage keys (model.c has checked them). Automatic:
 * the cut that minimises the heaviest stage, weighing each layer by its
 * parameter count or its forward FLOPs, with every stage holding at least
 * one layer (dynamic programming over cut points, O(S * L^2), instant for
 * any real model). Among equally heavy cuts, the one with the lightest
 * last stage is taken, since the last stage also runs the loss.
 */
#include <math.h>
#include <stdlib.h>

#include "runtime.h"

static double weight(const pp_model *m, int layer)
{
    const pp_layer_plan *p = &m->layers[layer].plan;
    return m->partition == PP_PARTITION_FLOPS ? p->flops
                                              : (double)pp_layer_plan_params(p);
}

pp_status pp_partition_layers(const pp_model *m, int S, int *first, pp_error *err)
{
    int L = m->nlayers;
    if (m->partition == PP_PARTITION_MANUAL) {
        for (int s = 0, l = 0; s < S; s++) {
            while (l < L && m->layers[l].stage < s)
                l++;
            first[s] = l;
        }
        first[S] = L;
        return PP_OK;
    }
    /* best[s][l]: the lightest heaviest-stage for layers l.. in stages s.. */
    double *prefix = malloc((size_t)(L + 1) * sizeof *prefix);
    double *best = malloc((size_t)(S + 1) * (L + 1) * sizeof *best);
    int *cut = malloc((size_t)(S + 1) * (L + 1) * sizeof *cut);
    if (!prefix || !best || !cut) {
        free(prefix);
        free(best);
        free(cut);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    prefix[0] = 0;
    for (int l = 0; l < L; l++)
        prefix[l + 1] = prefix[l] + weight(m, l);
#define AT(a, s, l) a[(size_t)(s) * (L + 1) + (l)]
    for (int l = 0; l <= L; l++)
        AT(best, S, l) = l == L ? 0 : INFINITY;
    for (int s = S - 1; s >= 0; s--)
        for (int l = 0; l <= L; l++) {
            AT(best, s, l) = INFINITY;
            AT(cut, s, l) = -1;
            /* Stage s takes layers l .. e-1, leaving one per later stage. */
            for (int e = l + 1; e <= L - (S - 1 - s); e++) {
                double here = prefix[e] - prefix[l];
                double rest = AT(best, s + 1, e);
                double worst = here > rest ? here : rest;
                if (worst <= AT(best, s, l)) {
                    AT(best, s, l) = worst;
                    AT(cut, s, l) = e;
                }
            }
        }
    for (int s = 0, l = 0; s < S; s++) {
        first[s] = l;
        l = AT(cut, s, l);
    }
    first[S] = L;
#undef AT
    free(prefix);
    free(best);
    free(cut);
    return PP_OK;
}
