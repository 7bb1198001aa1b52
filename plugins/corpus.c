/* plugins/corpus.c - reading a data file whole (see corpus.h). A file is
 * read rather than mapped, so that one changed or truncated under a run
 * cannot fault a reader thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "corpus.h"

static pp_status unreadable(const pp_section *cfg, const char *key,
                            const char *path, FILE *f, unsigned char *buf,
                            pp_error *err)
{
    int e = errno;
    free(buf);
    if (f)
        fclose(f);
    return pp_section_error(cfg, key, err, "cannot read '%s': %s", path,
                            strerror(e));
}

pp_status corpus_load(const pp_section *cfg, const char *key,
                      unsigned char **data, size_t *size, pp_error *err)
{
    const char *written;
    if (pp_section_string(cfg, key, &written, err))
        return err->code;
    /* A relative path is the model file's neighbour, wherever pipette
     * runs from. */
    char path[4096];
    pp_section_resolve(cfg, written, path, sizeof path);
    FILE *f = fopen(path, "rb");
    if (!f)
        return unreadable(cfg, key, path, NULL, NULL, err);
    /* Grown as it is read: a pipe or a file still being written has no
     * trustworthy size up front. */
    size_t cap = 0, len = 0;
    unsigned char *buf = NULL;
    while (!feof(f)) {
        if (len == cap) {
            unsigned char *grown = realloc(buf, cap = cap ? 2 * cap : 1 << 16);
            if (!grown) {
                free(buf);
                fclose(f);
                return pp_error_set(err, PP_ERR_NOMEM, "out of memory "
                                    "reading '%s' (%zu bytes so far)",
                                    path, len);
            }
            buf = grown;
        }
        len += fread(buf + len, 1, cap - len, f);
        if (ferror(f))
            return unreadable(cfg, key, path, f, buf, err);
    }
    fclose(f);
    *data = buf;
    *size = len;
    return PP_OK;
}
