/* src/partition.c - cutting the layers into S contiguous stages.
 *
 * Manual: the layers' stage keys (model.c has checked them). Automatic:
 * the cut that minimises the heaviest stage, weighing each layer by its
 * parameter count or its training FLOPs, with every stage holding at least
 * one layer; among those, the most even (O(S * L^2), instant for any real
 * model).
 */
#include <math.h>
#include <stdlib.h>

#include "model.h"

/* By FLOPs: the forward, then the backward's as the layer says, or
 * estimated: the input gradients about as costly as the forward (none
 * when no input has a gradient, as the model's input has not) and, with
 * parameters, the weight gradient about as costly again. */
double pp_layer_step_flops(const pp_model *m, int layer)
{
    const pp_model_layer *l = &m->layers[layer];
    const pp_layer_plan *p = &l->plan;
    if (p->backward_flops > 0)
        return p->flops + p->backward_flops;
    int dx = 0;
    for (int k = 0; k < l->nin; k++)
        dx |= m->tensors[l->input[k]].grad;
    double passes = 1 + dx + (p->nparams > 0);
    return p->flops * passes;
}

/* A layer's share of a training step: its parameters or its FLOPs. */
static double weight(const pp_model *m, int layer)
{
    if (m->partition != PP_PARTITION_FLOPS)
        return (double)pp_layer_plan_params(&m->layers[layer].plan);
    return pp_layer_step_flops(m, layer);
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
    /* Two passes of dynamic programming over cut points: the lightest
     * possible heaviest stage M, then, among cuts whose stages all weigh
     * at most M, the one with the smallest sum of squared stage weights,
     * which spreads the rest evenly instead of leaving a stage nearly
     * empty. best[s][l] is the optimum for layers l.. in stages s... */
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
    double limit = INFINITY;
    for (int pass = 0; pass < 2; pass++) {
        for (int l = 0; l <= L; l++)
            AT(best, S, l) = l == L ? 0 : INFINITY;
        for (int s = S - 1; s >= 0; s--)
            for (int l = 0; l <= L; l++) {
                AT(best, s, l) = INFINITY;
                AT(cut, s, l) = -1;
                /* Stage s takes layers l .. e-1, one left per later stage. */
                for (int e = l + 1; e <= L - (S - 1 - s); e++) {
                    double here = prefix[e] - prefix[l];
                    double rest = AT(best, s + 1, e), score;
                    if (pass == 0) {
                        score = here > rest ? here : rest;
                    } else {
                        if (here > limit)
                            continue;
                        score = here * here + rest;
                    }
                    if (score < AT(best, s, l)) {
                        AT(best, s, l) = score;
                        AT(cut, s, l) = e;
                    }
                }
            }
        limit = AT(best, 0, 0);
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
