/* src/cmd_train.c - `pipette train FILE.ini`: load and check the model,
 * print the plan, train, log, and write the measured trace. */
#include <config.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "runtime.h"

static const char usage[] =
    "usage: pipette train [--steps N] [--trace FILE] [--recompute]\n"
    "                     [--timeout SECONDS] [--quiet] FILE.ini\n"
    "\n"
    "Trains the model of FILE.ini: its layers cut into stages, the stages\n"
    "on the ranks of [pipeline] devices ([parallel] data replicas of\n"
    "them), the micro-batches run in the order of [pipeline] schedule,\n"
    "messages moved by [pipeline] transport. The ranks are threads of this\n"
    "process or, started by mpirun or srun, [parallel] ranks_per_process\n"
    "to each of its processes (process 0 prints and writes for all).\n"
    "Prints the plan (stages, parameters, the schedule's simulated bubble,\n"
    "the transport of each direction between ranks, memory per rank), then\n"
    "every log_every steps: step, loss (the mean over the batch), samples\n"
    "per second and the step's measured bubble.\n"
    "\n"
    "  --steps N        override [train] steps\n"
    "  --trace FILE     write the measured timeline as Chrome trace JSON\n"
    "                   (overrides [train] trace)\n"
    "  --recompute      every stage keeps only its inputs per micro-batch\n"
    "                   and recomputes its forward in the backward\n"
    "  --timeout SECONDS  fail when a rank waits longer for a message,\n"
    "                   on the host or, with nccl, on a GPU (default 60)\n"
    "  --quiet          print nothing but errors\n"
    "\n"
    "SIGINT or SIGTERM stops the run after the step it is in, writes its\n"
    "outputs for the steps made and exits 130 or 143; a second signal ends\n"
    "it at once.\n"
    "\n"
    "exit status: 0 trained, 1 a failure while training, 2 usage or config\n"
    "error (nothing is trained), 130/143 stopped by SIGINT/SIGTERM.\n";

#define usage_error(...) pp_cmd_usage_error("train", usage, __VA_ARGS__)

/* The signal that asks the run to stop (SIGINT or SIGTERM), or 0. The
 * handler is taken back as it runs (SA_RESETHAND), so a second signal
 * ends the process at once, as if pipette had none. */
static volatile int stop_signal;

static void on_stop(int sig)
{
    stop_signal = sig;
}

static void catch_stops(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int pp_cmd_train(int argc, char **argv)
{
    if (pp_cmd_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return PP_EXIT_OK;
    }
    pp_train_opts o = {.recv_timeout_ms = 60000, .out = stdout,
                       .progress = isatty(STDOUT_FILENO)};
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        long long v;
        if (strcmp(a, "--steps") == 0) {
            if (!val || pp_cmd_count(val, LLONG_MAX, &v))
                return usage_error("--steps needs a whole number >= 1");
            o.steps = v;
            i++;
        } else if (strcmp(a, "--timeout") == 0) {
            if (!val || pp_cmd_count(val, 86400, &v))
                return usage_error("--timeout needs seconds, 1 to 86400");
            o.recv_timeout_ms = (int)(v * 1000);
            i++;
        } else if (strcmp(a, "--trace") == 0) {
            if (!val)
                return usage_error("--trace needs a file name");
            o.trace = val;
            i++;
        } else if (strcmp(a, "--recompute") == 0) {
            o.recompute = 1;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            o.quiet = 1;
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
    int loaded = pp_cmd_load_job(path, &job, &m);
    if (loaded != PP_EXIT_OK)
        return loaded;
    pp_error err;
    pp_error_clear(&err);
    if (!o.trace)
        o.trace = m->trace;
    o.job = &job;
    o.stop = &stop_signal;
    catch_stops();
    /* Across processes, process 0 speaks for the run. */
    o.quiet |= job.place.process != 0;
    o.progress &= job.ops == NULL; /* a launcher forwards stdout */
    pp_trainer *t = NULL;
    pp_status st = pp_cmd_agree(&job, pp_trainer_create(m, &o, &t, &err),
                                &err);
    int agreed = st != PP_OK;
    if (!st) {
        if (!o.quiet) {
            pp_trainer_print_plan(t, stdout);
            fflush(stdout);
        }
        st = pp_trainer_run(t, &err);
        if (!st && o.trace && !o.quiet)
            printf("trace written to %s\n", o.trace);
        /* on_nonfinite = skip: what was skipped (every process knows). */
        int64_t skipped = pp_trainer_steps_skipped(t);
        if (skipped && job.place.process == 0)
            fprintf(stderr, "pipette: skipped %lld step%s whose loss or "
                    "gradients were not finite\n", (long long)skipped,
                    skipped == 1 ? "" : "s");
        agreed |= st && pp_trainer_failure_agreed(t);
        /* Stopped by a signal (in this process or, across processes,
         * another): after a whole step, its outputs written. */
        int64_t steps = o.steps ? o.steps : m->steps;
        if (!st && pp_trainer_steps_done(t) < steps) {
            int sig = stop_signal ? stop_signal : SIGTERM;
            if (job.place.process == 0)
                fprintf(stderr, "pipette: stopped by %s after step %lld of "
                        "%lld%s%s\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
                        (long long)pp_trainer_steps_done(t), (long long)steps,
                        m->checkpoint ? "; its parameters are in " : "",
                        m->checkpoint ? m->checkpoint : "");
            pp_trainer_free(t);
            pp_model_free(m);
            fflush(stdout);
            pp_job_leave(&job);
            return 128 + sig;
        }
    }
    pp_trainer_free(t);
    pp_model_free(m);
    if (!st && fflush(stdout) != 0)
        st = pp_error_set(&err, PP_ERR_IO, "cannot write stdout");
    return pp_cmd_end_job(&job, st, &err, agreed);
}
