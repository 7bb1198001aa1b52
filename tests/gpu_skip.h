/* tests/gpu_skip.h - what a GPU test does when no GPU answers: automake's
 * SKIP (77), saying why, unless PIPETTE_REQUIRE_GPU=1 makes a missing GPU
 * a failure (on the machines whose GPU results are being recorded). */
#ifndef PP_TESTS_GPU_SKIP_H
#define PP_TESTS_GPU_SKIP_H

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pipette/device.h>

static inline int pp_test_no_gpu(const char *program, const char *why)
{
    const char *require = getenv("PIPETTE_REQUIRE_GPU");
    if (require && strcmp(require, "1") == 0) {
        fprintf(stderr, "%s: PIPETTE_REQUIRE_GPU=1 but no GPU answers: %s\n",
                program, why);
        return EXIT_FAILURE;
    }
    printf("%s: skipped, no GPU answers: %s\n", program, why);
    return 77;
}

/* Far beyond any working run of one GPU test program (each opens a few
 * CUDA contexts and NCCL communicators, a second or so each), and short
 * enough that a hang still leaves a lent GPU machine's 10-minute call
 * time to bring the logs back. */
#define PP_TEST_WATCHDOG_S 300
#define PP_TEST_STR_(x) #x
#define PP_TEST_STR(x) PP_TEST_STR_(x)

static inline void pp_test_watchdog_fired(int sig)
{
    (void)sig;
    static const char msg[] = "GPU test still running after "
                              PP_TEST_STR(PP_TEST_WATCHDOG_S) " s: a "
                              "kernel, a transfer or a communicator hangs\n";
    ssize_t ignored = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)ignored;
    _exit(EXIT_FAILURE);
}

/* The GPU tests run in-process (see below), where Check's timeouts do not
 * work: without this, a hang on the device would stop `make check` for
 * ever instead of failing it. */
static inline void pp_test_watchdog(void)
{
    struct sigaction on_alarm = {.sa_handler = pp_test_watchdog_fired};
    sigemptyset(&on_alarm.sa_mask);
    if (sigaction(SIGALRM, &on_alarm, NULL) == 0)
        alarm(PP_TEST_WATCHDOG_S);
    else
        perror("GPU test watchdog: sigaction");
}

/* main() of a test that asks the cuda device plugin `gpu` for GPUs: the
 * suite runs when one answers, in this process (CK_NOFORK: a forked child
 * cannot use its parent's CUDA context). */
static inline int pp_test_gpu_main(const char *program,
                                   const pp_device_ops *gpu,
                                   Suite *(*suite)(void))
{
    int n = 0;
    char why[512];
    pp_error err;
    pp_error_clear(&err);
    if (gpu->count(&n, why, sizeof why, &err)) {
        fprintf(stderr, "%s: %s\n", program, err.msg);
        return EXIT_FAILURE;
    }
    if (n == 0)
        return pp_test_no_gpu(program, why);
    pp_test_watchdog();
    SRunner *sr = srunner_create(suite());
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

#endif
