/* src/runtime_params.c - where each parameter lives, and its first value.
 *
 * A parameter lives once per rank that uses it: in its owner's stage when
 * the owner is on that rank, else in the first stage of the rank that
 * uses it (a shared parameter's copy). Within a stage's buffer, those
 * that take weight decay come first, so the optimizer serves both groups
 * in one pass. Every copy starts from the owner's values: each element is
 * a function of the seed, the owner and its index, so every partition
 * starts from the same model.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "runtime_impl.h"

/* A counter-based generator: the same (seed, counter) gives the same
 * number on every rank and under every partition. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static double uniform01(uint64_t seed, uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t h = mix(seed ^ mix(a ^ mix(b ^ mix(c))));
    return ((double)(h >> 11) + 0.5) * 0x1p-53;
}

static void init_param(float *x, const pp_param_decl *d, uint64_t seed,
                       int layer, int param)
{
    size_t n = (size_t)pp_shape_elements(&d->shape);
    for (size_t j = 0; j < n; j++) {
        switch (d->init) {
        case PP_INIT_ZEROS: x[j] = 0; break;
        case PP_INIT_ONES: x[j] = 1; break;
        case PP_INIT_UNIFORM:
            x[j] = (float)(d->scale *
                           (2 * uniform01(seed, (uint64_t)layer,
                                          (uint64_t)param, j) - 1));
            break;
        case PP_INIT_NORMAL: {
            double u1 = uniform01(seed, (uint64_t)layer, (uint64_t)param,
                                  2 * j);
            double u2 = uniform01(seed, (uint64_t)layer, (uint64_t)param,
                                  2 * j + 1);
            x[j] = (float)(d->scale * sqrt(-2 * log(u1)) *
                           cos(6.283185307179586 * u2));
            break;
        }
        }
    }
}

static const pp_param_decl *decl_of(const pp_model *m, pp_param_ref o)
{
    return &m->layers[o.layer].plan.params[o.param];
}

/* The rank of replica k that holds a layer. */
static int rank_of_layer(const pp_trainer *t, int k, int layer)
{
    const pp_model *m = t->m;
    return m->plan->rank_of_stage[k * m->stages + m->layers[layer].stage];
}

pp_param_home *pp_param_home_of(const pp_trainer *t, int rank,
                                pp_param_ref o)
{
    return &t->home[(size_t)rank * (size_t)t->nrefs +
                    (size_t)(t->ref_base[o.layer] + o.param)];
}

float *pp_sum_grad(const pp_trainer *t, int g, int r)
{
    const pp_model *m = t->m;
    if (t->sum[g].owner.layer == PP_STAGE_SUM.layer)
        return t->stage[r % m->data * m->stages + m->plan->group[g].stage]
            .grads;
    if (t->sum[g].owner.layer == PP_LOSS_SUM.layer)
        return t->rank[r].norm + PP_NORM_LOSS;
    if (t->sum[g].owner.layer < 0)
        return t->rank[r].norm;
    const pp_param_home *h = pp_param_home_of(t, r, t->sum[g].owner);
    return t->stage[h->stage].grads + h->off;
}

/* Adds n elements at off to the stage's runs of its own parameters,
 * joining the last run where they follow it. */
static int own_run(stage_rt *st, size_t off, size_t n)
{
    if (st->nown && st->own[st->nown - 1][0] + st->own[st->nown - 1][1] ==
                        off) {
        st->own[st->nown - 1][1] += n;
        return 0;
    }
    size_t (*grown)[2] = realloc(st->own, (size_t)(st->nown + 1) *
                                              sizeof *grown);
    if (!grown)
        return -1;
    st->own = grown;
    st->own[st->nown][0] = off;
    st->own[st->nown++][1] = n;
    return 0;
}

pp_status pp_place_params(pp_trainer *t, pp_error *err)
{
    const pp_model *m = t->m;
    t->ref_base = calloc((size_t)m->nlayers + 1, sizeof *t->ref_base);
    if (!t->ref_base)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    for (int i = 0; i < m->nlayers; i++)
        t->ref_base[i + 1] = t->ref_base[i] + m->layers[i].plan.nparams;
    t->nrefs = t->ref_base[m->nlayers];
    t->home = malloc(((size_t)t->p * (size_t)t->nrefs + 1) * sizeof *t->home);
    if (!t->home)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    for (size_t k = 0; k < (size_t)t->p * (size_t)t->nrefs; k++)
        t->home[k] = (pp_param_home){-1, 0, 0};
    /* Its home on a rank: the first stage there that uses it (the owner's
     * stage comes first: an owner is above its users). */
    for (int s = 0; s < t->S; s++) {
        stage_rt *st = &t->stage[s];
        for (int l = 0; l < st->nl; l++) {
            const pp_model_layer *ml = st->layer[l].ml;
            for (int p = 0; p < ml->plan.nparams; p++) {
                pp_param_home *h = pp_param_home_of(t, st->rank, ml->owner[p]);
                if (h->stage < 0)
                    h->stage = s;
            }
        }
    }
    /* Offsets in each stage's buffer: decayed ones, then the others. */
    for (int s = 0; s < t->S; s++) {
        stage_rt *st = &t->stage[s];
        for (int nodecay = 0; nodecay < 2; nodecay++) {
            if (nodecay)
                st->ndecay = st->nparams;
            for (int l = 0; l < st->nl; l++) {
                const pp_model_layer *ml = st->layer[l].ml;
                for (int p = 0; p < ml->plan.nparams; p++) {
                    pp_param_ref o = ml->owner[p];
                    pp_param_home *h = pp_param_home_of(t, st->rank, o);
                    const pp_param_decl *d = decl_of(m, o);
                    if (h->stage != s || h->placed ||
                        !(d->flags & PP_PARAM_NO_DECAY) != !nodecay)
                        continue;
                    h->placed = 1;
                    h->off = st->nparams;
                    size_t n = (size_t)pp_shape_elements(&d->shape);
                    st->nparams += n;
                    if (rank_of_layer(t, st->replica, o.layer) != st->rank)
                        st->shared += n;
                    else if (own_run(st, h->off, n))
                        return pp_error_set(err, PP_ERR_NOMEM,
                                            "out of memory");
                }
            }
        }
    }
    return PP_OK;
}

/* The sums, once the stages' sizes are known: each in messages of at
 * most [parallel] bucket_mb (a stage's over its replicas; the others are
 * one message), and the buffers their ranks need. */
pp_status pp_plan_sums(pp_trainer *t, pp_error *err)
{
    const pp_model *m = t->m;
    const pp_plan *plan = m->plan;
    if (!(t->sum = calloc((size_t)plan->ngroups + 1, sizeof *t->sum)))
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    t->sum_tags = 0;
    for (int g = 0; g < plan->ngroups; g++) {
        pp_param_ref o = m->summed[g];
        pp_sum_rt *sum = &t->sum[g];
        sum->owner = o;
        sum->n = o.layer == PP_STAGE_SUM.layer
                     ? t->stage[plan->group[g].stage].nparams
                 : o.layer == PP_LOSS_SUM.layer ? (size_t)t->mbs
                 : o.layer < 0 ? PP_NORM_PARTS + (size_t)t->mbs
                               : (size_t)pp_shape_elements(
                                     &decl_of(m, o)->shape);
        size_t most = m->bucket_bytes / sizeof(float);
        sum->bucket = o.layer == PP_STAGE_SUM.layer && sum->n > most
                          ? most : sum->n;
        sum->tag = t->sum_tags;
        t->sum_tags += sum->bucket ? (sum->n + sum->bucket - 1) / sum->bucket
                                   : 1;
        /* A transport's own sum needs no buffers of the rank's; the
         * norm's and the losses' have their own (norm_a, norm_b). */
        size_t bytes = sum->bucket * sizeof(float);
        int own = o.layer == PP_NORM_SUM.layer || o.layer == PP_LOSS_SUM.layer;
        for (int k = 0; t->sum_via[g] < 0 && !own && k < plan->group[g].n;
             k++) {
            rank_rt *rk = &t->rank[plan->group[g].rank[k]];
            if (bytes > rk->sum_bytes)
                rk->sum_bytes = bytes;
        }
    }
    return PP_OK;
}

/* The bf16 copy of a stage's first parameters; the optimizer keeps it
 * after each step. */
static pp_status init_copy(stage_rt *st, const rank_rt *rk, pp_error *err)
{
    if (!rk->cuda) {
        pp_row_store(st->params_bf16, PP_BF16, st->host_params,
                     (int64_t)st->nparams);
        return PP_OK;
    }
    pp_bf16 *host = malloc(st->nparams * sizeof *host + 1);
    if (!host)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    pp_row_store(host, PP_BF16, st->host_params, (int64_t)st->nparams);
    pp_status rc = rk->dev->copy(rk->dr.index, st->params_bf16, host,
                                 st->nparams * sizeof *host,
                                 PP_COPY_HOST_TO_DEVICE, err);
    free(host);
    return rc;
}

/* Stage s's layers' parameter pointers (into the stages of their rank),
 * and the first values of the parameters homed at s, once its buffers are
 * allocated. Stages are initialised in order, so a home is allocated
 * before any later stage points into it. */
pp_status pp_init_params(pp_trainer *t, int s, pp_error *err)
{
    stage_rt *st = &t->stage[s];
    const rank_rt *rk = &t->rank[st->rank];
    uint64_t seed = (uint64_t)t->m->seed;
    for (int l = 0; l < st->nl; l++) {
        layer_rt *lr = &st->layer[l];
        const pp_model_layer *ml = lr->ml;
        for (int p = 0; p < ml->plan.nparams; p++) {
            pp_param_ref o = ml->owner[p];
            const pp_param_home *h = pp_param_home_of(t, st->rank, o);
            const stage_rt *home = &t->stage[h->stage];
            lr->param[p] = home->params + h->off;
            lr->grad[p] = home->grads + h->off;
            lr->param_bf16[p] = home->params_bf16 ? home->params_bf16 + h->off
                                                  : NULL;
            /* (Twice when two of the stage's layers use it: the same
             * values.) */
            if (h->stage == s && t->from)
                memcpy(st->host_params + h->off,
                       t->from + t->from_at[t->ref_base[o.layer] + o.param],
                       (size_t)pp_shape_elements(&decl_of(t->m, o)->shape) *
                           sizeof(float));
            else if (h->stage == s)
                init_param(st->host_params + h->off, decl_of(t->m, o), seed,
                           o.layer, o.param);
        }
    }
    if (rk->cuda && rk->dev->copy(rk->dr.index, st->params, st->host_params,
                                  st->nparams * sizeof(float),
                                  PP_COPY_HOST_TO_DEVICE, err))
        return err->code;
    return st->params_bf16 ? init_copy(st, rk, err) : PP_OK;
}

const float *pp_stage_host_params(const pp_trainer *t, int s)
{
    const stage_rt *st = &t->stage[s];
    const rank_rt *rk = &t->rank[st->rank];
    pp_error ignore;
    if (rk->cuda && rk->dev->copy(rk->dr.index, st->host_params, st->params,
                                  st->nparams * sizeof(float),
                                  PP_COPY_DEVICE_TO_HOST, &ignore))
        return NULL;
    return st->host_params;
}

const float *pp_param_host(const pp_trainer *t, int layer, int param,
                           size_t *n, int fetch)
{
    *n = 0;
    const pp_model *m = t->m;
    if (layer < 0 || layer >= m->nlayers || param < 0 ||
        param >= m->layers[layer].plan.nparams)
        return NULL;
    pp_param_ref o = m->layers[layer].owner[param];
    const pp_param_home *h = pp_param_home_of(t, rank_of_layer(t, 0, layer),
                                              o);
    const float *host = fetch ? pp_stage_host_params(t, h->stage)
                              : t->stage[h->stage].host_params;
    if (!host)
        return NULL;
    *n = (size_t)pp_shape_elements(&decl_of(m, o)->shape);
    return host + h->off;
}

const float *pp_trainer_param(const pp_trainer *t, int layer, int param,
                              size_t *n)
{
    return pp_param_host(t, layer, param, n, 1);
}
