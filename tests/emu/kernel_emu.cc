/* tests/emu/kernel_emu.cc - the scheduler behind kernel_emu.h: runs a
 * grid on the calling OS thread, one block at a time, a block's threads as
 * ucontext fibers.
 *
 * A fiber runs until it ends or must wait: at __syncthreads, for the
 * block's other non-exited threads; at a warp operation (shuffle, ballot,
 * __syncwarp), for the lanes its mask names, come with the same mask. The
 * thread that completes a barrier or warp operation releases the waiters
 * and runs on, so a kernel that never synchronises costs one switch in
 * and one out a thread. As PTX's bar.sync and exit have it, a thread that
 * has returned no longer holds a barrier up.
 *
 * What a GPU does not promise, the emulator does not give either:
 * - Order. Each block resumes its runnable fibers in a random order (a
 *   permutation drawn for the block, started at a random point each
 *   round), so a missing __syncthreads gives wrong results for some
 *   seeds. The seed is PIPETTE_EMU_SEED, or else drawn from the clock and
 *   pid; pp_emu_seed() says it, and so does every error below.
 * - Shared memory's contents. A block's __shared__ variables (see
 *   pp_emu_shared) and its dynamic shared memory hold 0xff bytes (NaN,
 *   -1) when the block starts, whatever the previous block left.
 * - Warp operations outside their contract. The emulator dies where a
 *   mask does not name the calling lane or the lane it reads, names a
 *   lane that has exited or lies past the block's end (a GPU would hang or
 *   read garbage), or differs from the mask another lane brought to the
 *   same call.
 * Errors go to stderr as "kernel_emu: ...", then abort; nothing else is
 * ever printed.
 *
 * All scheduling state is thread_local: each OS thread (a host thread, or
 * an emulated stream's worker) schedules its own grids, its order drawn
 * from the seed afresh.
 */
#include "kernel_emu.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>

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
#define MAX_SHARED 256 /* __shared__ variables a block */

enum state { RUNNABLE, AT_BARRIER, AT_WARP, EXITED };

struct fiber {
    ucontext_t ctx;
    char *map; /* guard page, then the stack; NULL until first needed */
    unsigned vg_id;
    uint3 idx;
    enum state state;
    const char *file; /* where it waits, for the errors */
    int line;
    /* At a warp operation: */
    int kind;
    unsigned mask;
    uint64_t in, out; /* the value given and the one received */
    unsigned src;     /* the lane it reads: its own where none */
};

/* A warp's lanes, a bit each. While every waiting lane came with one mask
 * and kind (uniform), a lane that brings the same needs no more checks. */
struct warp {
    unsigned present, exited, waiting;
    bool uniform;
    unsigned mask;
    int kind;
};

struct emu_state {
    struct fiber *fibers; /* MAX_THREADS, once this OS thread launches */
    ucontext_t sched;     /* where a fiber goes when it waits or ends */
    int nthreads, live, cur;
    int bar_arrived;
    struct warp warps[MAX_THREADS / WARP];
    uint16_t order[MAX_THREADS]; /* the block's permutation of its threads */
    uint64_t rng;
    unsigned seed_epoch; /* the seed rng was drawn from; 0: none yet */
    void *shared[MAX_SHARED]; /* __shared__ variables poisoned this block */
    int nshared;
    char *dyn; /* dynamic shared memory: dyn_size used, dyn_cap allocated */
    size_t dyn_size, dyn_cap;
    void (*body)(void *);
    void *arg;
    bool in_kernel;
    int error; /* the last launch error, until taken */

    ~emu_state()
    {
        free(dyn);
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

/* The process's seed, and how many times it was set: a thread whose
 * seed_epoch differs draws its order from the seed afresh. */
static std::atomic<uint64_t> seed;
static std::atomic<unsigned> seed_epoch;

static const char *const op_name[] = {
    "__shfl_sync",   "__shfl_up_sync", "__shfl_down_sync",
    "__shfl_xor_sync", "__ballot_sync", "__syncwarp",
};

__attribute__((noreturn, format(printf, 1, 2))) static void
die(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (seed_epoch.load())
        fprintf(stderr, "kernel_emu: %s [PIPETTE_EMU_SEED=%llu]\n", msg,
                (unsigned long long)seed.load());
    else
        fprintf(stderr, "kernel_emu: %s\n", msg);
    abort();
}

/* "FILE:LINE: block (x,y,z) thread (x,y,z), lane L of warp W" of f. */
static const char *where(char *buf, size_t n, const struct fiber *f)
{
    int t = (int)(f - emu.fibers);
    snprintf(buf, n, "%s:%d: block (%u,%u,%u) thread (%u,%u,%u), lane %d of "
             "warp %d", f->file ? f->file : "?", f->line, pp_emu_blockIdx.x,
             pp_emu_blockIdx.y, pp_emu_blockIdx.z, f->idx.x, f->idx.y,
             f->idx.z, t % WARP, t / WARP);
    return buf;
}

/* ---- the seed ------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* In [0, n), n <= 2^32; the bias is below 2^-22 for a block's n. */
static unsigned draw(unsigned n)
{
    return (unsigned)((splitmix64(&emu.rng) >> 32) * n >> 32);
}

static bool pick_seed(void)
{
    const char *s = getenv("PIPETTE_EMU_SEED");
    uint64_t v;
    if (s && *s) {
        char *end;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (*end || errno || *s < '0' || *s > '9')
            die("PIPETTE_EMU_SEED=%s: not a decimal number below 2^64", s);
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t x = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
        x ^= (uint64_t)getpid() << 40;
        v = splitmix64(&x) >> 32; /* short enough to type back */
    }
    seed.store(v);
    seed_epoch.store(1);
    return true;
}

static void need_seed(void)
{
    static const bool picked = pick_seed(); /* once, thread-safe */
    (void)picked;
}

extern "C" uint64_t pp_emu_seed(void)
{
    need_seed();
    return seed.load();
}

extern "C" void pp_emu_set_seed(uint64_t s)
{
    need_seed();
    seed.store(s);
    seed_epoch.fetch_add(1);
}

/* ---- synchronisation ----------------------------------------------------- */

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

void pp_emu_syncthreads(const char *file, int line)
{
    if (!emu.in_kernel)
        die("%s:%d: __syncthreads outside a kernel", file, line);
    struct fiber *f = &emu.fibers[emu.cur];
    f->file = file;
    f->line = line;
    if (++emu.bar_arrived == emu.live) {
        release_barrier();
        return;
    }
    f->state = AT_BARRIER;
    wait_here();
}

/* Whether every lane of mask waits with that mask and kind. */
static bool warp_ready(int w, unsigned mask, int kind)
{
    const struct fiber *lane = emu.fibers + w * WARP;
    for (unsigned b = mask; b; b &= b - 1) {
        const struct fiber *g = &lane[__builtin_ctz(b)];
        if (g->mask != mask || g->kind != kind)
            return false;
    }
    return true;
}

/* Every lane of mask gets its source lane's value, or the ballot; all
 * values are read before any lane runs on and gives its next one. */
static void release_warp(int w, unsigned mask, int kind)
{
    struct fiber *lane = emu.fibers + w * WARP;
    uint64_t ballot = 0;
    if (kind == PP_EMU_BALLOT)
        for (unsigned b = mask; b; b &= b - 1)
            if (lane[__builtin_ctz(b)].in)
                ballot |= 1u << __builtin_ctz(b);
    for (unsigned b = mask; b; b &= b - 1) {
        struct fiber *g = &lane[__builtin_ctz(b)];
        g->out = kind == PP_EMU_BALLOT ? ballot : lane[g->src].in;
    }
    for (unsigned b = mask; b; b &= b - 1)
        lane[__builtin_ctz(b)].state = RUNNABLE;
    emu.warps[w].waiting &= ~mask;
}

/* Lane t of warp w brings another mask or kind than some waiting lane.
 * Two calls may wait at once (PTX lets disjoint groups shuffle apart);
 * but lanes that name each other at the same line are at the same call. */
static void check_meeting(int w, int t)
{
    const struct fiber *f = &emu.fibers[t], *lane = emu.fibers + w * WARP;
    unsigned me = 1u << (t % WARP);
    for (unsigned b = emu.warps[w].waiting; b; b &= b - 1) {
        int l = __builtin_ctz(b);
        const struct fiber *g = &lane[l];
        if ((g->mask == f->mask && g->kind == f->kind) ||
            !((g->mask & me) || (f->mask & (1u << l))) ||
            g->line != f->line || strcmp(g->file, f->file) != 0)
            continue;
        char at[256];
        die("%s: %s with mask %#010x, where lane %d of its warp came with "
            "%s mask %#010x",
            where(at, sizeof at, f), op_name[f->kind], f->mask, l,
            g->kind == f->kind ? "the" : op_name[g->kind], g->mask);
    }
}

uint64_t pp_emu_warp_op(int kind, unsigned mask, uint64_t bits, int arg,
                        int width, const char *file, int line)
{
    if (!emu.in_kernel)
        die("%s:%d: %s outside a kernel", file, line, op_name[kind]);
    int t = emu.cur, w = t / WARP;
    unsigned lane = (unsigned)t % WARP, me = 1u << lane;
    struct warp *wp = &emu.warps[w];
    struct fiber *f = &emu.fibers[t];
    const char *op = op_name[kind];
    char at[256];
    f->file = file;
    f->line = line;
    if (!(mask & me))
        die("%s: %s with mask %#010x, which does not name the calling lane",
            where(at, sizeof at, f), op, mask);
    if (mask & ~wp->present)
        die("%s: %s with mask %#010x naming lanes past the block's end "
            "(this warp has lanes %#010x)",
            where(at, sizeof at, f), op, mask, wp->present);
    if (mask & wp->exited)
        die("%s: %s with mask %#010x naming lane %d, which has exited",
            where(at, sizeof at, f), op, mask,
            __builtin_ctz(mask & wp->exited));
    if (width < 1 || width > WARP || (width & (width - 1)))
        die("%s: %s with width %d: not a power of two up to 32",
            where(at, sizeof at, f), op, width);
    /* The lane read, as CUDA defines it for each kind: outside the
     * lane's segment of width lanes, its own value. */
    unsigned seg = lane & ~(unsigned)(width - 1), src = lane;
    switch (kind) {
    case PP_EMU_SHFL_IDX:
        src = seg + ((unsigned)arg & (unsigned)(width - 1));
        break;
    case PP_EMU_SHFL_UP:
        if ((unsigned)arg <= lane - seg)
            src = lane - (unsigned)arg;
        break;
    case PP_EMU_SHFL_DOWN:
        if (lane + (unsigned)arg < seg + (unsigned)width)
            src = lane + (unsigned)arg;
        break;
    case PP_EMU_SHFL_XOR:
        if ((lane ^ (unsigned)arg) < seg + (unsigned)width)
            src = lane ^ (unsigned)arg;
        break;
    }
    if (!(mask & (1u << src)))
        die("%s: %s with mask %#010x reads lane %u, which the mask does "
            "not name",
            where(at, sizeof at, f), op, mask, src);
    f->kind = kind;
    f->mask = mask;
    f->in = bits;
    f->src = src;
    if (wp->waiting == 0) {
        wp->uniform = true;
        wp->mask = mask;
        wp->kind = kind;
    } else if (!wp->uniform || mask != wp->mask || kind != wp->kind) {
        check_meeting(w, t);
        wp->uniform = false;
    }
    f->state = AT_WARP;
    wp->waiting |= me;
    if ((wp->waiting & mask) == mask &&
        (wp->uniform || warp_ready(w, mask, kind)))
        release_warp(w, mask, kind);
    else
        wait_here();
    return f->out;
}

/* Lane l of warp w has exited: no waiting lane may name it. */
static void check_exit(int w, int l)
{
    const struct fiber *lane = emu.fibers + w * WARP;
    for (unsigned b = emu.warps[w].waiting; b; b &= b - 1) {
        const struct fiber *g = &lane[__builtin_ctz(b)];
        if (!(g->mask & (1u << l)))
            continue;
        char at[256];
        die("%s: %s with mask %#010x waits for lane %d, which has exited",
            where(at, sizeof at, g), op_name[g->kind], g->mask, l);
    }
}

/* ---- shared memory ------------------------------------------------------- */

void pp_emu_shared(void *p, size_t size)
{
    if (!emu.in_kernel)
        die("a __shared__ variable outside a kernel");
    for (int i = 0; i < emu.nshared; i++)
        if (emu.shared[i] == p)
            return;
    if (emu.nshared == MAX_SHARED)
        die("over %d __shared__ variables in a block", MAX_SHARED);
    emu.shared[emu.nshared++] = p;
    memset(p, 0xff, size);
}

pp_emu_dynamic_shared_ptr pp_emu_dynamic_shared(void)
{
    if (!emu.in_kernel)
        die("extern __shared__ memory outside a kernel");
    return pp_emu_dynamic_shared_ptr{emu.dyn_size ? emu.dyn : NULL};
}

/* ---- the scheduler ------------------------------------------------------- */

/* A fiber's whole life; returning resumes the scheduler (uc_link). */
static void fiber_main(void)
{
    emu.body(emu.arg);
    int t = emu.cur, w = t / WARP;
    emu.fibers[t].state = EXITED;
    emu.live--;
    emu.warps[w].exited |= 1u << (t % WARP);
    if (emu.warps[w].waiting)
        check_exit(w, t % WARP);
    if (emu.bar_arrived > 0 && emu.bar_arrived == emu.live)
        release_barrier();
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
    f->file = NULL;
    f->line = 0;
    f->idx.x = (unsigned)i % pp_emu_blockDim.x;
    f->idx.y = (unsigned)i / pp_emu_blockDim.x % pp_emu_blockDim.y;
    f->idx.z = (unsigned)i / (pp_emu_blockDim.x * pp_emu_blockDim.y);
}

/* No fiber can run: say where they wait. */
__attribute__((noreturn)) static void deadlock(void)
{
    const struct fiber *bar = NULL, *warp = NULL;
    int nbar = 0, nwarp = 0;
    for (int i = 0; i < emu.nthreads; i++) {
        const struct fiber *f = &emu.fibers[i];
        if (f->state == AT_BARRIER && nbar++ == 0)
            bar = f;
        else if (f->state == AT_WARP && nwarp++ == 0)
            warp = f;
    }
    char b[300] = "", w[300] = "", at[256];
    if (bar)
        snprintf(b, sizeof b, "; %d at __syncthreads, first %s", nbar,
                 where(at, sizeof at, bar));
    if (warp)
        snprintf(w, sizeof w, "; %d at warp operations, first %s (%s, mask "
                 "%#010x)", nwarp, where(at, sizeof at, warp),
                 op_name[warp->kind], warp->mask);
    die("deadlock: threads wait for others that never come%s%s", b, w);
}

static void run_block(void)
{
    int n = emu.nthreads;
    for (int i = 0; i < n; i++)
        start_fiber(i);
    emu.live = n;
    emu.bar_arrived = 0;
    for (int w = 0; w * WARP < n; w++) {
        int lanes = n - w * WARP < WARP ? n - w * WARP : WARP;
        emu.warps[w] = warp{lanes == WARP ? ~0u : (1u << lanes) - 1, 0, 0,
                            false, 0, 0};
    }
    emu.nshared = 0;
    if (emu.dyn_size)
        memset(emu.dyn, 0xff, emu.dyn_size);
    /* The block's order: a Fisher-Yates permutation, each round of the
     * scheduler starting it at a random point. */
    for (int i = 0; i < n; i++)
        emu.order[i] = (uint16_t)i;
    for (int i = n - 1; i > 0; i--) {
        unsigned j = draw((unsigned)i + 1);
        uint16_t o = emu.order[i];
        emu.order[i] = emu.order[j];
        emu.order[j] = o;
    }
    while (emu.live > 0) {
        bool ran = false;
        int k = (int)draw((unsigned)n);
        for (int left = n; left > 0; left--, k = k + 1 == n ? 0 : k + 1) {
            int i = emu.order[k];
            if (emu.fibers[i].state != RUNNABLE)
                continue;
            emu.cur = i;
            pp_emu_threadIdx = emu.fibers[i].idx;
            swapcontext(&emu.sched, &emu.fibers[i].ctx);
            ran = true;
        }
        if (!ran)
            deadlock();
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

void pp_emu_run(dim3 grid, dim3 block, size_t shmem, void (*body)(void *),
                void *arg)
{
    if (emu.in_kernel)
        die("launch from inside a kernel (dynamic parallelism)");
    uint64_t threads = (uint64_t)block.x * block.y * block.z;
    if (!emu.fibers) {
        emu.fibers = (struct fiber *)calloc(MAX_THREADS, sizeof *emu.fibers);
        if (!emu.fibers)
            die("out of memory");
    }
    if (shmem > emu.dyn_cap) {
        free(emu.dyn);
        emu.dyn = (char *)aligned_alloc(256, (shmem + 255) & ~(size_t)255);
        if (!emu.dyn)
            die("out of memory for %zu bytes of dynamic shared memory",
                shmem);
        emu.dyn_cap = (shmem + 255) & ~(size_t)255;
    }
    emu.dyn_size = shmem;
    need_seed();
    unsigned epoch = seed_epoch.load();
    if (emu.seed_epoch != epoch) {
        emu.rng = seed.load();
        emu.seed_epoch = epoch;
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
