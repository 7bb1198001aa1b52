/* src/error.c - filling pp_error. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <pipette/error.h>

void pp_error_clear(pp_error *err)
{
    if (!err)
        return;
    err->code = PP_OK;
    err->count = 0;
    err->msg[0] = '\0';
}

pp_status pp_error_set(pp_error *err, pp_status code, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    err->count = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    return code;
}

/* Keeps room for the "... and N more" line so a long list of config errors
 * always ends with an honest count. */
#define PP_ERROR_TAIL 64

pp_status pp_error_add(pp_error *err, pp_status code, const char *fmt, ...)
{
    if (!err)
        return code;
    if (err->code == PP_OK) {
        err->code = code;
        err->count = 0;
        err->msg[0] = '\0';
    }
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);

    size_t used = strlen(err->msg);
    size_t need = strlen(line) + (used ? 1 : 0);
    err->count++;
    if (used + need + PP_ERROR_TAIL < sizeof err->msg) {
        if (used)
            err->msg[used++] = '\n';
        memcpy(err->msg + used, line, strlen(line) + 1);
        return err->code;
    }
    /* Out of room: rewrite the summary line at the end. */
    char *tail = strstr(err->msg, "\n... and ");
    if (tail)
        *tail = '\0';
    used = strlen(err->msg);
    size_t shown = 1;
    for (const char *p = err->msg; *p; p++)
        shown += *p == '\n';
    snprintf(err->msg + used, sizeof err->msg - used,
             "\n... and %zu more error%s", err->count - shown,
             err->count - shown == 1 ? "" : "s");
    return err->code;
}

pp_status pp_error_prefix(pp_error *err, const char *fmt, ...)
{
    if (!err)
        return PP_ERR_RUNTIME;
    char prefix[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t plen = strlen(prefix), mlen = strlen(err->msg);
    if (plen + 2 + mlen >= sizeof err->msg)
        mlen = sizeof err->msg - plen - 3;
    memmove(err->msg + plen + 2, err->msg, mlen);
    memcpy(err->msg, prefix, plen);
    memcpy(err->msg + plen, ": ", 2);
    err->msg[plen + 2 + mlen] = '\0';
    return err->code;
}

const char *pp_status_name(pp_status code)
{
    switch (code) {
    case PP_OK: return "ok";
    case PP_ERR_CONFIG: return "config error";
    case PP_ERR_USAGE: return "usage error";
    case PP_ERR_PLUGIN: return "plugin error";
    case PP_ERR_DEVICE: return "device error";
    case PP_ERR_NOMEM: return "out of memory";
    case PP_ERR_IO: return "i/o error";
    case PP_ERR_RUNTIME: return "runtime error";
    }
    return "unknown error";
}
