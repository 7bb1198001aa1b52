/* src/runtime_memory.c - what a run needs of each device (parameters,
 * gradients, optimizer state, activation slots, transfer buffers) and
 * whether it fits, decided before anything is allocated. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime_impl.h"

void pp_trainer_memory(const pp_trainer *t, int rank, pp_memory *out)
{
    memset(out, 0, sizeof *out);
    const rank_rt *rk = &t->rank[rank];
    double widest = 0; /* the scratch if every stage recomputed */
    for (int s = 0; s < t->S; s++) {
        const stage_rt *st = &t->stage[s];
        if (st->rank != rank)
            continue;
        out->params += (double)st->nparams * sizeof(float);
        if (st->params_bf16)
            out->copies += (double)st->nparams * sizeof(pp_bf16);
        out->optimizer += (double)st->nparams *
                          t->opt_plan.state_per_param * sizeof(float);
        out->activations += (double)st->nslots * (double)st->slot_bytes;
        out->lean_activations += (double)st->nslots *
                                 (double)st->keep_bytes;
        if ((double)st->work_bytes > widest)
            widest = (double)st->work_bytes;
        out->slots += st->nslots;
    }
    out->activations += (double)rk->scratch_bytes +
                        (double)rk->workspace_bytes;
    out->lean_activations += widest + (double)rk->workspace_bytes;
    out->grads = out->params;
    int n;
    pp_send_rt *sends = pp_step_sends(t, rank, &n);
    for (int i = 0; sends && i < n; i++)
        if (pp_route(t, rank, sends[i].to)->async)
            out->transfers += (double)sends[i].bytes;
    free(sends);
    out->sums = 2.0 * (double)rk->sum_bytes;
    out->total = out->params + out->copies + out->grads + out->optimizer +
                 out->activations + out->transfers + out->sums;
}

/* "1.50 GiB", "12.3 MiB", "3.9 KiB", "1000 bytes": sizes a reader takes
 * in at once, and never a small plan shown as 0.0 of anything. */
static const char *human(double bytes, char *buf, size_t size)
{
    if (bytes >= 1024.0 * 1024.0 * 1024.0)
        snprintf(buf, size, "%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
    else if (bytes >= 1024.0 * 1024.0)
        snprintf(buf, size, "%.1f MiB", bytes / (1024.0 * 1024.0));
    else if (bytes >= 1024.0)
        snprintf(buf, size, "%.1f KiB", bytes / 1024.0);
    else
        snprintf(buf, size, "%.0f bytes", bytes);
    return buf;
}

/* PIPETTE_MEMORY_LIMIT: bytes that cap what each device has free (so the
 * refusal can be tried, and a shared machine kept within a share);
 * INFINITY when unset. Anything but a number above 0 is refused. */
static pp_status memory_limit(double *out, pp_error *err)
{
    const char *text = getenv("PIPETTE_MEMORY_LIMIT");
    *out = INFINITY;
    if (!text || !*text)
        return PP_OK;
    if (pp_parse_float(text, out) || !(*out > 0))
        return pp_error_set(err, PP_ERR_USAGE, "PIPETTE_MEMORY_LIMIT=%s: "
                            "expected bytes, a number greater than 0", text);
    return PP_OK;
}

/* What rank r's device has free, capped by the limit. */
static double available(const pp_trainer *t, int r, double limit)
{
    const rank_rt *rk = &t->rank[r];
    pp_device_info info;
    pp_error ignore;
    double bytes = rk->dev->info(rk->dr.index, &info, &ignore) == PP_OK
                       ? (double)info.free_bytes
                       : INFINITY;
    return limit < bytes ? limit : bytes;
}

/* Refuses, before anything is allocated, a plan that does not fit a
 * device, with its numbers and what would. All cpu ranks share the host's
 * memory; ranks on one GPU share it. */
pp_status pp_check_memory(const pp_trainer *t, pp_error *err)
{
    double limit;
    if (memory_limit(&limit, err))
        return err->code;
    for (int first = 0; first < t->p; first++) {
        const rank_rt *fk = &t->rank[first];
        if (!fk->local)
            continue; /* its process checks it */
        int seen = 0;
        for (int r = 0; r < first; r++)
            seen |= t->rank[r].dev == fk->dev &&
                    t->rank[r].dr.index == fk->dr.index;
        if (seen)
            continue; /* that device was checked with its first rank */
        pp_memory sum = {0}, one;
        for (int r = first; r < t->p; r++) {
            if (!t->rank[r].local || t->rank[r].dev != fk->dev ||
                t->rank[r].dr.index != fk->dr.index)
                continue;
            pp_trainer_memory(t, r, &one);
            sum.params += one.params;
            sum.grads += one.grads;
            sum.optimizer += one.optimizer;
            sum.activations += one.activations;
            sum.lean_activations += one.lean_activations;
            sum.transfers += one.transfers;
            sum.sums += one.sums;
            sum.total += one.total;
        }
        double have = available(t, first, limit);
        if (sum.total <= have)
            continue;
        double lean = sum.total - sum.activations + sum.lean_activations;
        char a[32], b[32], c[32], d[32], e[32], f[32], g[32], where[96];
        char advice[256], transfers[128] = "", h[32];
        if (sum.transfers > 0)
            snprintf(transfers, sizeof transfers, ", transfer buffers %s",
                     human(sum.transfers, g, sizeof g));
        if (sum.sums > 0)
            snprintf(transfers + strlen(transfers),
                     sizeof transfers - strlen(transfers),
                     ", gradient sums %s", human(sum.sums, h, sizeof h));
        int all = 1;
        for (int s = 0; s < t->S; s++)
            all &= t->stage[s].recompute;
        if (!all && lean <= have)
            snprintf(advice, sizeof advice,
                     "with recompute = true it would need %s and fit",
                     human(lean, a, sizeof a));
        else
            snprintf(advice, sizeof advice,
                     "use a smaller batch, more micro-batches with a "
                     "schedule that holds fewer at once (1f1b rather than "
                     "gpipe), %sor more ranks",
                     all ? "" : "recompute = true, ");
        if (fk->dev->memory == PP_MEMORY_HOST)
            snprintf(where, sizeof where, "host");
        else
            pp_device_text(&t->m->devices[first], where, sizeof where);
        return pp_error_set(err, PP_ERR_NOMEM,
            "the plan needs %s of %s memory but %s is available "
            "(parameters %s, gradients %s, optimizer state %s, activations "
            "%s%s): %s",
            human(sum.total, a, sizeof a), where, human(have, b, sizeof b),
            human(sum.params, c, sizeof c), human(sum.grads, d, sizeof d),
            human(sum.optimizer, e, sizeof e),
            human(sum.activations, f, sizeof f), transfers, advice);
    }
    return PP_OK;
}
