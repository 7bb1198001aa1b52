/* tests/test_matmul.c - layers/matmul.h, the CPU products of the linear
 * layer: the BLAS's where configure found one (HAVE_CBLAS), else the
 * loops.
 *
 * The three products, and the loops beside them, against float64 sums on
 * shapes from one element to past a tile, from gradients that start
 * nonzero (they add); a forward's rows the same bits whatever their
 * alignment, and through the linear layer a micro-batch's samples the
 * same bits as each alone (mm_forward_samples), on either side of
 * MM_GEMM_ROWS; and linear's init leaving the BLAS one thread, whatever
 * it had.
 *
 * Linked with the BLAS the layer links, so that it talks to the same
 * library the plugin loads. Not a test of the layer's gradients
 * (test_layers.c) or of speed (bench/cpu-torch.sh).
 */
#include <config.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "layer_harness.h"
#include "matmul.h"

static pp_registry *reg;

/* rows, in, out */
static const int64_t shapes[][3] = {
    {1, 1, 1},   {1, 512, 16}, {3, 17, 5},   {4, 24, 64},
    {5, 64, 256}, {13, 41, 35}, {64, 512, 16}, {70, 100, 33},
};

#define NSHAPES ((int)(sizeof shapes / sizeof *shapes))

/* The bound of a float sum of terms whose magnitudes add to mag: each
 * term of a sum of up to 512 is within 512 * 6e-8 of it. */
static void expect_near(const float *got, const double *ref,
                        const double *mag, int64_t n, const char *what)
{
    for (int64_t i = 0; i < n; i++)
        ck_assert_msg(fabs(got[i] - ref[i]) <= 4e-5 * mag[i],
                      "%s[%lld] = %.9g, expected %.9g", what,
                      (long long)i, got[i], ref[i]);
}

static double *alloc_doubles(int64_t n)
{
    double *p = calloc((size_t)n + 1, sizeof *p);
    ck_assert_ptr_nonnull(p);
    return p;
}

/* _i: a shape. Each product twice, through mm_ and mm_loop_, from the
 * same starting gradients. */
START_TEST(products_against_float64)
{
    int64_t rows = shapes[_i][0], in = shapes[_i][1], out = shapes[_i][2];
    uint64_t rng = 11 + (uint64_t)_i;
    float *x = alloc_floats(rows * in), *w = alloc_floats(out * in),
          *b = alloc_floats(out), *dy = alloc_floats(rows * out),
          *dx0 = alloc_floats(rows * in), *dw0 = alloc_floats(out * in),
          *db0 = alloc_floats(out);
    fill_uniform(x, rows * in, &rng, -1, 1);
    fill_uniform(w, out * in, &rng, -1, 1);
    fill_uniform(b, out, &rng, -1, 1);
    fill_uniform(dy, rows * out, &rng, -1, 1);
    fill_uniform(dx0, rows * in, &rng, -1, 1);
    fill_uniform(dw0, out * in, &rng, -1, 1);
    fill_uniform(db0, out, &rng, -1, 1);

    /* y = x W^T + b */
    double *ref = alloc_doubles(rows * out), *mag = alloc_doubles(rows * out);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t o = 0; o < out; o++) {
            double s = b[o], m = fabs(b[o]);
            for (int64_t i = 0; i < in; i++) {
                s += (double)x[r * in + i] * w[o * in + i];
                m += fabs((double)x[r * in + i] * w[o * in + i]);
            }
            ref[r * out + o] = s, mag[r * out + o] = m;
        }
    float *y = alloc_floats(rows * out);
    mm_forward(y, x, w, b, rows, in, out);
    expect_near(y, ref, mag, rows * out, "y");
    mm_forward_samples(y, x, w, b, 1, rows, in, out);
    expect_near(y, ref, mag, rows * out, "y (one sample)");
    mm_loop_forward(y, x, w, b, rows, in, out);
    expect_near(y, ref, mag, rows * out, "y (loops)");
    free(ref), free(mag);

    /* dx += dy W */
    ref = alloc_doubles(rows * in), mag = alloc_doubles(rows * in);
    for (int64_t r = 0; r < rows; r++)
        for (int64_t i = 0; i < in; i++) {
            double s = dx0[r * in + i], m = fabs(s);
            for (int64_t o = 0; o < out; o++) {
                s += (double)dy[r * out + o] * w[o * in + i];
                m += fabs((double)dy[r * out + o] * w[o * in + i]);
            }
            ref[r * in + i] = s, mag[r * in + i] = m;
        }
    float *dx = alloc_floats(rows * in);
    memcpy(dx, dx0, (size_t)(rows * in) * sizeof *dx);
    mm_backward_input(dx, dy, w, rows, in, out);
    expect_near(dx, ref, mag, rows * in, "dx");
    memcpy(dx, dx0, (size_t)(rows * in) * sizeof *dx);
    mm_loop_backward_input(dx, dy, w, rows, in, out);
    expect_near(dx, ref, mag, rows * in, "dx (loops)");
    free(ref), free(mag);

    /* dw += dy^T x, db += dy's rows */
    ref = alloc_doubles(out * in), mag = alloc_doubles(out * in);
    double *dbref = alloc_doubles(out), *dbmag = alloc_doubles(out);
    for (int64_t o = 0; o < out; o++) {
        dbref[o] = db0[o], dbmag[o] = fabs(db0[o]);
        for (int64_t r = 0; r < rows; r++)
            dbref[o] += dy[r * out + o], dbmag[o] += fabs(dy[r * out + o]);
        for (int64_t i = 0; i < in; i++) {
            double s = dw0[o * in + i], m = fabs(s);
            for (int64_t r = 0; r < rows; r++) {
                s += (double)dy[r * out + o] * x[r * in + i];
                m += fabs((double)dy[r * out + o] * x[r * in + i]);
            }
            ref[o * in + i] = s, mag[o * in + i] = m;
        }
    }
    float *dw = alloc_floats(out * in), *db = alloc_floats(out);
    memcpy(dw, dw0, (size_t)(out * in) * sizeof *dw);
    memcpy(db, db0, (size_t)out * sizeof *db);
    mm_backward_weight(dw, db, dy, x, rows, in, out);
    expect_near(dw, ref, mag, out * in, "dw");
    expect_near(db, dbref, dbmag, out, "db");
    memcpy(dw, dw0, (size_t)(out * in) * sizeof *dw);
    mm_loop_backward_weight(dw, dy, x, rows, in, out);
    expect_near(dw, ref, mag, out * in, "dw (loops)");
    free(ref), free(mag), free(dbref), free(dbmag);

    free(x), free(w), free(b), free(dy), free(dx0), free(dw0), free(db0);
    free(y), free(dx), free(dw), free(db);
}
END_TEST

/* _i: rows, on either side of MM_GEMM_ROWS. The same rows give the same
 * bits, from any address, as a sample's rows and row by row: they lie
 * wherever their micro-batch puts them. */
START_TEST(forward_same_rows_same_bits)
{
    static const int64_t nrows[] = {1, 3, MM_GEMM_ROWS + 1, 20};
    const int64_t rows = nrows[_i], in = 37, out = 23;
    uint64_t rng = 3;
    float *w = alloc_floats(out * in), *b = alloc_floats(out);
    fill_uniform(w, out * in, &rng, -1, 1);
    fill_uniform(b, out, &rng, -1, 1);
    float *x = alloc_floats(rows * in + 8), *y = alloc_floats(rows * out + 8);
    float *y0 = alloc_floats(rows * out);
    fill_uniform(x, rows * in, &rng, -1, 1);
    float *z0 = alloc_floats(rows * out);
    mm_forward(y0, x, w, b, rows, in, out);
    mm_forward_samples(z0, x, w, b, 1, rows, in, out);
    for (int shift = 1; shift < 8; shift++) {
        size_t bytes = (size_t)(rows * out) * sizeof *y;
        memmove(x + shift, x + shift - 1, (size_t)(rows * in) * sizeof *x);
        mm_forward(y + shift, x + shift, w, b, rows, in, out);
        ck_assert_msg(memcmp(y + shift, y0, bytes) == 0,
                      "rows shifted by %d floats give other bits", shift);
        mm_forward_samples(y + shift, x + shift, w, b, 1, rows, in, out);
        ck_assert_msg(memcmp(y + shift, z0, bytes) == 0,
                      "a sample shifted by %d floats gives other bits",
                      shift);
    }
    free(w), free(b), free(x), free(y), free(y0), free(z0);
}
END_TEST

/* _i: rows per sample, 1 (row by row) to past MM_GEMM_ROWS (a product
 * per sample). A micro-batch of 7 samples gives each sample's outputs
 * alone, bit for bit. */
START_TEST(samples_independent)
{
    static const int per_sample[] = {1, MM_GEMM_ROWS - 1, MM_GEMM_ROWS, 13};
    int rows = per_sample[_i], n = 7;
    uint64_t rng = 5;
    pp_shape shape = {2, {rows, 29}};
    layer l;
    layer_open(&l, reg, "linear", "units = 31", PP_F32, &shape, n, &rng);
    float *x = alloc_floats(l.in_len[0]), *y = alloc_floats(l.out_len);
    float *one = alloc_floats(l.out_len / n);
    fill_uniform(x, l.in_len[0], &rng, -1, 1);
    run_forward(&l, x, y);
    pp_layer_call c = l.call;
    c.n = 1;
    for (int s = 0; s < n; s++) {
        const void *xs = x + s * l.in_len[0] / n;
        pp_error err;
        pp_error_clear(&err);
        ck_assert_int_eq(l.k->forward(&c, &xs, one, &err), PP_OK);
        ck_assert_msg(memcmp(one, y + s * l.out_len / n,
                             (size_t)(l.out_len / n) * sizeof *y) == 0,
                      "%d rows a sample: sample %d alone differs from it "
                      "in the micro-batch", rows, s);
    }
    free(x), free(y), free(one);
    layer_close(&l);
}
END_TEST

/* linear's init leaves the BLAS one thread, from two. */
START_TEST(init_leaves_one_thread)
{
    uint64_t rng = 1;
    pp_shape shape = {1, {8}};
    layer l;
    layer_open(&l, reg, "linear", "units = 4", PP_F32, &shape, 2, &rng);
    ck_assert_ptr_nonnull(l.k->init);
    int counted = mm_blas_threads() != 0;
    mm_blas_set_threads(2);
    if (counted)
        ck_assert_int_eq(mm_blas_threads(), 2);
    void *state = NULL;
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(l.k->init(&l.call, &state, &err) == PP_OK, "%s", err.msg);
    if (counted)
        ck_assert_int_eq(mm_blas_threads(), 1);
    l.k->destroy(state);
    layer_close(&l);
}
END_TEST

static Suite *matmul_suite(void)
{
    Suite *s = suite_create("matmul");
    TCase *tc = tcase_create("core");
    tcase_add_loop_test(tc, products_against_float64, 0, NSHAPES);
    tcase_add_loop_test(tc, forward_same_rows_same_bits, 0, 4);
    tcase_add_loop_test(tc, samples_independent, 0, 4);
    tcase_add_test(tc, init_leaves_one_thread);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    pp_error err;
    pp_error_clear(&err);
    if (pp_registry_create(NULL, &reg, &err) != PP_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return EXIT_FAILURE;
    }
#ifdef HAVE_CBLAS
    printf("test_matmul: a CBLAS, %d threads as loaded\n", mm_blas_threads());
#else
    printf("test_matmul: no CBLAS: the loops\n");
#endif
    SRunner *sr = srunner_create(matmul_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    pp_registry_free(reg);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
