/* src/main.c - the `pipette` command: global options and dispatch. */
#define _GNU_SOURCE /* fopencookie */
#include <config.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pipette/pipette.h>

#include "cmd.h"
#include "config_file.h"
#include "job.h"
#include "model.h"

static const char usage[] =
    "usage: pipette [--help] [--version] COMMAND [ARGS]\n"
    "\n"
    "Pipeline-parallel training of neural networks described in INI files.\n"
    "\n"
    "commands:\n"
    "  plugins          list the plugins found on the search path\n"
    "  check FILE.ini   validate a model file and the plugins it names\n"
    "  devices          show CPU cores, GPUs and library versions\n"
    "  schedule NAME    verify and simulate a pipeline schedule, show its\n"
    "                   timeline, bubble and activation memory\n"
    "  train FILE.ini   train the model on its pipeline\n"
    "  eval FILE.ini    its loss on data (from a checkpoint), forward only\n"
    "  gradcheck FILE.ini\n"
    "                   check its layers' gradients, and their GPU halves\n"
    "                   against their CPU halves\n"
    "  checkpoint DIR   what a checkpoint holds; checks every tensor\n"
    "\n"
    "'pipette COMMAND --help' describes a command. Plugins are looked up in\n"
    "PIPETTE_PLUGIN_PATH, then the build tree (when run from it), then\n"
    PP_PKGLIBDIR "; a model file's plugin_path is searched first only\n"
    "with --allow-model-plugins (plugins are code).\n"
    "\n"
    "exit status: 0 success, 1 runtime failure, 2 usage or config error.\n"
    "See pipette(1) and pipette.ini(5).\n";

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    {"plugins", pp_cmd_plugins},
    {"check", pp_cmd_check},
    {"devices", pp_cmd_devices},
    {"schedule", pp_cmd_schedule},
    {"train", pp_cmd_train},
    {"eval", pp_cmd_eval},
    {"gradcheck", pp_cmd_gradcheck},
    {"checkpoint", pp_cmd_checkpoint},
};

int pp_cmd_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return 0;
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return 1;
    }
    return 0;
}

int pp_cmd_usage_error(const char *cmd, const char *help, const char *fmt,
                       ...)
{
    fprintf(stderr, "pipette %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", help);
    return PP_EXIT_USAGE;
}

int pp_cmd_count(const char *text, long long max, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(text, &end, 10);
    if (end == text || *end || errno || v < 1 || v > max)
        return -1;
    *out = v;
    return 0;
}

/* Whether a message line starts with its own "FILE:LINE:". */
static int located(const char *line, int len)
{
    const char *colon = memchr(line, ':', (size_t)len);
    if (!colon || colon == line)
        return 0;
    const char *p = colon + 1;
    while (p < line + len && *p >= '0' && *p <= '9')
        p++;
    return p > colon + 1 && p < line + len && *p == ':';
}

/* A failure's exit status, the one rule (cmd.h): 2 for usage and config,
 * else 1. */
static int exit_status(const pp_error *err)
{
    return err->code == PP_ERR_CONFIG || err->code == PP_ERR_USAGE
               ? PP_EXIT_USAGE
               : PP_EXIT_FAILURE;
}

int pp_cmd_fail(const pp_error *err)
{
    const char *line = err->msg;
    while (*line) {
        const char *end = strchr(line, '\n');
        int len = end ? (int)(end - line) : (int)strlen(line);
        fprintf(stderr, "%s%.*s\n", located(line, len) ? "" : "pipette: ",
                len, line);
        line = end ? end + 1 : line + len;
    }
    return exit_status(err);
}

/* Why a write to stdout failed: stdio drops a buffer it could not write
 * and with it the reason, so stdout goes through write_stdout, which
 * keeps it. */
static int stdout_errno;

static ssize_t write_stdout(void *cookie, const char *buf, size_t size)
{
    (void)cookie;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(STDOUT_FILENO, buf + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            stdout_errno = n < 0 ? errno : EIO;
            return done ? (ssize_t)done : -1;
        }
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static void watch_stdout(void)
{
    FILE *f = fopencookie(NULL, "w", (cookie_io_functions_t){
                                         .write = write_stdout});
    if (!f)
        return;
    /* As stdio buffers a terminal: line by line. */
    if (isatty(STDOUT_FILENO))
        setvbuf(f, NULL, _IOLBF, 0);
    stdout = f;
}

pp_status pp_cmd_stdout(pp_error *err)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return PP_OK;
    int e = stdout_errno;
    return pp_error_set(err, PP_ERR_IO, "cannot write stdout%s%s",
                        e ? ": " : "", e ? strerror(e) : "");
}

/* A note from loading a model file, a line at a time. */
static void print_note(const pp_error *note)
{
    const char *line = note->msg;
    while (*line) {
        const char *end = strchr(line, '\n');
        int len = end ? (int)(end - line) : (int)strlen(line);
        fprintf(stderr, "pipette: %.*s\n", len, line);
        line = end ? end + 1 : line + len;
    }
}

int pp_cmd_load(const char *path, int allow_plugins, pp_model **m)
{
    pp_error err, note;
    pp_error_clear(&err);
    pp_model_opts o = {.allow_plugins = allow_plugins, .note = &note};
    pp_status st = pp_model_load_opts(path, &o, m, &err);
    print_note(&note);
    if (st == PP_OK)
        return PP_EXIT_OK;
    if (err.code == PP_ERR_IO)
        err.code = PP_ERR_USAGE;
    return pp_cmd_fail(&err);
}

int pp_cmd_load_job(const char *path, int allow_plugins, pp_job *job,
                    pp_model **m)
{
    pp_error err, note;
    pp_error_clear(&err);
    *m = NULL;
    pp_status st = pp_job_join(job, &err);
    if (st) {
        int rc = pp_cmd_fail(&err);
        pp_job_abort(job, rc);
        pp_job_leave(job);
        return rc;
    }
    pp_model_opts o = {.allow_plugins = allow_plugins, .note = &note};
    st = pp_model_load_opts(path, &o, m, &err);
    if (job->place.process == 0)
        print_note(&note);
    if (!st && job->ops)
        st = pp_model_place(*m, job->place.processes, job->node, &err);
    if (!st)
        return PP_EXIT_OK;
    pp_model_free(*m);
    *m = NULL;
    if (err.code == PP_ERR_IO)
        err.code = PP_ERR_USAGE;
    return pp_cmd_end_job(job, st, &err, 1);
}

pp_status pp_cmd_agree(const pp_job *job, pp_status st, pp_error *err)
{
    if (!job->ops)
        return st;
    int n = job->place.processes;
    pp_error *all = malloc((size_t)n * sizeof *all);
    pp_error mine = *err;
    mine.code = st;
    if (!all || pp_job_allgather(job, &mine, all, sizeof mine, 600000, err)) {
        free(all);
        pp_job_abort(job, PP_EXIT_FAILURE);
        return err->code;
    }
    for (int q = 0; q < n; q++)
        if (all[q].code) {
            *err = all[q];
            free(all);
            return err->code;
        }
    free(all);
    return PP_OK;
}

int pp_cmd_end_job(pp_job *job, pp_status st, const pp_error *err,
                   int agreed)
{
    int rc = PP_EXIT_OK;
    if (st && (!agreed || job->place.process == 0))
        rc = pp_cmd_fail(err);
    else if (st)
        rc = exit_status(err);
    if (st && !agreed)
        pp_job_abort(job, rc);
    pp_job_leave(job);
    return rc;
}

/* The command, or the closest name for one misspelt. */
static int dispatch(int argc, char **argv)
{
    if (argc < 2) {
        fputs(usage, stderr);
        return PP_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0 ||
        strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return PP_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("pipette %s (plugin ABI %d.%d)\n", pp_version(), PP_ABI_MAJOR,
               PP_ABI_MINOR);
        return PP_EXIT_OK;
    }
    size_t n = sizeof commands / sizeof *commands;
    const char *names[sizeof commands / sizeof *commands];
    for (size_t i = 0; i < n; i++) {
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
        names[i] = commands[i].name;
    }
    const char *hint = pp_did_you_mean(cmd, names, n);
    if (hint)
        fprintf(stderr, "pipette: unknown command '%s'; did you mean "
                        "'%s'?\n", cmd, hint);
    else
        fprintf(stderr, "pipette: unknown command '%s'; 'pipette --help' "
                        "lists them\n", cmd);
    return PP_EXIT_USAGE;
}

/* What a command printed must have reached stdout: a write that failed
 * (a full disk, a closed pipe) turns success into failure, said. */
int main(int argc, char **argv)
{
    watch_stdout();
    int status = dispatch(argc, argv);
    pp_error err;
    if (pp_cmd_stdout(&err) && status == PP_EXIT_OK)
        status = pp_cmd_fail(&err);
    return status;
}
