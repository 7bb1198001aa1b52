/* tests/gpu_skip.h - what a GPU test does when no GPU answers: automake's
 * SKIP (77), saying why, unless PIPETTE_REQUIRE_GPU=1 makes a missing GPU
 * a failure (on the machines whose GPU results are being recorded). */
#ifndef PP_TESTS_GPU_SKIP_H
#define PP_TESTS_GPU_SKIP_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#endif
