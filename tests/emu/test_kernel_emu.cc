/* tests/emu/test_kernel_emu.cc - self-test of the kernel emulator: its
 * scheduling, bf16 kernels (cuda_bf16.h's host code) bit for bit, the
 * optimizers' kernels against their CPU loops, and planted bugs
 * (planted_bugs.cu) that each of its checks must catch.
 *
 * Built by make check in an emulated build (tests/emu/local.mk), with its
 * own objects of plugins/optim_cuda.cu and planted_bugs.cu. The argument
 * is cu2cc.pl, whose rewriting it checks; without it,
 * $top_srcdir/tests/emu/cu2cc.pl (make check sets top_srcdir), else that
 * check is skipped. Exits 1 on the first failure, naming the seed of the
 * fibers' order: PIPETTE_EMU_SEED=N repeats the run.
 */
#include "kernel_emu.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <thread>

#include <cuda_bf16.h>

#include "../../plugins/optim_cuda.h"
#include "planted_bugs.h"

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
            fprintf(stderr, " [PIPETTE_EMU_SEED=%llu]\n",                   \
                    (unsigned long long)pp_emu_seed());                     \
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

/* Thread t of 8 rounds in[t] to bf16 (alone and as the low half of a
 * pair whose high half is -in[t]) and widens element t of a 16-byte load
 * of 8 bf16 values. */
__global__ void bf16_kernel(__nv_bfloat16 *one, __nv_bfloat162 *pair,
                            float *back, float *wide, const float *in,
                            const __nv_bfloat16 *packed)
{
    unsigned t = threadIdx.x;
    one[t] = __float2bfloat16(in[t]);
    pair[t] = __floats2bfloat162_rn(in[t], -in[t]);
    back[t] = __bfloat162float(one[t]);
    uint4 v = *(const uint4 *)packed;
    __nv_bfloat162 h[4];
    memcpy((void *)h, &v, sizeof h);
    wide[t] = t % 2 ? __high2float(h[t / 2]) : __low2float(h[t / 2]);
}

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

/* ---- planted bugs: each of the emulator's checks must catch its own ---- */

static bool is_poison(const void *p, size_t n)
{
    const unsigned char *c = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++)
        if (c[i] != 0xff)
            return false;
    return true;
}

/* Block 1 reads 32 slots of each array that only block 0 wrote: poison,
 * not block 0's values. A second launch must not see the first's either. */
static void test_unwritten_shared(void)
{
    for (int launch = 0; launch < 2; launch++) {
        float out[128], dyn[128];
        int iout[128];
        emu_unwritten_shared(out, iout);
        emu_unwritten_dynamic(dyn);
        for (int i = 0; i < 128; i++) {
            int t = i % 64;
            if (i < 64 + 32) {
                CHECK(out[i] == t + 1 && iout[i] == t + 1 && dyn[i] == t + 1,
                      "launch %d slot %d: %g %d %g, want %d", launch, i,
                      out[i], iout[i], dyn[i], t + 1);
            } else {
                CHECK(isnan(out[i]) && is_poison(&out[i], sizeof *out) &&
                          iout[i] == -1 && isnan(dyn[i]) &&
                          is_poison(&dyn[i], sizeof *dyn),
                      "launch %d: block 1 slot %d, never written, reads %g "
                      "%d %g, not the poison",
                      launch, t, out[i], iout[i], dyn[i]);
            }
        }
    }
}

/* Without the barrier, thread t reads its neighbour's slot before the
 * neighbour wrote it wherever the order puts t first: some seeds must
 * show it. With the barrier every seed gives the right values. The
 * emulator's old fixed order (thread 0 first) hid it. */
static void test_missing_barrier(void)
{
    static int out[512];
    int exposed = 0;
    for (uint64_t seed = 1; seed <= 8; seed++) {
        for (int sync = 1; sync >= 0; sync--) {
            pp_emu_set_seed(seed);
            int salt = (int)seed * 1000 + sync * 500;
            emu_neighbour(out, salt, sync);
            int wrong = 0;
            for (int i = 0; i < 512; i++) {
                int t = i % 256;
                wrong += out[i] != salt + (t > 0 ? t - 1 : 0);
            }
            if (sync)
                CHECK(wrong == 0, "seed %llu: %d wrong with the barrier",
                      (unsigned long long)seed, wrong);
            else
                exposed += wrong > 0;
        }
    }
    CHECK(exposed > 0, "no seed of 8 shows the missing barrier");
}

/* The order is a permutation, the same for the same seed, and not one
 * order for all seeds. */
static void test_order(void)
{
    int a[64], b[64], c[64], seen[64] = {0};
    pp_emu_set_seed(42);
    CHECK(pp_emu_seed() == 42, "seed %llu, want 42",
          (unsigned long long)pp_emu_seed());
    emu_order(a);
    pp_emu_set_seed(42);
    emu_order(b);
    pp_emu_set_seed(43);
    emu_order(c);
    for (int k = 0; k < 64; k++) {
        CHECK(a[k] >= 0 && a[k] < 64 && !seen[a[k]]++, "order %d: %d", k,
              a[k]);
        CHECK(a[k] == b[k], "seed 42 twice: %d then %d at %d", a[k], b[k],
              k);
    }
    CHECK(memcmp(a, c, sizeof a) != 0, "seeds 42 and 43: one order");
    /* A permutation, not only a rotation of thread order. */
    int next = 0;
    for (int k = 0; k + 1 < 64; k++)
        next += a[k + 1] == (a[k] + 1) % 64;
    CHECK(next < 32, "seed 42: %d of 63 threads run right after the one "
          "before them", next);
}

/* Runs fn(arg) in a child whose stderr is a pipe: whether it was killed
 * by SIGABRT, and its stderr in msg. */
static bool dies(void (*fn)(int), int arg, char *msg, size_t size)
{
    int fd[2];
    CHECK(pipe(fd) == 0, "pipe");
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        struct rlimit no_core = {0, 0};
        setrlimit(RLIMIT_CORE, &no_core);
        close(fd[0]);
        dup2(fd[1], 2);
        fn(arg);
        _exit(0);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t r;
    char rest[256];
    while ((r = n < size - 1 ? read(fd[0], msg + n, size - 1 - n)
                             : read(fd[0], rest, sizeof rest)) > 0)
        n += n < size - 1 ? (size_t)r : 0;
    msg[n] = '\0';
    close(fd[0]);
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    return WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT;
}

static void run_warp_bug(int bug)
{
    float out[64];
    emu_warp_bug(out, bug);
}

static void run_warp_bug_seeded(int seed)
{
    pp_emu_set_seed((uint64_t)seed);
    run_warp_bug(EMU_WARP_EXITED_WHILE);
}

/* fn(arg) must abort with "kernel_emu: planted_bugs.cu:LINE: ..." naming
 * want, and the seed; its stderr is left in death. */
static char death[4096];

static void expect_death(void (*fn)(int), int arg, const char *want,
                         const char *what)
{
    bool aborted = dies(fn, arg, death, sizeof death);
    CHECK(aborted && strncmp(death, "kernel_emu: ", 12) == 0 &&
              strstr(death, "planted_bugs.cu:") && strstr(death, want) &&
              strstr(death, "[PIPETTE_EMU_SEED="),
          "%s: %s, stderr \"%s\", want \"%s\"", what,
          aborted ? "aborted" : "did not abort", death, want);
}

static void test_warp_bugs(void)
{
    float out[64];
    emu_warp_bug(out, EMU_WARP_RIGHT);
    for (int l = 0; l < 32; l++)
        CHECK(out[l] == 496, "lane %d: %g", l, out[l]);
    expect_death(run_warp_bug, EMU_WARP_CALLER_UNNAMED,
                 "__shfl_xor_sync with mask 0x0000ffff, which does not name "
                 "the calling lane",
                 "a lane outside its mask");
    expect_death(run_warp_bug, EMU_WARP_SOURCE_UNNAMED,
                 "which the mask does not name", "a source outside the mask");
    expect_death(run_warp_bug, EMU_WARP_MASKS_DIFFER,
                 "of its warp came with the mask", "two masks at one call");
    expect_death(run_warp_bug, EMU_WARP_EXITED_BEFORE,
                 "naming lane 7, which has exited", "an exited lane named");
    expect_death(run_warp_bug, EMU_WARP_PAST_END,
                 "naming lanes past the block's end", "a lane past the end");
    expect_death(run_warp_bug, EMU_WARP_DEADLOCK,
                 "deadlock: threads wait for others that never come; 16 at "
                 "__syncthreads, first tests/emu/planted_bugs.cu:",
                 "a barrier and a shuffle waiting for each other");
    CHECK(strstr(death, "16 at warp operations, first "
                        "tests/emu/planted_bugs.cu:"),
          "deadlock: %s", death);
    /* Lane 7 exits while the lanes before it in the order wait for it:
     * every seed dies, most seeds there. */
    int waiting = 0;
    for (int seed = 1; seed <= 4; seed++) {
        expect_death(run_warp_bug_seeded, seed, "lane 7, which has exited",
                     "an exited lane waited for");
        waiting += strstr(death, "waits for lane 7, which has exited") != NULL;
    }
    CHECK(waiting > 0, "lane 7 never exited while the others waited");
}

static void test_warp_ops(void)
{
    static int out[EMU_WARP_TESTS * 64];
    for (int i = 0; i < EMU_WARP_TESTS * 64; i++)
        out[i] = -1;
    emu_warp_ops(out);
    for (int id = 0; id < 64; id++) {
        int lane = id % 32, w = id / 32 * 32;
        unsigned ballot = 0;
        for (int l = 0; l < 32; l++)
            ballot |= (unsigned)((w + l) % 3 == 0) << l;
        int want[EMU_WARP_TESTS] = {
            (w + 5) * 10,
            w + (lane & ~7) + 3,
            lane >= 2 ? id - 2 : id,
            lane + 3 < 32 ? id + 3 : id,
            lane % 16 + 3 < 16 ? id + 3 : id,
            id ^ 8,
            (int)ballot,
            w ? 2 : 1,
            id ^ 1,
            lane < 16 ? id ^ 2 : id,
            id ^ 1,
            id ^ 1,
        };
        for (int k = 0; k < EMU_WARP_TESTS; k++)
            CHECK(out[k * 64 + id] == want[k], "test %d thread %d: %d, want %d",
                  k, id, out[k * 64 + id], want[k]);
    }
}

/* PIPETTE_EMU_SEED sets the seed; one that is no number is refused. */
static void test_seed_env(const char *self)
{
    char cmd[4200], line[64] = "";
    snprintf(cmd, sizeof cmd, "PIPETTE_EMU_SEED=18446744073709551615 '%s' "
             "--seed", self);
    FILE *p = popen(cmd, "r");
    CHECK(p && fgets(line, sizeof line, p), "%s", cmd);
    CHECK(pclose(p) == 0 && strcmp(line, "18446744073709551615\n") == 0,
          "%s: %s", cmd, line);
    snprintf(cmd, sizeof cmd, "PIPETTE_EMU_SEED=12x '%s' --seed 2>&1", self);
    p = popen(cmd, "r");
    CHECK(p && fgets(line, sizeof line, p), "%s", cmd);
    CHECK(pclose(p) != 0 && strstr(line, "kernel_emu: PIPETTE_EMU_SEED=12x: "
                                         "not a decimal number"),
          "%s: %s", cmd, line);
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
                        NULL, NULL) == cudaSuccess,
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

/* bf16 as cuda_bf16.h computes it on the host: round to nearest, ties
 * to even, NaN made canonical (0x7fff), overflow to infinity; widening
 * exact, bit for bit. */
static void test_bf16(void)
{
    const float in[8] = {
        1.0f,
        1.0f + 0x1p-8f,           /* tie between 0x3f80 and 0x3f81: even */
        1.0f + 0x3p-8f,           /* tie between 0x3f81 and 0x3f82: even */
        1.0f + 0x1p-8f + 0x1p-20f, /* just past the tie: up */
        -0x1.ff8p-1f,             /* nearer -1 than 0xbf7f: -1 */
        NAN,
        0x1.fffffep127f,          /* FLT_MAX: past bf16's largest, inf */
        -0.0f,
    };
    const uint16_t want[8] = {0x3f80, 0x3f80, 0x3f82, 0x3f81,
                              0xbf80, 0x7fff, 0x7f80, 0x8000};
    const uint16_t bits[8] = {0x3f80, 0xc000, 0x4040, 0x3e80,
                              0xff80, 0x0001, 0x7fc1, 0x8001};
    __nv_bfloat16 one[8], packed[8] __attribute__((aligned(16)));
    __nv_bfloat162 pair[8];
    float back[8], wide[8];
    memcpy(packed, bits, sizeof packed);
    pp_emu_launch(bf16_kernel, 1, 8)(one, pair, back, wide, in, packed);
    for (int t = 0; t < 8; t++) {
        uint16_t o, lo, hi;
        uint32_t b, w;
        memcpy(&o, &one[t], 2);
        memcpy(&lo, &pair[t].x, 2);
        memcpy(&hi, &pair[t].y, 2);
        memcpy(&b, &back[t], 4);
        memcpy(&w, &wide[t], 4);
        /* -NaN is NaN again: the pair's high half is canonical too. */
        uint16_t neg = t == 5 ? 0x7fff : (uint16_t)(want[t] ^ 0x8000);
        CHECK(o == want[t] && lo == want[t] && hi == neg,
              "%a: %04x, pair %04x %04x; want %04x, %04x %04x", in[t], o,
              lo, hi, want[t], want[t], neg);
        CHECK(b == (uint32_t)want[t] << 16, "%04x widened to %08x", o, b);
        CHECK(w == (uint32_t)bits[t] << 16, "loaded %04x widened to %08x",
              bits[t], w);
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
        "  (y); // f<<<1,1>>>(z)\n"
        "__shared__ float g[2];\n"
        "void f(void) {\n"
        "    __shared__ float a[2][3], *b; /* __shared__ x; */\n"
        "    extern __shared__ int d[];\n"
        "}\n";
    static const char want[] =
        "#line 1 \"dir/x \\\"q\\\".cu\"\n"
        "/* k<<<1, 2>>>(x) */ const char *s = \"k<<<1, 2>>>(x)\";\n"
        "#define L(k, n) \\\n"
        "    pp_emu_launch(k, (n), \\\n"
        "        256)(n)\n"
        "a = b << 2 >> 1; pp_emu_launch(k2 , \n"
        "  dim3(1, 2), 3, 0, s)\n"
        "  (y); // f<<<1,1>>>(z)\n"
        "__shared__ float g[2]; static_assert(false, \"kernel_emu: "
        "__shared__ outside a function is not emulated: declare it in the "
        "kernel\");\n"
        "void f(void) {\n"
        "    __shared__ float a[2][3], *b; pp_emu_shared((void *)&a, sizeof "
        "a); pp_emu_shared((void *)&b, sizeof b); /* __shared__ x; */\n"
        "    int *const d = pp_emu_dynamic_shared();\n"
        "}\n";
    char tmp[] = "/tmp/test_kernel_emu.XXXXXX", cmd[4200], out[2048];
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
    /* test_seed_env's child: the seed it was given. */
    if (argc > 1 && strcmp(argv[1], "--seed") == 0) {
        printf("%llu\n", (unsigned long long)pp_emu_seed());
        return 0;
    }
    test_block_sum();
    test_warp_sum();
    test_grid_stride();
    test_indices();
    test_early_exit();
    test_threads();
    test_invalid_launch();
    test_adamw();
    test_bf16();
    test_unwritten_shared();
    test_warp_ops();
    test_warp_bugs();
    test_order();
    test_missing_barrier();
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(len > 0 && len < (ssize_t)sizeof self - 1, "/proc/self/exe");
    self[len] = '\0';
    test_seed_env(self);
    /* make check gives no argument, but top_srcdir. */
    char script[4096];
    const char *top = getenv("top_srcdir");
    if (argc > 1)
        test_filter(argv[1]);
    else if (top && snprintf(script, sizeof script, "%s/tests/emu/cu2cc.pl",
                             top) < (int)sizeof script) {
        test_filter(script);
    } else
        printf("cu2cc.pl not given: its check skipped\n");
    printf("test_kernel_emu: %d checks passed\n", checks);
    return 0;
}
