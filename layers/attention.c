/* layers/attention.c - causal multi-head scaled dot-product attention, the
 * mixing step of a GPT block:
 *   y_t = sum over s of softmax_s(q_t . k_s / sqrt(hs)) v_s, per head,
 * s running over the positions up to t (causal, the default) or all T.
 *
 * Its input is a sample of T rows of 3d features, q, k and v side by side
 * (the columns of a `linear` of 3d units, as GPT-2's c_attn); head h takes
 * columns [h hs, (h + 1) hs) of each, hs = d / heads. Its output is T rows
 * of d, the heads side by side. No parameters: the projections around it
 * are linear layers, so backward_input makes every gradient.
 *
 * forward saves each (head, position)'s log-sum-exp of its scores (FP32),
 * and backward recomputes the probabilities from it, flash-attention
 * style: with D_t = dy_t . y_t,
 *   dS_ts = P_ts (dy_t . v_s - D_t),
 *   dq_t += scale sum_s dS_ts k_s, dk_s += scale sum_t dS_ts q_t,
 *   dv_s += sum_t P_ts dy_t.
 * The CUDA half (attention.cu) has two paths, chosen by `kernels`:
 * pipette's tiled kernels, and cuDNN's fused attention where it applies
 * (bf16, and a device, head size and T it takes); both keep this file's
 * saved layout.
 * Not here: dropout of the probabilities, masks other than causal, key
 * and value heads fewer than the query heads, a KV cache.
 */
#include <config.h>

#include <math.h>
#include <string.h>

#include <pipette/pipette.h>

#include "attention.h"
#include "f32view.h"

static const pp_key keys[] = {
    {"heads", PP_KEY_INT, PP_KEY_REQUIRED, 1, 65536, NULL, NULL,
     "attention heads, which split the d features"},
    {"causal", PP_KEY_BOOL, 0, PP_NO_RANGE, NULL, "true",
     "position t attends to positions up to t only"},
    {"kernels", PP_KEY_ENUM, 0, PP_NO_RANGE, "auto|pipette|cudnn", "auto",
     "the CUDA half's kernels: cuDNN's fused attention where it applies "
     "(auto), pipette's own, or cuDNN's always"},
    {0},
};

static pp_status plan(const pp_section *cfg, const pp_tensor_desc *in,
                      int nin, pp_layer_plan *p, pp_error *err)
{
    (void)nin;
    int64_t heads;
    bool causal;
    const char *kernels;
    if (pp_section_int(cfg, "heads", &heads, err) ||
        pp_section_bool(cfg, "causal", &causal, err) ||
        pp_section_string(cfg, "kernels", &kernels, err))
        return err->code;
    char shape[64];
    pp_shape_format(&in->shape, shape, sizeof shape);
    if (!pp_dtype_is_float(in->dtype) || in->shape.ndim != 2)
        return pp_section_error(cfg, NULL, err,
            "attention needs float rows of q, k and v side by side, of "
            "shape Tx3d (a linear layer of 3d units makes them), but its "
            "input is %s of shape %s",
            pp_dtype_is_float(in->dtype) ? "float" : "token ids", shape);
    int64_t T = in->shape.dim[0], width = in->shape.dim[1];
    if (width % (3 * heads))
        return pp_section_error(cfg, "heads", err,
            "attention's input rows are q, k and v of %lld heads each, so "
            "their %lld features must be a multiple of 3 x %lld = %lld",
            (long long)heads, (long long)width, (long long)heads,
            (long long)(3 * heads));
    int64_t d = width / 3, hs = d / heads;
    if (hs > ATTENTION_MAX_HEAD)
        return pp_section_error(cfg, "heads", err,
            "attention's heads of %lld features (d = %lld, heads = %lld) "
            "are more than the %d it takes",
            (long long)hs, (long long)d, (long long)heads,
            ATTENTION_MAX_HEAD);
    int mode = strcmp(kernels, "cudnn") == 0     ? ATTENTION_CUDNN
               : strcmp(kernels, "pipette") == 0 ? ATTENTION_PIPETTE
                                                 : ATTENTION_AUTO;
    /* What cuDNN's fused attention takes, as far as the plan knows: the
     * device's kind is known at init (attention.cu). */
    if (mode == ATTENTION_CUDNN && p->precision != PP_PRECISION_BF16)
        return pp_section_error(cfg, "kernels", err,
            "kernels = cudnn runs cuDNN's fused attention, which pipette "
            "uses in bf16 only, and this model is in %s ([train] "
            "precision)", pp_precision_name(p->precision));
    if (mode == ATTENTION_CUDNN &&
        (hs % ATTENTION_CUDNN_HEAD_STEP || hs > ATTENTION_CUDNN_MAX_HEAD))
        return pp_section_error(cfg, "kernels", err,
            "kernels = cudnn needs heads of a multiple of %d features, at "
            "most %d (cuDNN's fused attention), but these have %lld (d = "
            "%lld, heads = %lld)", ATTENTION_CUDNN_HEAD_STEP,
            ATTENTION_CUDNN_MAX_HEAD, (long long)hs, (long long)d,
            (long long)heads);
    if (mode == ATTENTION_CUDNN && T < 2)
        return pp_section_error(cfg, "kernels", err,
            "kernels = cudnn needs 2 positions or more (cuDNN's fused "
            "backward refuses 1), but the input has %lld", (long long)T);
    attention_args args = {(int)heads, causal, mode};
    if (pp_layer_args(p, &args, sizeof args, err))
        return err->code;
    p->out = (pp_tensor_desc){pp_precision_dtype(p->precision),
                              {2, {T, d}}};
    p->saved_bytes = (size_t)(heads * T) * sizeof(float); /* lse */
    /* q k^T and P v, 2 hs FLOPs a score each, for the scores computed:
     * T (T + 1) / 2 of a head causally, T^2 else. */
    double scores = causal ? 0.5 * (double)T * (double)(T + 1)
                           : (double)T * (double)T;
    p->flops = 4.0 * scores * (double)d;
    /* Backward recomputes q k^T, then dP = dy v^T, dv, dq and dk: five
     * products to forward's two. */
    p->backward_flops = 2.5 * p->flops;
    /* bf16: dy, x, y and dx as FP32 (8 T d); then heads T floats: a row
     * of scores (CPU), the D_t of every head (CUDA). cuDNN's path (bf16)
     * lays out its scratch and cuDNN's own workspace in the same bytes,
     * about 26 T d of them left for cuDNN's. */
    f32view_plan(p, 8 * T * d);
    p->workspace_bytes += (size_t)(heads * T) * sizeof(float);
    size_t dnn = attention_cudnn_scratch(1, T, d, heads);
    if (p->precision == PP_PRECISION_BF16 && p->workspace_bytes < dnn)
        p->workspace_bytes = dnn;
    return PP_OK;
}

static float dot(const float *restrict a, const float *restrict b,
                 int64_t n)
{
    float s = 0.0f;
    for (int64_t i = 0; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* y (n, T, d) = the heads' outputs; lse (n, heads, T) saved;
 * x (n, T, 3d); s: T floats of scratch. */
static void attention_forward(float *restrict y, float *restrict lse,
                              const float *restrict x, float *restrict s,
                              const attention_dims *a, int n)
{
    int64_t T = a->T, d = a->d, hs = a->hs, W = 3 * d;
    for (int b = 0; b < n; b++)
        for (int h = 0; h < a->heads; h++)
            for (int64_t t = 0; t < T; t++) {
                const float *xb = x + (int64_t)b * T * W + h * hs;
                const float *q = xb + t * W;
                int64_t seen = attention_keys(t, T, a->causal);
                float m = -INFINITY;
                for (int64_t j = 0; j < seen; j++) {
                    s[j] = a->scale * dot(q, xb + j * W + d, hs);
                    m = s[j] > m ? s[j] : m;
                }
                float l = 0.0f;
                for (int64_t j = 0; j < seen; j++) {
                    s[j] = expf(s[j] - m);
                    l += s[j];
                }
                float *o = y + ((int64_t)b * T + t) * d + h * hs;
                for (int64_t c = 0; c < hs; c++)
                    o[c] = 0.0f;
                for (int64_t j = 0; j < seen; j++) {
                    const float *v = xb + j * W + 2 * d;
                    for (int64_t c = 0; c < hs; c++)
                        o[c] += s[j] * v[c];
                }
                for (int64_t c = 0; c < hs; c++)
                    o[c] /= l;
                lse[((int64_t)b * a->heads + h) * T + t] = m + logf(l);
            }
}

/* dx (n, T, 3d) += the gradients of q, k and v from dy (n, T, d), with
 * y (n, T, d), x (n, T, 3d) and lse (n, heads, T) of forward. */
static void attention_backward(float *restrict dx, const float *restrict dy,
                               const float *restrict y,
                               const float *restrict x,
                               const float *restrict lse,
                               const attention_dims *a, int n)
{
    int64_t T = a->T, d = a->d, hs = a->hs, W = 3 * d;
    for (int b = 0; b < n; b++)
        for (int h = 0; h < a->heads; h++)
            for (int64_t t = 0; t < T; t++) {
                const float *xb = x + (int64_t)b * T * W + h * hs;
                float *db = dx + (int64_t)b * T * W + h * hs;
                int64_t row = ((int64_t)b * T + t) * d + h * hs;
                const float *q = xb + t * W, *g = dy + row;
                float *dq = db + t * W;
                float D = dot(g, y + row, hs);
                float L = lse[((int64_t)b * a->heads + h) * T + t];
                int64_t seen = attention_keys(t, T, a->causal);
                for (int64_t j = 0; j < seen; j++) {
                    const float *k = xb + j * W + d, *v = k + d;
                    float *dk = db + j * W + d, *dv = dk + d;
                    float P = expf(a->scale * dot(q, k, hs) - L);
                    float dS = P * (dot(g, v, hs) - D);
                    for (int64_t c = 0; c < hs; c++) {
                        dq[c] += a->scale * dS * k[c];
                        dk[c] += a->scale * dS * q[c];
                        dv[c] += P * g[c];
                    }
                }
            }
}

static pp_status forward(const pp_layer_call *c, const void *const *x,
                         void *y, pp_error *err)
{
    (void)err;
    attention_dims a = attention_dims_of(c);
    int64_t nx = pp_call_elements(c, 0), ny = nx / 3;
    f32view v = f32view_of(c);
    const float *xf = f32_in(&v, x[0], nx);
    float *yf = f32_out(&v, y, ny);
    attention_forward(yf, c->saved, xf, f32view_take(&v, a.T), &a, c->n);
    f32_out_done(&v, y, yf, ny);
    return PP_OK;
}

static pp_status backward_input(const pp_layer_call *c, const void *const *x,
                                const void *y, const void *dy,
                                void *const *dx, pp_error *err)
{
    (void)err;
    if (!dx[0])
        return PP_OK;
    attention_dims a = attention_dims_of(c);
    int64_t nx = pp_call_elements(c, 0), ny = nx / 3;
    f32view v = f32view_of(c);
    const float *g = f32_in(&v, dy, ny), *xf = f32_in(&v, x[0], nx);
    const float *yf = f32_in(&v, y, ny);
    float *d = f32_grad(&v, dx[0], nx);
    attention_backward(d, g, yf, xf, c->saved, &a, c->n);
    f32_grad_done(&v, dx[0], d, nx);
    return PP_OK;
}

static const pp_layer_kernels cpu_kernels = {
    .forward = forward, .backward_input = backward_input};

#ifdef HAVE_CUDA
extern const pp_layer_kernels attention_cuda; /* attention.cu */
#endif

static const pp_layer_ops ops = {
    .inputs = 1,
    .plan = plan,
    .cpu = &cpu_kernels,
#ifdef HAVE_CUDA
    .cuda = &attention_cuda,
#endif
    .precisions = F32VIEW_PRECISIONS,
};

PP_PLUGIN(PP_KIND_LAYER, "attention",
          "causal multi-head scaled dot-product attention over rows of q, "
          "k and v", keys, &ops);
