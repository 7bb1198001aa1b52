/* pipette/error.h - how every fallible pipette function reports failure.
 *
 * A function that can fail returns a pp_status and fills the caller's
 * pp_error with a message a user can act on. Config errors read
 * "FILE:LINE: message". Nothing here prints or exits: only the command does.
 */
#ifndef PIPETTE_ERROR_H
#define PIPETTE_ERROR_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pp_status {
    PP_OK = 0,
    PP_ERR_CONFIG,  /* the user's configuration is wrong (exit status 2) */
    PP_ERR_USAGE,   /* a command was called wrongly (exit status 2) */
    PP_ERR_PLUGIN,  /* a plugin could not be found, loaded or accepted */
    PP_ERR_DEVICE,  /* a device (CUDA, ...) failed or is absent */
    PP_ERR_NOMEM,   /* host or device memory ran out */
    PP_ERR_IO,      /* a file could not be read or written */
    PP_ERR_RUNTIME  /* anything else that went wrong while running */
} pp_status;

/* Room for several "FILE:LINE: message" lines: the config loader reports
 * every error it finds in one pass, one per line. */
#define PP_ERROR_MAX 4096

typedef struct pp_error {
    pp_status code;
    size_t count;           /* messages held in msg, one per line */
    char msg[PP_ERROR_MAX]; /* "" when code == PP_OK */
} pp_error;

/* Clears err (code PP_OK, empty message). */
void pp_error_clear(pp_error *err);

/* Replaces err with one formatted message; returns code, so that
 * `return pp_error_set(err, PP_ERR_IO, "...", ...);` reads naturally. */
pp_status pp_error_set(pp_error *err, pp_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends one more message line (the first error's code is kept). Past the
 * buffer's room the surplus is counted and summarised, never truncated
 * mid-line. */
pp_status pp_error_add(pp_error *err, pp_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Puts "prefix: " in front of the message (for a single-line error). */
pp_status pp_error_prefix(pp_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A short name for a status, e.g. "config error". */
const char *pp_status_name(pp_status code);

#ifdef __cplusplus
}
#endif

#endif
