/* fuzz/fuzz_common.c - the fuzz targets' directory and /dev/null
 * (fuzz.h). */
#include <config.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

static pp_fuzz_dir *made;

#ifdef PP_LIBFUZZER
/* clang's driver puts libstdc++ (which libFuzzer needs) before the shared
 * ASan runtime (configure takes the shared one: see
 * m4/pp_sanitizers.m4) among the program's libraries, and ASan then
 * refuses to start. libstdc++ defines none of the C functions ASan
 * intercepts, so its place changes nothing for pipette's code: skip the
 * check. ASAN_OPTIONS can still override this. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
    return "verify_asan_link_order=0";
}
#endif

/* Removes the directory's files (the targets make no subdirectories) and
 * the directory. */
static void remove_dir(void)
{
    DIR *d = opendir(made->path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char file[8192];
            snprintf(file, sizeof file, "%s/%s", made->path, e->d_name);
            unlink(file);
        }
        closedir(d);
    }
    rmdir(made->path);
}

void pp_fuzz_setup(pp_fuzz_dir *dir, const char *what)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = "/tmp";
    snprintf(dir->path, sizeof dir->path, "%s/pp-fuzz-%s.XXXXXX", tmp, what);
    if (!mkdtemp(dir->path)) {
        perror(dir->path);
        exit(1);
    }
    dir->null = fopen("/dev/null", "w");
    if (!dir->null) {
        perror("/dev/null");
        exit(1);
    }
    made = dir;
    atexit(remove_dir);
    if (!getenv("PP_FUZZ_KEEP_PLUGIN_PATH"))
        unsetenv("PIPETTE_PLUGIN_PATH");
}

void pp_fuzz_write(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    size_t wrote = f ? fwrite(data, 1, size, f) : 0;
    if (!f || fclose(f) != 0 || wrote != size) {
        perror(path);
        exit(1);
    }
}
