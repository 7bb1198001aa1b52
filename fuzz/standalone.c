/* fuzz/standalone.c - a fuzz target without libFuzzer: runs
 * LLVMFuzzerTestOneInput once on each file named, printing "ok FILE"
 * after each, so that make check replays fuzz/regressions through the
 * same entry points the fuzzers use (tests/fuzz-regressions.sh). A crash
 * or a sanitizer report stops it. */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

int main(int argc, char **argv)
{
    LLVMFuzzerInitialize(&argc, &argv);
    uint8_t *buf = malloc(PP_FUZZ_MAX_INPUT + 1);
    if (!buf) {
        fputs("out of memory\n", stderr);
        return 1;
    }
    int status = 0;
    for (int i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        if (!f) {
            perror(argv[i]);
            status = 1;
            continue;
        }
        size_t n = fread(buf, 1, PP_FUZZ_MAX_INPUT + 1, f);
        int bad = ferror(f);
        fclose(f);
        if (bad || n > PP_FUZZ_MAX_INPUT) {
            fprintf(stderr, "%s: %s\n", argv[i],
                    bad ? "cannot read" : "larger than a fuzz input");
            status = 1;
            continue;
        }
        /* A copy of its own size, so that ASan sees a read past the end. */
        uint8_t *data = malloc(n ? n : 1);
        if (!data) {
            fputs("out of memory\n", stderr);
            return 1;
        }
        for (size_t k = 0; k < n; k++)
            data[k] = buf[k];
        LLVMFuzzerTestOneInput(data, n);
        free(data);
        printf("ok %s\n", argv[i]);
        fflush(stdout);
    }
    free(buf);
    return status;
}
