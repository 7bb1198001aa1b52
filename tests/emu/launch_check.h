/* tests/emu/launch_check.h - checks a GPU would make of a kernel launch,
 * or whose absence would make it fault, before the kernel emulator runs
 * the kernel. Force-included after kernel_emu.h when a .cu file is
 * compiled for the emulator (tests/emu/local.mk).
 *
 * Every launch pp_emu_launch(k, cfg)(args) that cu2cc.pl wrote becomes a
 * checked one: the stream must belong to the current device (CUDA:
 * cudaErrorInvalidResourceHandle), and every pointer argument that is not
 * NULL must point into memory the current device can reach: its own
 * device memory, a peer's with peer access enabled, or page-locked host
 * memory (a GPU would fault: cudaErrorIllegalAddress); grid and block
 * must be within CUDA's limits (cudaErrorInvalidConfiguration). A refused
 * launch does not run; its error is the thread's last error, with a line
 * on stderr naming the launch's file and line. Pointers inside structures
 * passed by value are not seen. An accepted launch is queued on its
 * stream with a copy of its arguments, as on a GPU, and runs later on
 * the stream's worker thread (cuda_emu_stream.c).
 */
#ifndef PP_EMU_LAUNCH_CHECK_H
#define PP_EMU_LAUNCH_CHECK_H

#include <type_traits>

/* cuda_emu.c: 0, or the cudaError_t of a refused launch. */
extern "C" int pp_emu_check_launch(const char *file, int line,
                                   cudaStream_t stream, int n,
                                   const void *const *pointers);
extern "C" void pp_emu_enqueue(cudaStream_t stream, void (*run)(void *),
                               void *arg, int wait);

template <typename T> static inline const void *pp_emu_pointer_arg(const T &v)
{
    if constexpr (std::is_pointer<T>::value)
        return (const void *)v;
    else
        return nullptr;
}

template <typename... P> struct pp_emu_checked_launcher {
    pp_emu_launcher<P...> launch;
    const char *file;
    int line;
    cudaStream_t stream;

    void operator()(P... args) const
    {
        typedef pp_emu_launcher<P...> launcher;
        const void *pointers[sizeof...(P) + 1] = {pp_emu_pointer_arg(args)...};
        if (pp_emu_check_launch(file, line, stream, (int)sizeof...(P),
                                pointers) == 0 &&
            pp_emu_valid_launch(launch.grid, launch.block))
            pp_emu_enqueue(stream, launcher::run_closure,
                           new typename launcher::closure{
                               launch.kernel, launch.grid, launch.block,
                               launch.shmem, std::tuple<P...>(args...)},
                           0);
    }
};

template <typename... P>
static inline pp_emu_checked_launcher<P...>
pp_emu_checked_launch(const char *file, int line, void (*kernel)(P...),
                      dim3 grid, dim3 block, size_t shmem = 0,
                      cudaStream_t stream = 0)
{
    return pp_emu_checked_launcher<P...>{
        pp_emu_launch(kernel, grid, block, shmem, stream), file, line,
        stream};
}

/* From here on, in the .cu file, every launch is checked. */
#define pp_emu_launch(...)                                                  \
    pp_emu_checked_launch(__FILE__, __LINE__, __VA_ARGS__)

#endif
