/* fuzz/fuzz.h - what the fuzz targets share: a private directory for the
 * files they load, /dev/null for what they print, and the entry points
 * libFuzzer calls (fuzz/standalone.c calls them without libFuzzer). */
#ifndef PP_FUZZ_FUZZ_H
#define PP_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Larger inputs are passed over: 64 KiB covers every example and test
 * file, and keeps one run short. */
#define PP_FUZZ_MAX_INPUT 65536

typedef struct pp_fuzz_dir {
    char path[2048]; /* $TMPDIR/pp-fuzz-WHAT.XXXXXX, removed at exit */
    FILE *null;      /* /dev/null, for everything a target prints */
} pp_fuzz_dir;

/* Makes the directory and opens /dev/null; exits the process if it
 * cannot (a harness that cannot start is no fuzz finding). Unsets
 * PIPETTE_PLUGIN_PATH unless PP_FUZZ_KEEP_PLUGIN_PATH is set, as the
 * tests do, so that a user's plugins cannot change an outcome. */
void pp_fuzz_setup(pp_fuzz_dir *dir, const char *what);

/* Replaces path's contents with data; exits the process if it cannot. */
void pp_fuzz_write(const char *path, const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
