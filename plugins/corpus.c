/* plugins/corpus.c - reading a data file whole (see corpus.h). A file is
 * read rather than mapped, so that one changed or truncated under a run
 * cannot fault a reader thread.
 *
 * Only a regular file is read, opened without blocking (a FIFO would wait
 * for a writer forever, and /dev/zero never ends), and only as many bytes
 * as it had when opened, at most the machine's memory: the same rule as
 * the core's for its own input files (src/input_file.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "corpus.h"

/* "a FIFO", "a directory", ...: what a file is that is not a regular
 * one. */
static const char *kind_of(mode_t mode)
{
    return S_ISDIR(mode)    ? "a directory"
         : S_ISFIFO(mode)   ? "a FIFO"
         : S_ISCHR(mode)    ? "a character device"
         : S_ISBLK(mode)    ? "a block device"
         : S_ISSOCK(mode)   ? "a socket"
                            : "not a regular file";
}

/* The machine's memory in bytes, or 0 where it does not say. */
static int64_t memory_bytes(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (int64_t)pages * page : 0;
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
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return pp_section_error(cfg, key, err, "cannot read '%s': %s", path,
                                strerror(e));
    }
    int64_t most = memory_bytes();
    pp_status st = PP_OK;
    if (!S_ISREG(sb.st_mode))
        st = pp_section_error(cfg, key, err, "'%s' is %s; a data file must "
                              "be a regular file", path, kind_of(sb.st_mode));
    else if (most && sb.st_size > most)
        st = pp_section_error(cfg, key, err, "'%s' is %lld bytes, more than "
                              "this machine's memory (%lld bytes): a data "
                              "file is read whole", path,
                              (long long)sb.st_size, (long long)most);
    unsigned char *buf = st ? NULL : malloc((size_t)sb.st_size + 1);
    if (!st && !buf)
        st = pp_error_set(err, PP_ERR_NOMEM, "out of memory reading '%s' "
                          "(%lld bytes)", path, (long long)sb.st_size);
    /* (O_NONBLOCK changes nothing for a regular file's reads.) */
    size_t len = 0;
    while (!st && len < (size_t)sb.st_size) {
        ssize_t n = read(fd, buf + len, (size_t)sb.st_size - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            st = pp_section_error(cfg, key, err, "cannot read '%s': %s",
                                  path, strerror(errno));
        if (n <= 0)
            break; /* shrunk since it was opened: what it holds now */
        len += (size_t)n;
    }
    close(fd);
    if (st) {
        free(buf);
        return st;
    }
    *data = buf;
    *size = len;
    return PP_OK;
}
