/* src/cmd_eval.c - `pipette eval FILE.ini`: the model's loss on data,
 * forward only, pipelined as the file says: the schedule's forwards in
 * their order on every rank, no gradients and no update, from a
 * checkpoint's parameters (or the initial ones). */
#define _GNU_SOURCE /* realpath */
#include <config.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "config_file.h"
#include "runtime.h"

static const char usage[] =
    "usage: pipette eval [--checkpoint DIR] [--data FILE] [--batches N]\n"
    "                    [--timeout SECONDS] [--quiet]\n"
    "                    [--allow-model-plugins] FILE.ini\n"
    "\n"
    "Reports the loss of the model of FILE.ini on N batches of [train]\n"
    "batch samples (the mean over every target), computed forward only on\n"
    "the file's pipeline: each rank runs the schedule's forwards in their\n"
    "order, with dropout off, no gradients and no update. Prints the plan\n"
    "and a line per batch, then the mean.\n"
    "\n"
    "  --checkpoint DIR the parameters: the newest checkpoint in DIR (a\n"
    "                   [train] checkpoint directory) or DIR itself\n"
    "                   (DIR/step-N), written by pipette train on this\n"
    "                   model; or a PPCKPT01 file of pipette 1.2\n"
    "                   (default: the model as [train] seed initialises it)\n"
    "  --data FILE      read this file instead of [data] path (held-out\n"
    "                   text or tokens, in the same format)\n"
    "  --batches N      batches to evaluate (default 10); batch b holds the\n"
    "                   samples step b of pipette train would read\n"
    "  --timeout SECONDS  fail when a rank waits longer for a message\n"
    "                   (default 60)\n"
    "  --quiet          print only the mean loss\n"
    "  --allow-model-plugins  search the model file's plugin_path for\n"
    "                   plugins first (plugins are code: see pipette.ini(5))\n"
    "\n"
    "exit status: 0 evaluated, 1 a failure while evaluating (a checkpoint\n"
    "that cannot be read or is another model's included), 2 usage or\n"
    "config error.\n";

/* [data] path replaced by `file`, made absolute (a path in the model file
 * is taken from the file's directory, one on the command line from the
 * current one). */
static int replace_data(pp_model *m, const char *file)
{
    pp_section *data = pp_config_section(m->cfg, "data");
    pp_entry *e = data ? (pp_entry *)pp_section_entry(data, "path") : NULL;
    if (!e) {
        fprintf(stderr, "pipette eval: --data: [data] source '%s' of %s "
                "reads no path\n", m->source ? m->source : "?",
                m->cfg->path);
        return PP_EXIT_USAGE;
    }
    char *full = realpath(file, NULL);
    if (!full) {
        fprintf(stderr, "pipette eval: --data: cannot read '%s'\n", file);
        return PP_EXIT_USAGE;
    }
    free(e->value);
    e->value = full;
    return PP_EXIT_OK;
}

#define usage_error(...) pp_cmd_usage_error("eval", usage, __VA_ARGS__)

int pp_cmd_eval(int argc, char **argv)
{
    if (pp_cmd_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return PP_EXIT_OK;
    }
    pp_train_opts o = {.recv_timeout_ms = 60000, .out = stdout, .eval = 1,
                       .steps = 10, .log_every = 1};
    const char *path = NULL, *data = NULL;
    int quiet = 0, allow = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        long long v;
        if (strcmp(a, "--batches") == 0) {
            if (!val || pp_cmd_count(val, INT_MAX, &v))
                return usage_error("--batches needs a whole number, 1 to "
                                   "%d", INT_MAX);
            o.steps = v;
            i++;
        } else if (strcmp(a, "--timeout") == 0) {
            if (!val || pp_cmd_count(val, 86400, &v))
                return usage_error("--timeout needs seconds, 1 to 86400");
            o.recv_timeout_ms = (int)(v * 1000);
            i++;
        } else if (strcmp(a, "--checkpoint") == 0) {
            if (!val)
                return usage_error("--checkpoint needs a directory");
            o.init = val;
            i++;
        } else if (strcmp(a, "--data") == 0) {
            if (!val)
                return usage_error("--data needs a file name");
            data = val;
            i++;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            quiet = 1;
        } else if (strcmp(a, PP_CMD_ALLOW_PLUGINS) == 0) {
            allow = 1;
        } else if (a[0] == '-') {
            return usage_error("unknown option '%s'", a);
        } else if (!path) {
            path = a;
        } else {
            return usage_error("unexpected argument '%s'", a);
        }
    }
    if (!path)
        return usage_error("no model file given");

    pp_job job;
    pp_model *m;
    int rc = pp_cmd_load_job(path, allow, &job, &m);
    if (rc != PP_EXIT_OK)
        return rc;
    pp_error err;
    pp_error_clear(&err);
    if (data && (rc = replace_data(m, data)) != PP_EXIT_OK) {
        pp_model_free(m);
        pp_job_leave(&job); /* every process met it */
        return rc;
    }
    /* Across processes, process 0 speaks for the run. */
    quiet |= job.place.process != 0;
    o.quiet = quiet;
    o.job = &job;
    pp_trainer *t = NULL;
    pp_status st = pp_cmd_agree(&job, pp_trainer_create(m, &o, &t, &err),
                                &err);
    int agreed = st != PP_OK;
    if (!st) {
        if (!quiet) {
            pp_trainer_print_plan(t, stdout);
            printf("  evaluating %lld batches of %lld samples, forward only, "
                   "from %s\n", (long long)o.steps, (long long)m->batch,
                   o.init ? o.init : "the initial parameters");
            fflush(stdout);
        }
        st = pp_trainer_run(t, &err);
        if (!st) {
            if (job.place.process == 0)
                printf("eval: loss %.6f, the mean over %lld batches of %lld "
                       "samples\n", pp_trainer_mean_loss(t),
                       (long long)o.steps, (long long)m->batch);
        }
    }
    pp_trainer_free(t);
    pp_model_free(m);
    return pp_cmd_end_job(&job, st, &err, agreed);
}
