/* src/input_file.h - opening the files a run reads (the model file,
 * schedule files, checkpoints): regular files only, of a bounded size.
 *
 * A file is opened without blocking and refused unless fstat says it is a
 * regular file: a FIFO would wait for a writer forever, a device such as
 * /dev/zero never ends, and a directory is no file to read. Its size at
 * open must be within the caller's bound, and no more than that size is
 * read, so a file that grows while it is read cannot grow a buffer.
 * (Data files are the data plugins' to read: plugins/corpus.c keeps the
 * same rule.)
 */
#ifndef PP_SRC_INPUT_FILE_H
#define PP_SRC_INPUT_FILE_H

#include <stdint.h>
#include <stdio.h>

#include <pipette/error.h>

/* Opens path for reading as `what` ("model file", "schedule file"): a
 * regular file of at most max bytes, where why_max (or NULL) says why
 * that bound. *size is its size at open. Errors, all PP_ERR_IO: "PATH:
 * cannot open: REASON", "PATH: is a FIFO; a WHAT must be a regular file",
 * "PATH: is N bytes; a WHAT is at most M MiB (WHY)". */
pp_status pp_input_open(const char *path, const char *what, int64_t max,
                        const char *why_max, FILE **out, int64_t *size,
                        pp_error *err);

/* The whole of such a file in a malloc'd, NUL-terminated buffer of *len
 * bytes (its size at open, or less where it shrank while read). */
pp_status pp_input_read(const char *path, const char *what, int64_t max,
                        const char *why_max, char **text, size_t *len,
                        pp_error *err);

#endif
