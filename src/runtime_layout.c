/* src/runtime_layout.c - where a stage's tensors live in a slot.
 *
 * A slot holds one micro-batch of a stage. Its kept part: the cut
 * entering the stage (received whole, one message), the gradients of the
 * cut leaving it (likewise) and the targets. Its work part: the cut
 * leaving the stage (sent whole: the layers that make those tensors write
 * them there directly, and tensors passing through are copied in), the
 * stage's other outputs, the gradients sent back and those of local
 * tensors, and the layers' saved values. Kernels add to gradients, so a
 * backward zeroes each gradient it makes just before the first layer adds
 * to it (while it is about to be in cache anyway). A stage that
 * recomputes keeps only the
 * kept part per micro-batch; its work part is the rank's scratch,
 * rebuilt by a forward before each backward.
 *
 * A tensor's gradient is added to in one place, its home: the received
 * gradient of an outgoing tensor (a working copy of it when the stage
 * recomputes, so that a backward can run twice), else the gradient sent
 * back, else a local one. A tensor passing through the stage has its home
 * in the outgoing gradients and is copied into those sent back once the
 * stage's layers have added theirs.
 */
#include <stdlib.h>
#include <string.h>

#include "runtime_impl.h"

/* Regions start on 64 bytes; tensors within one lie end to end, so a cut
 * is one message. */
static size_t aligned(size_t bytes)
{
    return (bytes + 63) & ~(size_t)63;
}

typedef struct builder {
    size_t at[2]; /* next free byte of the kept and the work part */
} builder;

static loc place(builder *b, int work, size_t bytes)
{
    loc l = {(unsigned char)work, b->at[work]};
    b->at[work] += aligned(bytes);
    return l;
}

static loc at(loc base, size_t off)
{
    return (loc){base.work, base.off + off};
}

/* What layout_stage fills per tensor id. */
typedef struct tensor_place {
    loc value, home;
    unsigned char in, out; /* in the cut entering, leaving the stage */
    unsigned char zeroed;  /* a layer below zeroes its gradient */
} tensor_place;

static pp_status add_copy(copy_rt **list, int *n, loc from, loc to,
                          size_t bytes, pp_error *err)
{
    copy_rt *grown = realloc(*list, (size_t)(*n + 1) * sizeof *grown);
    if (!grown)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    grown[(*n)++] = (copy_rt){from, to, bytes};
    *list = grown;
    return PP_OK;
}

pp_status pp_layout_stage(pp_trainer *t, stage_rt *st, pp_error *err)
{
    const pp_model *m = t->m;
    int T = m->nlayers + 1, last = st->last;
    size_t n = (size_t)t->n;
    const pp_cut *cin = &m->cut[st->ms], *cout = &m->cut[st->ms + 1];
    tensor_place *tp = calloc((size_t)T, sizeof *tp);
    if (!tp)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    for (int k = 0; k < T; k++)
        tp[k].value.off = tp[k].home.off = NO_LOC;
    builder b = {{0, 0}};
    pp_status rc = PP_OK;

    /* Kept: the cut entering, the gradients of the cut leaving, targets. */
    st->in_bytes = n * cin->bytes;
    st->in = place(&b, 0, st->in_bytes);
    st->gout_bytes = n * cout->grad_bytes;
    st->gout = place(&b, 0, st->gout_bytes);
    st->target = last ? place(&b, 0, n * pp_tensor_bytes(&t->data_info.target))
                      : (loc){0, NO_LOC};
    /* Work: the cut leaving, local outputs, the loss. */
    st->out_bytes = n * cout->bytes;
    st->out = place(&b, 1, st->out_bytes);
    size_t off = 0;
    for (int k = 0; k < cin->n; k++) {
        int x = cin->tensor[k];
        tp[x].in = 1;
        tp[x].value = at(st->in, off);
        off += n * pp_tensor_bytes(&m->tensors[x].desc);
    }
    off = 0;
    for (int k = 0; k < cout->n && !rc; k++) {
        int x = cout->tensor[k];
        size_t bytes = n * pp_tensor_bytes(&m->tensors[x].desc);
        loc to = at(st->out, off);
        tp[x].out = 1;
        /* One passing through is read where it came in. */
        if (tp[x].in)
            rc = add_copy(&st->pass, &st->npass, tp[x].value, to, bytes, err);
        else
            tp[x].value = to;
        off += bytes;
    }
    for (int i = 0; i < st->nl; i++) {
        const pp_model_layer *ml = st->layer[i].ml;
        int x = st->layer[i].index + 1;
        if (ml->plan.is_loss)
            tp[x].value = st->loss = place(&b, 1, sizeof(float));
        else if (!tp[x].out)
            tp[x].value = place(&b, 1, n * pp_tensor_bytes(&ml->plan.out));
    }
    /* Gradients: those sent back, then local ones. */
    st->gin_bytes = n * cin->grad_bytes;
    st->gin = place(&b, 1, st->gin_bytes);
    off = 0;
    for (int k = 0; k < cin->n; k++) {
        int x = cin->tensor[k];
        if (!m->tensors[x].grad)
            continue;
        tp[x].home = at(st->gin, off);
        off += n * pp_tensor_bytes(&m->tensors[x].desc);
    }
    for (int i = 0; i < st->nl; i++) {
        int x = st->layer[i].index + 1;
        if (m->tensors[x].grad && !tp[x].out)
            tp[x].home = place(&b, 1, n * pp_tensor_bytes(&m->tensors[x].desc));
    }
    /* The outgoing cut's gradients: received, or a working copy. */
    st->gwork = st->recompute ? place(&b, 1, st->gout_bytes) : st->gout;
    off = 0;
    for (int k = 0; k < cout->n && !rc; k++) {
        int x = cout->tensor[k];
        if (!m->tensors[x].grad)
            continue;
        size_t bytes = n * pp_tensor_bytes(&m->tensors[x].desc);
        loc home = at(st->gwork, off);
        if (tp[x].in)
            rc = add_copy(&st->gpass, &st->ngpass, home, tp[x].home, bytes,
                          err);
        tp[x].home = home;
        off += bytes;
    }
    /* Each layer: where its inputs, output, gradients and saved values
     * are. */
    for (int i = 0; i < st->nl && !rc; i++) {
        layer_rt *lr = &st->layer[i];
        const pp_model_layer *ml = lr->ml;
        lr->x = calloc((size_t)ml->nin, sizeof *lr->x);
        lr->dx = calloc((size_t)ml->nin, sizeof *lr->dx);
        lr->xp = calloc((size_t)ml->nin, sizeof *lr->xp);
        lr->dxp = calloc((size_t)ml->nin, sizeof *lr->dxp);
        if (!lr->x || !lr->dx || !lr->xp || !lr->dxp) {
            rc = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
            break;
        }
        lr->wants_dx = 0;
        for (int k = 0; k < ml->nin; k++) {
            int x = ml->input[k];
            lr->x[k] = tp[x].value;
            lr->dx[k] = m->tensors[x].grad ? tp[x].home : (loc){0, NO_LOC};
            lr->wants_dx |= m->tensors[x].grad;
        }
        int y = lr->index + 1;
        lr->y = tp[y].value;
        lr->dy = m->tensors[y].grad ? tp[y].home : (loc){0, NO_LOC};
        lr->saved = place(&b, 1, n * ml->plan.saved_bytes);
    }
    /* Who adds to each gradient first, going backward: it zeroes it. A
     * gradient received (or its working copy) holds what later stages
     * added; one passing through is copied into place, not added to. */
    for (int i = st->nl - 1; i >= 0 && !rc; i--) {
        layer_rt *lr = &st->layer[i];
        const pp_model_layer *ml = lr->ml;
        lr->zero = calloc((size_t)ml->nin, sizeof *lr->zero);
        if (!lr->zero) {
            rc = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
            break;
        }
        for (int k = 0; k < ml->nin; k++) {
            int x = ml->input[k];
            if (!m->tensors[x].grad || tp[x].out || tp[x].zeroed)
                continue;
            tp[x].zeroed = 1;
            lr->zero[lr->nzero++] = (region_rt){
                tp[x].home, n * pp_tensor_bytes(&m->tensors[x].desc)};
        }
    }
    st->keep_bytes = aligned(b.at[0]);
    st->work_bytes = aligned(b.at[1]);
    free(tp);
    return rc;
}

void *pp_slot_at(const slot *sl, loc l)
{
    if (l.off == NO_LOC)
        return NULL;
    return (l.work ? sl->work : sl->keep) + l.off;
}
