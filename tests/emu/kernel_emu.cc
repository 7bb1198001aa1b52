/* tests/emu/kernel_emu.cc - the scheduler behind kernel_emu.h: runs a
 * grid on the calling OS thread, one block at a time, a block's threads as
 * ucontext fibers resumed round robin.
 *
 * A fiber runs until it ends or must wait: at __syncthreads, for the
 * block's other non-exited threads; at a shuffle, for its warp's other
 * non-exited lanes. The thread that completes a barrier releases the
 * waiters and runs on, so a kernel that never synchronises costs one
 * switch in and one out a thread. As PTX's bar.sync and exit have it, a
 * thread that has returned no longer holds a barrier up.
 *
 * All state is thread_local: each OS thread (a host thread, or an
 * emulated stream's worker) schedules its own grids.
 */
#include "kernel_emu.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

/* Valgrind must be told of the fiber stacks, or it takes a switch for a
 * huge stack frame and reports the scheduler's own frame as invalid. */
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#else
#define VALGRIND_STACK_REGISTER(start, end) 0u
#define VALGRIND_STACK_DEREGISTER(id)
#endif

#define MAX_THREADS 1024 /* a block, as on every current GPU */
#define WARP 32
#define STACK_SIZE (64 << 10)

enum state { RUNNABLE, AT_BARRIER, AT_SHUFFLE, EXITED };

struct fiber {
    ucontext_t ctx;
    char *map; /* guard page, then the stack; NULL until first needed */
    unsigned vg_id;
    uint3 idx;
    enum state state;
    uint64_t shfl_in, shfl_out; /* the value given and the one received */
    unsigned shfl_src;          /* the lane it is received from */
};

struct emu_state {
    struct fiber *fibers; /* MAX_THREADS, once this OS thread launches */
    ucontext_t sched;     /* where a fiber goes when it waits or ends */
    int nthreads, live, cur;
    int bar_arrived;
    int warp_live[MAX_THREADS / WARP], warp_arrived[MAX_THREADS / WARP];
    void (*body)(void *);
    void *arg;
    bool in_kernel;
    int error; /* the last launch error, until taken */

    ~emu_state()
    {
        if (!fibers)
            return;
        for (int i = 0; i < MAX_THREADS; i++)
            if (fibers[i].map) {
                VALGRIND_STACK_DEREGISTER(fibers[i].vg_id);
                munmap(fibers[i].map, STACK_SIZE + getpagesize());
            }
        free(fibers);
    }
};

static thread_local struct emu_state emu;

thread_local uint3 pp_emu_threadIdx, pp_emu_blockIdx;
thread_local dim3 pp_emu_blockDim, pp_emu_gridDim;

static void die(const char *what)
{
    fprintf(stderr, "kernel_emu: %s\n", what);
    abort();
}

/* Back to the scheduler until a release makes this fiber runnable. */
static void wait_here(void)
{
    swapcontext(&emu.fibers[emu.cur].ctx, &emu.sched);
}

static void release_barrier(void)
{
    for (int i = 0; i < emu.nthreads; i++)
        if (emu.fibers[i].state == AT_BARRIER)
            emu.fibers[i].state = RUNNABLE;
    emu.bar_arrived = 0;
}

/* Every waiting lane gets its source lane's value, or its own where the
 * source is outside the warp or not in the exchange (exited, or past the
 * block's end): undefined on a GPU. All values are read before any lane
 * runs on and gives its next one. */
static void release_shuffle(int w)
{
    struct fiber *lane = emu.fibers + w * WARP;
    int n = emu.nthreads - w * WARP < WARP ? emu.nthreads - w * WARP : WARP;
    for (int l = 0; l < n; l++) {
        if (lane[l].state != AT_SHUFFLE)
            continue;
        unsigned s = lane[l].shfl_src;
        lane[l].shfl_out = s < (unsigned)n && lane[s].state == AT_SHUFFLE
                               ? lane[s].shfl_in
                               : lane[l].shfl_in;
    }
    for (int l = 0; l < n; l++)
        if (lane[l].state == AT_SHUFFLE)
            lane[l].state = RUNNABLE;
    emu.warp_arrived[w] = 0;
}

void pp_emu_syncthreads(void)
{
    if (!emu.in_kernel)
        die("__syncthreads outside a kernel");
    if (++emu.bar_arrived == emu.live) {
        release_barrier();
        return;
    }
    emu.fibers[emu.cur].state = AT_BARRIER;
    wait_here();
}

uint64_t pp_emu_shfl_xor(uint64_t bits, unsigned lane_mask)
{
    if (!emu.in_kernel)
        die("warp shuffle outside a kernel");
    struct fiber *f = &emu.fibers[emu.cur];
    int w = emu.cur / WARP;
    f->shfl_in = bits;
    f->shfl_src = (unsigned)(emu.cur % WARP) ^ lane_mask;
    f->state = AT_SHUFFLE;
    if (++emu.warp_arrived[w] == emu.warp_live[w])
        release_shuffle(w);
    else
        wait_here();
    return f->shfl_out;
}

/* A fiber's whole life; returning resumes the scheduler (uc_link). */
static void fiber_main(void)
{
    emu.body(emu.arg);
    int w = emu.cur / WARP;
    emu.fibers[emu.cur].state = EXITED;
    emu.live--;
    emu.warp_live[w]--;
    if (emu.bar_arrived > 0 && emu.bar_arrived == emu.live)
        release_barrier();
    if (emu.warp_arrived[w] > 0 && emu.warp_arrived[w] == emu.warp_live[w])
        release_shuffle(w);
}

/* Fresh context on fiber i's stack, mapped on first use. Its own function:
 * getcontext returns twice, which the caller's loop must not see. */
static void start_fiber(int i)
{
    struct fiber *f = &emu.fibers[i];
    long page = getpagesize();
    if (!f->map) {
        /* The guard page turns a stack overflow into a fault. */
        void *m = mmap(NULL, STACK_SIZE + page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (m == MAP_FAILED || mprotect(m, page, PROT_NONE) != 0)
            die("cannot map a fiber stack");
        f->map = (char *)m;
        f->vg_id = VALGRIND_STACK_REGISTER(f->map + page,
                                           f->map + page + STACK_SIZE);
    }
    getcontext(&f->ctx);
    f->ctx.uc_stack.ss_sp = f->map + page;
    f->ctx.uc_stack.ss_size = STACK_SIZE;
    f->ctx.uc_link = &emu.sched;
    makecontext(&f->ctx, fiber_main, 0);
    f->state = RUNNABLE;
    f->idx.x = (unsigned)i % pp_emu_blockDim.x;
    f->idx.y = (unsigned)i / pp_emu_blockDim.x % pp_emu_blockDim.y;
    f->idx.z = (unsigned)i / (pp_emu_blockDim.x * pp_emu_blockDim.y);
}

static void run_block(void)
{
    int n = emu.nthreads;
    for (int i = 0; i < n; i++)
        start_fiber(i);
    emu.live = n;
    emu.bar_arrived = 0;
    for (int w = 0; w * WARP < n; w++) {
        emu.warp_live[w] = n - w * WARP < WARP ? n - w * WARP : WARP;
        emu.warp_arrived[w] = 0;
    }
    while (emu.live > 0) {
        bool ran = false;
        for (int i = 0; i < n; i++) {
            if (emu.fibers[i].state != RUNNABLE)
                continue;
            emu.cur = i;
            pp_emu_threadIdx = emu.fibers[i].idx;
            swapcontext(&emu.sched, &emu.fibers[i].ctx);
            ran = true;
        }
        if (!ran)
            die("deadlock: threads wait at a barrier or shuffle that the "
                "others never reach");
    }
}

/* CUDA's limits, the same on every current GPU. */
bool pp_emu_valid_launch(dim3 grid, dim3 block)
{
    uint64_t threads = (uint64_t)block.x * block.y * block.z;
    if (grid.x == 0 || grid.y == 0 || grid.z == 0 || threads == 0 ||
        threads > MAX_THREADS || block.z > 64 || grid.x > 0x7fffffffu ||
        grid.y > 65535 || grid.z > 65535) {
        emu.error = cudaErrorInvalidConfiguration;
        return false;
    }
    return true;
}

void pp_emu_run(dim3 grid, dim3 block, void (*body)(void *), void *arg)
{
    if (emu.in_kernel)
        die("launch from inside a kernel (dynamic parallelism)");
    uint64_t threads = (uint64_t)block.x * block.y * block.z;
    if (!emu.fibers) {
        emu.fibers = (struct fiber *)calloc(MAX_THREADS, sizeof *emu.fibers);
        if (!emu.fibers)
            die("out of memory");
    }
    emu.nthreads = (int)threads;
    emu.body = body;
    emu.arg = arg;
    emu.in_kernel = true;
    pp_emu_gridDim = grid;
    pp_emu_blockDim = block;
    for (unsigned z = 0; z < grid.z; z++)
        for (unsigned y = 0; y < grid.y; y++)
            for (unsigned x = 0; x < grid.x; x++) {
                pp_emu_blockIdx = uint3{x, y, z};
                run_block();
            }
    emu.in_kernel = false;
}

extern "C" int pp_emu_take_launch_error(void)
{
    int e = emu.error;
    emu.error = 0;
    return e;
}
