/* src/input_file.c - input files opened without blocking, regular and
 * bounded (input_file.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "input_file.h"

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

pp_status pp_input_open(const char *path, const char *what, int64_t max,
                        const char *why_max, FILE **out, int64_t *size,
                        pp_error *err)
{
    *out = NULL;
    /* O_NONBLOCK: opening a FIFO would otherwise wait for a writer. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return pp_error_add(err, PP_ERR_IO, "%s: cannot open: %s", path,
                            strerror(e));
    }
    pp_status st = PP_OK;
    if (!S_ISREG(sb.st_mode))
        st = pp_error_add(err, PP_ERR_IO, "%s: is %s; a %s must be a "
                          "regular file", path, kind_of(sb.st_mode), what);
    else if (sb.st_size > max)
        st = pp_error_add(err, PP_ERR_IO, "%s: is %lld bytes; a %s is at "
                          "most %lld MiB%s%s%s", path,
                          (long long)sb.st_size, what,
                          (long long)(max >> 20), why_max ? " (" : "",
                          why_max ? why_max : "", why_max ? ")" : "");
    /* Reads block again: a regular file never waits. */
    int flags = st ? -1 : fcntl(fd, F_GETFL);
    FILE *f = NULL;
    if (!st && (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ||
                !(f = fdopen(fd, "rb"))))
        st = pp_error_add(err, PP_ERR_IO, "%s: cannot open: %s", path,
                          strerror(errno));
    if (st) {
        close(fd);
        return st;
    }
    *out = f;
    *size = (int64_t)sb.st_size;
    return PP_OK;
}

pp_status pp_input_read(const char *path, const char *what, int64_t max,
                        const char *why_max, char **text, size_t *len,
                        pp_error *err)
{
    *text = NULL;
    *len = 0;
    FILE *f;
    int64_t size;
    pp_status st = pp_input_open(path, what, max, why_max, &f, &size, err);
    if (st)
        return st;
    char *buf = malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        return pp_error_add(err, PP_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t n = fread(buf, 1, (size_t)size, f);
    if (ferror(f)) {
        int e = errno;
        free(buf);
        fclose(f);
        return pp_error_add(err, PP_ERR_IO, "%s: cannot read: %s", path,
                            strerror(e));
    }
    fclose(f);
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return PP_OK;
}
