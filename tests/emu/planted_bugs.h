/* tests/emu/planted_bugs.h - launchers of planted_bugs.cu's kernels, for
 * test_kernel_emu.cc. All pointers are host memory; every launch runs to
 * its end before the call returns. */
#ifndef PP_EMU_PLANTED_BUGS_H
#define PP_EMU_PLANTED_BUGS_H

/* 2 blocks of 64 threads; block 0 writes every slot of its shared arrays,
 * block 1 only the first 32; out[b * 64 + t] is slot t as thread t of
 * block b reads it. */
void emu_unwritten_shared(float *out, int *iout);
void emu_unwritten_dynamic(float *out);

/* 2 blocks of 256 threads: thread t writes salt + t to its shared slot
 * and reads its left neighbour's (thread 0 its own), with a __syncthreads
 * between only where sync. */
void emu_neighbour(int *out, int salt, int sync);

/* seq[k]: the linear id of the k-th thread of a 64-thread block to run. */
void emu_order(int *seq);

/* Warp operations that CUDA defines: out[k * 64 + id] is test k's value
 * in thread id of a 64-thread block (EMU_WARP_TESTS tests). */
#define EMU_WARP_TESTS 12
void emu_warp_ops(int *out);

/* A 32-lane butterfly sum of the lane numbers into out[0..31] (want
 * 496), with the bug numbered: */
enum {
    EMU_WARP_RIGHT,         /* none */
    EMU_WARP_CALLER_UNNAMED, /* lanes 16-31 call with mask 0x0000ffff */
    EMU_WARP_SOURCE_UNNAMED, /* lanes 0-15 read lanes 16-31, mask 0xffff */
    EMU_WARP_MASKS_DIFFER,   /* lane 3 brings 0x0000ffff, the rest ~0 */
    EMU_WARP_EXITED_BEFORE,  /* lane 7 returns, then a barrier, then all */
    EMU_WARP_EXITED_WHILE,   /* lane 7 returns as the others arrive */
    EMU_WARP_PAST_END,       /* a block of 48 threads: warp 1 has 16 */
    EMU_WARP_DEADLOCK,       /* lanes 0-15 wait at a __syncthreads */
};
void emu_warp_bug(float *out, int bug);

#endif
