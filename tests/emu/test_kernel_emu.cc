/* tests/emu/test_kernel_emu.cc - self-test of the kernel emulator.
 *
 * Built by make check in an emulated build (tests/emu/local.mk), with its
 * own object of plugins/optim_cuda.cu. The argument is cu2cc.pl, whose
 * rewriting it checks; without it that check is skipped. Exits 1 on the
 * first failure.
 */
#include "kernel_emu.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <thread>

#include "../../plugins/optim_cuda.h"

/* The launchers' error query; the emulation library's fake runtime has
 * the real one. */
extern "C" cudaError_t cudaGetLastError(void)
{
    return (cudaError_t)pp_emu_take_launch_error();
}

static int checks;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        checks++;                                                           \
        if (!(cond)) {                                                      \
            fprintf(stderr, "%s:%d: FAIL %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                   \
            fprintf(stderr, "\n");                                          \
            exit(1);                                                        \
        }                                                                   \
    } while (0)

static uint64_t rng = 0x243f6a8885a308d3u;

static float frand(void) /* in [-1, 1) */
{
    rng = rng * 6364136223846793005u + 1442695040888963407u;
    return (float)(rng >> 40) / (float)(1 << 23) - 1.0f;
}

static int irand(int n)
{
    rng = rng * 6364136223846793005u + 1442695040888963407u;
    return (int)((rng >> 33) % (uint64_t)n);
}

static bool close_to(double got, double want, double tol)
{
    return fabs(got - want) <= tol * (1.0 + fabs(want));
}

/* ---- the emulator's own kernels ---------------------------------------- */

/* out[b] = sum of in over block b's 256 elements, in a shared tree. */
__global__ void block_sum_kernel(long *out, const long *in)
{
    __shared__ long part[256];
    unsigned t = threadIdx.x;
    part[t] = in[blockIdx.x * 256 + t];
    __syncthreads();
    for (unsigned k = 128; k > 0; k >>= 1) {
        if (t < k)
            part[t] += part[t + k];
        __syncthreads();
    }
    if (t == 0)
        out[blockIdx.x] = part[0];
}

/* Every thread of a (16, 4) block gets its warp's sums of the linear ids
 * (lanes are linear id % 32) as float, double and int. */
__global__ void warp_sum_kernel(float *f, double *d, int *i)
{
    int id = threadIdx.y * blockDim.x + threadIdx.x;
    float vf = (float)id;
    double vd = id;
    int vi = id;
    for (int o = 16; o > 0; o >>= 1) {
        vf += __shfl_xor_sync(0xffffffffu, vf, o);
        vd += __shfl_xor_sync(0xffffffffu, vd, o);
        vi += __shfl_xor_sync(0xffffffffu, vi, o);
    }
    f[id] = vf;
    d[id] = vd;
    i[id] = vi;
}

__global__ void grid_stride_kernel(int *x, int n)
{
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n;
         i += blockDim.x * gridDim.x)
        x[i] += i;
}

/* Every thread of a 3D grid of 3D blocks writes its global linear id. */
__global__ void index_kernel(int *out)
{
    int block = (blockIdx.z * gridDim.y + blockIdx.y) * gridDim.x +
                blockIdx.x;
    int thread = (threadIdx.z * blockDim.y + threadIdx.y) * blockDim.x +
                 threadIdx.x;
    int per = blockDim.x * blockDim.y * blockDim.z;
    out[block * per + thread] = block * per + thread;
}

/* Threads from `live` on return first; the barriers must not wait for
 * them. Thread 0 then sums what the others left in shared memory. */
__global__ void early_exit_kernel(int *out, int live)
{
    __shared__ int part[256];
    if ((int)threadIdx.x >= live)
        return;
    part[threadIdx.x] = threadIdx.x + 1;
    __syncthreads();
    int s = 0;
    if (threadIdx.x == 0)
        for (int k = 0; k < live; k++)
            s += part[k];
    __syncthreads();
    if (threadIdx.x == 0)
        *out = s;
}

__global__ void count_kernel(int *x) { x[0]++; }

static void test_block_sum(void)
{
    enum { BLOCKS = 3 };
    static long in[BLOCKS * 256];
    long out[BLOCKS], want[BLOCKS] = {0};
    for (int i = 0; i < BLOCKS * 256; i++) {
        in[i] = irand(1000000);
        want[i / 256] += in[i];
    }
    pp_emu_launch(block_sum_kernel, BLOCKS, 256)(out, in);
    for (int b = 0; b < BLOCKS; b++)
        CHECK(out[b] == want[b], "block %d: %ld, want %ld", b, out[b],
              want[b]);
}

static void test_warp_sum(void)
{
    float f[64];
    double d[64];
    int i[64];
    pp_emu_launch(warp_sum_kernel, 1, dim3(16, 4))(f, d, i);
    for (int id = 0; id < 64; id++) {
        int want = id < 32 ? 31 * 32 / 2 : 32 * 32 + 31 * 32 / 2;
        CHECK(f[id] == want && d[id] == want && i[id] == want,
              "thread %d: %g %g %d, want %d", id, f[id], d[id], i[id], want);
    }
}

static void test_grid_stride(void)
{
    enum { N = 10007 };
    static int x[N];
    pp_emu_launch(grid_stride_kernel, 7, 128)(x, N);
    for (int i = 0; i < N; i++)
        CHECK(x[i] == i, "x[%d] = %d: not visited exactly once", i, x[i]);
}

static void test_indices(void)
{
    enum { N = 2 * 3 * 2 * 4 * 3 * 2 };
    int out[N];
    for (int k = 0; k < N; k++)
        out[k] = -1;
    pp_emu_launch(index_kernel, dim3(2, 3, 2), dim3(4, 3, 2))(out);
    for (int k = 0; k < N; k++)
        CHECK(out[k] == k, "out[%d] = %d", k, out[k]);
}

static void test_early_exit(void)
{
    int out = -1;
    pp_emu_launch(early_exit_kernel, 1, 256)(&out, 100);
    CHECK(out == 100 * 101 / 2, "sum %d", out);
    pp_emu_launch(early_exit_kernel, 1, 256)(&out, 1);
    CHECK(out == 1, "sum %d", out);
}

/* Two OS threads at once, each with its own shared memory. */
static void test_threads(void)
{
    long out[2][2];
    static long in[2][2 * 256];
    for (int i = 0; i < 2 * 256; i++)
        in[0][i] = 1, in[1][i] = 2;
    std::thread a([&] {
        for (int r = 0; r < 50; r++)
            pp_emu_launch(block_sum_kernel, 2, 256)(out[0], in[0]);
    });
    std::thread b([&] {
        for (int r = 0; r < 50; r++)
            pp_emu_launch(block_sum_kernel, 2, 256)(out[1], in[1]);
    });
    a.join();
    b.join();
    CHECK(out[0][0] == 256 && out[0][1] == 256 && out[1][0] == 512 &&
              out[1][1] == 512,
          "%ld %ld %ld %ld", out[0][0], out[0][1], out[1][0], out[1][1]);
}

static void test_invalid_launch(void)
{
    static const dim3 bad[][2] = {
        {dim3(0), dim3(32)},          {dim3(1), dim3(0)},
        {dim3(1), dim3(1025)},        {dim3(1), dim3(32, 33)},
        {dim3(1), dim3(1, 1, 65)},    {dim3(0x80000000u), dim3(1)},
        {dim3(1, 65536), dim3(1)},    {dim3(1, 1, 65536), dim3(1)},
    };
    int x = 0;
    CHECK(pp_emu_take_launch_error() == 0, "error before any launch");
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        pp_emu_launch(count_kernel, bad[k][0], bad[k][1])(&x);
        CHECK(x == 0, "bad launch %zu ran", k);
        CHECK(pp_emu_take_launch_error() == cudaErrorInvalidConfiguration,
              "bad launch %zu", k);
        CHECK(pp_emu_take_launch_error() == 0, "error not cleared");
    }
    /* As cudaGetLastError: the error stays until taken. */
    pp_emu_launch(count_kernel, 1, 0)(&x);
    pp_emu_launch(count_kernel, 1, 1)(&x);
    CHECK(x == 1, "the valid launch ran %d times", x);
    CHECK(pp_emu_take_launch_error() == cudaErrorInvalidConfiguration,
          "error lost by a later good launch");
    pp_emu_launch(count_kernel, dim3(2, 2, 2), dim3(4, 4, 64))(&x);
    CHECK(x == 1 + 8 * 1024 && pp_emu_take_launch_error() == 0,
          "largest block: %d", x);
}

/* ---- the optimizers' launchers against their CPU loops ----------------- */

/* optim_cuda.cu's explicitly rounded steps against adamw.c's loop. */
static void test_adamw(void)
{
    enum { N = 1000 };
    static float p[N], g[N], m[N], v[N], pc[N], mc[N], vc[N];
    for (int i = 0; i < N; i++) {
        p[i] = pc[i] = frand();
        g[i] = frand();
        m[i] = mc[i] = 0.1f * frand();
        v[i] = vc[i] = 0.01f * fabsf(frand());
    }
    const float b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, step = 0.01f,
                ibc2 = 1.3f, decay = 0.999f;
    /* The first 600 take weight decay, the rest none. */
    CHECK(pp_adamw_cuda(p, g, m, v, N, 600, b1, b2, eps, step, ibc2, decay,
                        NULL) == cudaSuccess,
          "launch");
    for (int i = 0; i < N; i++) {
        mc[i] = b1 * mc[i] + (1 - b1) * g[i];
        vc[i] = b2 * vc[i] + (1 - b2) * g[i] * g[i];
        float kept = i < 600 ? pc[i] * decay : pc[i];
        pc[i] = kept - step * mc[i] / (sqrtf(vc[i]) * ibc2 + eps);
        CHECK(p[i] == pc[i] && m[i] == mc[i] && v[i] == vc[i],
              "element %d: %g, want %g", i, p[i], pc[i]);
    }
}

/* ---- cu2cc.pl ---------------------------------------------------------- */

static void test_filter(const char *script)
{
    static const char in[] =
        "/* k<<<1, 2>>>(x) */ const char *s = \"k<<<1, 2>>>(x)\";\n"
        "#define L(k, n) \\\n"
        "    k<<<(n), \\\n"
        "        256>>>(n)\n"
        "a = b << 2 >> 1; k2 <<<\n"
        "  dim3(1, 2), 3, 0, s>>>\n"
        "  (y); // f<<<1,1>>>(z)\n";
    static const char want[] =
        "#line 1 \"dir/x \\\"q\\\".cu\"\n"
        "/* k<<<1, 2>>>(x) */ const char *s = \"k<<<1, 2>>>(x)\";\n"
        "#define L(k, n) \\\n"
        "    pp_emu_launch(k, (n), \\\n"
        "        256)(n)\n"
        "a = b << 2 >> 1; pp_emu_launch(k2 , \n"
        "  dim3(1, 2), 3, 0, s)\n"
        "  (y); // f<<<1,1>>>(z)\n";
    char tmp[] = "/tmp/test_kernel_emu.XXXXXX", cmd[512], out[1024];
    int fd = mkstemp(tmp);
    CHECK(fd >= 0 && write(fd, in, sizeof in - 1) == (ssize_t)sizeof in - 1, "tmp");
    close(fd);
    snprintf(cmd, sizeof cmd, "perl '%s' 'dir/x \"q\".cu' <%s", script, tmp);
    FILE *p = popen(cmd, "r");
    CHECK(p, "popen");
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    CHECK(pclose(p) == 0, "%s failed", cmd);
    unlink(tmp);
    CHECK(strcmp(out, want) == 0, "got\n%s\nwant\n%s", out, want);
}

int main(int argc, char **argv)
{
    test_block_sum();
    test_warp_sum();
    test_grid_stride();
    test_indices();
    test_early_exit();
    test_threads();
    test_invalid_launch();
    test_adamw();
    if (argc > 1)
        test_filter(argv[1]);
    else
        printf("cu2cc.pl not given: its check skipped\n");
    printf("test_kernel_emu: %d checks passed\n", checks);
    return 0;
}
