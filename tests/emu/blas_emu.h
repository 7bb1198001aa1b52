/* tests/emu/blas_emu.h - what the emulator's cuBLAS (cublas_emu.c) and
 * cuBLASLt (cublaslt_emu.c) share (blas_emu.c): the checks of a call's
 * context and memory, the element types and their rounding, and the
 * product of two matrices. Private to libpipette-cuda-emulator.
 *
 * Column-major, as BLAS: element (i, j) of a matrix with leading
 * dimension ld is at [i + j * ld]; op(X) is X, or its transpose.
 */
#ifndef PP_EMU_BLAS_EMU_H
#define PP_EMU_BLAS_EMU_H

#include <stddef.h>
#include <stdint.h>

#include <cublas_api.h>

#include "cuda_emu.h"

/* CUBLAS_STATUS_SUCCESS where `device` is current and owns stream s;
 * otherwise CUBLAS_STATUS_EXECUTION_FAILED and a line on stderr, where a
 * real GPU would fault or run on the wrong device. */
PP_EMU_HIDDEN cublasStatus_t pp_emu_blas_context(int device, cudaStream_t s,
                                                 const char *call);

/* CUBLAS_STATUS_SUCCESS where the `bytes` from p lie inside device (or
 * page-locked host) memory that `device` reaches; otherwise
 * CUBLAS_STATUS_EXECUTION_FAILED and a line on stderr naming `what`. */
PP_EMU_HIDDEN cublasStatus_t pp_emu_blas_span(int device, const char *call,
                                              const char *what,
                                              const void *p, size_t bytes);

/* Bytes from the first to the last element of a rows x cols matrix of
 * `size`-byte elements with leading dimension ld >= rows; 0 if empty. */
PP_EMU_HIDDEN size_t pp_emu_matrix_bytes(int64_t rows, int64_t cols,
                                         int64_t ld, size_t size);

/* Bytes of an element of CUDA_R_32F (4) or CUDA_R_16BF (2); 0 for the
 * types the emulator does not compute with. */
PP_EMU_HIDDEN size_t pp_emu_type_size(cudaDataType t);
/* Element i of an array of type t (of the two above), as a float:
 * exact. */
PP_EMU_HIDDEN float pp_emu_get(const void *p, cudaDataType t, size_t i);
/* Stores v as element i: exact for CUDA_R_32F; for CUDA_R_16BF rounded
 * to nearest, ties to even, NaN made 0x7fff, as cvt.rn.bf16.f32. */
PP_EMU_HIDDEN void pp_emu_put(void *p, cudaDataType t, size_t i, float v);
/* Whether cuBLAS and cuBLASLt compute A and B of type ab into C (and D)
 * of type c in FP32 (the emulated rows of their tables of supported
 * combinations): A and B in FP32 or bf16, C in FP32 or like A and B;
 * CUBLAS_COMPUTE_32F_FAST_TF32 (`fast`) only for FP32 throughout. */
PP_EMU_HIDDEN int pp_emu_fp32_types(cudaDataType ab, cudaDataType c,
                                    int fast);
/* x rounded to TF32 (8 exponent bits, 10 mantissa bits), to nearest
 * with ties away from zero (adding half an ulp and truncating, as
 * CUTLASS's tensor-core kernels convert FP32 operands); infinities and
 * NaN kept. */
PP_EMU_HIDDEN float pp_emu_tf32(float x);

/* One operand of a product: op(X) of X at p, of type `type`. */
struct pp_emu_operand {
    const void *p;
    cudaDataType type;
    int64_t ld;
    int trans; /* op(X) = X^T */
};

/* Element (r, c) of op(X). */
PP_EMU_HIDDEN float pp_emu_op_get(const struct pp_emu_operand *x, int64_t r,
                                  int64_t c);

/* acc = op(A) op(B), op(A) m x k and op(B) k x n: each element a sum
 * in float of products of the operands' values (rounded to TF32 first
 * where tf32), as an FP32-accumulating GEMM sums, though not in cuBLAS's
 * order, which no one may rely on. acc is column-major, m x n, ld m. */
struct pp_emu_product {
    int m, n, k, tf32;
    struct pp_emu_operand a, b;
    float *acc;
    float *pa, *pb; /* op(A) and op(B)^T packed, row by row */
};

/* Allocates room for p's sums (zero where k is 0) at the call, so that
 * running it later cannot fail: -1 where memory ran out. */
PP_EMU_HIDDEN int pp_emu_product_alloc(struct pp_emu_product *p);
/* Reads A and B and fills acc. */
PP_EMU_HIDDEN void pp_emu_product_run(struct pp_emu_product *p);
PP_EMU_HIDDEN void pp_emu_product_free(struct pp_emu_product *p);

#endif
