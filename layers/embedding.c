/* layers/embedding.c - token embedding: each integer id becomes a learned
 * row of `dim` floats, y[..., :] = weight[x[...], :].
 *
 * Takes token ids of any shape (e.g. a sequence [T]) and appends a
 * feature dimension. The table starts N(0, 1) by default, as PyTorch's
 * nn.Embedding does: features of unit variance are what linear's
 * U(-1/sqrt(in), 1/sqrt(in)) init assumes of its input, and a layernorm
 * that follows makes the scale moot anyway. A table that an output layer
 * shares (tied weights) makes logits too, and wants GPT-2's std = 0.02.
 *
 * With `positions`, GPT-2's learned positions (its wpe): the input is one
 * sequence [T] a sample, and token t also gets row t of a second table,
 * y[t, :] = weight[x[t], :] + positions[t, :], positions being (T, dim),
 * started and decayed like the token table. T is the input's: the table
 * has no rows that training never reaches.
 *
 * There is no backward_input (ids have no gradient); backward_weight
 * scatters dy into the rows that were read, and with positions adds each
 * sample's dy, in sample order, to the position table's gradient.
 *
 * On the GPU (the CUDA half below) a bad id cannot be refused without
 * stopping the stream: its output row becomes NaN, which makes the step's
 * loss NaN, and backward leaves it out.
 */
#include <config.h>

#include <math.h>
#include <string.h>

#include <pipette/pipette.h>

#include "f32view.h"

static const pp_key keys[] = {
    {"vocab", PP_KEY_INT, PP_KEY_REQUIRED, 1, INT32_MAX, NULL, NULL,
     "number of distinct token ids, 0 to vocab - 1"},
    {"dim", PP_KEY_INT, PP_KEY_REQUIRED, 1, 1 << 24, NULL, NULL,
     "features per token"},
    {"std", PP_KEY_FLOAT, PP_KEY_MIN_OPEN, 0, HUGE_VAL, NULL, "1",
     "the tables start N(0, std^2)"},
    {"positions", PP_KEY_BOOL, 0, PP_NO_RANGE, NULL, "false",
     "add a learned vector per position of a [T] sequence (GPT-2's wpe)"},
    {0},
};

/* The longest sequence the position table takes: the data sources'
 * longest sample. */
#define MAX_POSITIONS (1 << 24)

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      int nin, pp_layer_plan *p, pp_error *err)
{
    (void)nin;
    int64_t vocab, dim;
    double std;
    bool positions;
    if (pp_section_int(cfg, "vocab", &vocab, err) ||
        pp_section_int(cfg, "dim", &dim, err) ||
        pp_section_float(cfg, "std", &std, err) ||
        pp_section_bool(cfg, "positions", &positions, err))
        return err->code;
    if (in->dtype != PP_I32)
        return pp_section_error(cfg, NULL, err,
            "embedding needs token ids as input (input_type = int), not "
            "float features");
    if (in->shape.ndim >= PP_MAX_DIMS)
        return pp_section_error(cfg, NULL, err,
            "embedding adds a dimension to its input, which has %d "
            "already (at most %d in all)", in->shape.ndim, PP_MAX_DIMS);
    p->out.dtype = pp_precision_dtype(p->precision);
    p->out.shape = in->shape;
    p->out.shape.dim[p->out.shape.ndim++] = dim;
    pp_shape table = {2, {vocab, dim}};
    if (pp_layer_param(p, "weight", &table, PP_INIT_NORMAL, (float)std, 0,
                       err))
        return err->code;
    p->in_ids = vocab;
    /* No arithmetic, but a row copied per token: count it so the
     * partitioner does not see a free layer. */
    p->flops = (double)pp_shape_elements(&in->shape) * (double)dim;
    f32view_plan(p, pp_shape_elements(&p->out.shape)); /* backward: dy */
    if (!positions)
        return PP_OK;
    char dims[64];
    if (in->shape.ndim != 1)
        return pp_section_error(cfg, "positions", err,
            "positions take one sequence of token ids [T] a sample, and "
            "this input is %s", pp_shape_format(&in->shape, dims,
                                                sizeof dims));
    if (in->shape.dim[0] > MAX_POSITIONS)
        return pp_section_error(cfg, "positions", err,
            "positions take sequences of up to %d tokens, and this input "
            "has %lld", MAX_POSITIONS, (long long)in->shape.dim[0]);
    /* Like the token table: GPT-2 recipes decay both (llm.c: wte, wpe). */
    pp_shape rows = {2, {in->shape.dim[0], dim}};
    if (pp_layer_param(p, "positions", &rows, PP_INIT_NORMAL, (float)std, 0,
                       err))
        return err->code;
    p->flops *= 2; /* and a row added */
    return PP_OK;
}

/* Both kernels index the table with x: a bad id is an error, never a read
 * or write outside it. */
static pp_status check_ids(const int32_t *ids, int64_t tokens, int64_t vocab,
                           pp_error *err)
{
    for (int64_t t = 0; t < tokens; t++)
        if (ids[t] < 0 || ids[t] >= vocab)
            return pp_error_set(err, PP_ERR_RUNTIME,
                "embedding: token id %ld (at token %lld of the micro-batch) "
                "is outside the vocabulary of %lld ids (0 to %lld)",
                (long)ids[t], (long long)t, (long long)vocab,
                (long long)vocab - 1);
    return PP_OK;
}

/* out (tokens, dim) = weight[ids] (+ pos[t % T]) ; weight (vocab, dim),
 * pos (T, dim) or NULL */
static void embedding_forward(float *restrict out,
                              const int32_t *restrict ids,
                              const float *restrict weight,
                              const float *restrict pos, int64_t tokens,
                              int64_t T, int64_t dim)
{
    for (int64_t t = 0; t < tokens; t++) {
        const float *w = weight + (int64_t)ids[t] * dim;
        float *o = out + t * dim;
        if (!pos) {
            memcpy(o, w, (size_t)dim * sizeof(float));
            continue;
        }
        const float *p = pos + t % T * dim;
        for (int64_t i = 0; i < dim; i++)
            o[i] = w[i] + p[i];
    }
}

/* dweight[ids[t]] += dout[t]; a repeated id collects every use */
static void embedding_backward_weight(float *restrict dweight,
                                      const float *restrict dout,
                                      const int32_t *restrict ids,
                                      int64_t tokens, int64_t dim)
{
    for (int64_t t = 0; t < tokens; t++) {
        float *row = dweight + (int64_t)ids[t] * dim;
        const float *d = dout + t * dim;
        for (int64_t i = 0; i < dim; i++)
            row[i] += d[i];
    }
}

/* dpos[t % T] += dout[t], sample after sample; dpos (T, dim) */
static void positions_backward_weight(float *restrict dpos,
                                      const float *restrict dout,
                                      int64_t tokens, int64_t T, int64_t dim)
{
    for (int64_t t = 0; t < tokens; t++) {
        float *row = dpos + t % T * dim;
        const float *d = dout + t * dim;
        for (int64_t i = 0; i < dim; i++)
            row[i] += d[i];
    }
}

/* The sequence length T where there are positions, else 0. */
static int64_t positions(const pp_layer_call *c)
{
    return c->plan->nparams > 1 ? c->in[0].shape.dim[0] : 0;
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    const pp_shape *w = &c->plan->params[0].shape;
    int64_t tokens = pp_call_elements(c, 0), T = positions(c);
    if (check_ids(x[0], tokens, w->dim[0], err))
        return err->code;
    /* In bf16 the row (or the sum) is rounded from FP32. */
    int64_t n = tokens * w->dim[1];
    f32view v = f32view_of(c);
    float *out = f32_out(&v, y, n);
    embedding_forward(out, x[0], c->param[0], T ? c->param[1] : NULL,
                      tokens, T, w->dim[1]);
    f32_out_done(&v, y, out, n);
    return PP_OK;
}

static pp_status backward_weight(const pp_layer_call *c,
                                 const void *const *x, const void *y,
                                 const void *dy, pp_error *err)
{
    (void)y;
    const pp_shape *w = &c->plan->params[0].shape;
    int64_t tokens = pp_call_elements(c, 0), T = positions(c);
    if (check_ids(x[0], tokens, w->dim[0], err))
        return err->code;
    f32view v = f32view_of(c);
    const float *d = f32_in(&v, dy, tokens * w->dim[1]);
    embedding_backward_weight(c->grad[0], d, x[0], tokens, w->dim[1]);
    if (T)
        positions_backward_weight(c->grad[1], d, tokens, T, w->dim[1]);
    return PP_OK;
}

static const pp_layer_kernels cpu_kernels = {
    .forward = forward, .backward_weight = backward_weight};

#ifdef HAVE_CUDA
extern const pp_layer_kernels embedding_cuda; /* embedding.cu */
#endif

static const pp_layer_ops ops = {
    .inputs = 1,
    .plan = plan,
    .cpu = &cpu_kernels,
#ifdef HAVE_CUDA
    .cuda = &embedding_cuda,
#endif
    .precisions = F32VIEW_PRECISIONS,
};

PP_PLUGIN(PP_KIND_LAYER, "embedding",
          "token embedding: integer ids to learned feature rows", keys,
          &ops);
