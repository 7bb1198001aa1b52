/* src/cmd_train.c - `pipette train FILE.ini`: load and check the model,
 * print the plan, train, log, and write the measured trace. */
#include <config.h>

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "cmd.h"
#include "runtime.h"

static const char usage[] =
    "usage: pipette train [--steps N] [--resume [DIR]] [--trace FILE]\n"
    "                     [--recompute] [--timeout SECONDS] [--quiet]\n"
    "                     [--allow-model-plugins] FILE.ini\n"
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
    "  --steps N        override [train] steps (all the run's, a resumed\n"
    "                   one's too)\n"
    "  --resume [DIR]   go on from the newest complete checkpoint in DIR\n"
    "                   (default [train] checkpoint; or DIR a checkpoint,\n"
    "                   DIR/step-N): its parameters, optimizer state, step\n"
    "                   and data position, on any schedule, partition or\n"
    "                   devices; without DIR and with no checkpoint yet,\n"
    "                   from step 1\n"
    "  --trace FILE     write the measured timeline as Chrome trace JSON\n"
    "                   (overrides [train] trace)\n"
    "  --recompute      every stage keeps only its inputs per micro-batch\n"
    "                   and recomputes its forward in the backward\n"
    "  --timeout SECONDS  fail when a rank waits longer for a message,\n"
    "                   on the host or, with nccl, on a GPU (default 60)\n"
    "  --quiet          print nothing but errors\n"
    "  --allow-model-plugins  search the model file's plugin_path for\n"
    "                   plugins first (plugins are code: see pipette.ini(5))\n"
    "\n"
    "SIGINT or SIGTERM stops the run after the step it is in, writes its\n"
    "outputs (a checkpoint, with [train] checkpoint) for the steps made and\n"
    "exits 130 or 143; a second signal ends it at once.\n"
    "\n"
    "exit status: 0 trained; 2 usage or config error, what pipette check\n"
    "refuses (nothing is trained); 1 a failure while training, or before it\n"
    "on this machine (a GPU that does not answer, memory that does not\n"
    "fit); 130/143 stopped by SIGINT/SIGTERM.\n";

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

/* --resume: the checkpoint to go on from, or (without a directory and
 * none made yet) none. */
static int resume_from(const pp_model *m, const char *dir, int speak,
                       pp_train_opts *o)
{
    if (!dir && !m->checkpoint)
        return usage_error("--resume needs a checkpoint: name its directory "
                           "(--resume DIR) or set [train] checkpoint in %s",
                           m->cfg->path);
    pp_ckpt ck;
    pp_error err;
    int none;
    pp_status st = pp_ckpt_open(dir ? dir : m->checkpoint, &ck, &none, &err);
    pp_ckpt_close(&ck);
    if (st && none && !dir) {
        if (speak)
            fprintf(stderr, "pipette: %s holds no checkpoint yet: training "
                    "from step 1\n", m->checkpoint);
        return PP_EXIT_OK;
    }
    if (st) {
        fprintf(stderr, "pipette: --resume: %s\n", err.msg);
        return PP_EXIT_USAGE;
    }
    o->init = dir ? dir : m->checkpoint;
    o->resume = 1;
    return PP_EXIT_OK;
}

int pp_cmd_train(int argc, char **argv)
{
    if (pp_cmd_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return PP_EXIT_OK;
    }
    pp_train_opts o = {.recv_timeout_ms = 60000, .out = stdout,
                       .progress = isatty(STDOUT_FILENO)};
    const char *path = NULL, *resume_dir = NULL;
    int resume = 0, allow = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        long long v;
        if (strcmp(a, "--steps") == 0) {
            if (!val || pp_cmd_count(val, LLONG_MAX, &v))
                return usage_error("--steps needs a whole number, 1 to %lld",
                                   LLONG_MAX);
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
        } else if (strncmp(a, "--resume=", 9) == 0) {
            if (!a[9])
                return usage_error("--resume= needs a directory");
            resume = 1;
            resume_dir = a + 9;
        } else if (strcmp(a, "--resume") == 0) {
            /* Its directory is optional: the next word, unless that is
             * an option or the model's file. */
            struct stat sb;
            resume = 1;
            if (val && val[0] != '-' &&
                !(stat(val, &sb) == 0 && S_ISREG(sb.st_mode))) {
                resume_dir = val;
                i++;
            }
        } else if (strcmp(a, "--recompute") == 0) {
            o.recompute = 1;
        } else if (strcmp(a, "--quiet") == 0 || strcmp(a, "-q") == 0) {
            o.quiet = 1;
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
    int loaded = pp_cmd_load_job(path, allow, &job, &m);
    if (loaded != PP_EXIT_OK)
        return loaded;
    pp_error err;
    pp_error_clear(&err);
    if (o.steps > pp_model_max_steps(m)) {
        long long batch = m->batch, most = pp_model_max_steps(m);
        pp_model_free(m);
        pp_job_leave(&job); /* every process met it */
        return usage_error("--steps %lld: steps of batch %lld overflow the "
                           "64-bit index of a sample: at most %lld steps",
                           (long long)o.steps, batch, most);
    }
    if (!o.trace)
        o.trace = m->trace;
    if (resume) {
        int rc = resume_from(m, resume_dir, job.place.process == 0, &o);
        if (rc != PP_EXIT_OK) {
            pp_model_free(m);
            pp_job_leave(&job); /* every process met it */
            return rc;
        }
    }
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
    int64_t steps = o.steps ? o.steps : m->steps;
    if (!st && pp_trainer_first_step(t) >= steps) {
        if (job.place.process == 0)
            printf("pipette: %s is at step %lld and the run has %lld: "
                   "nothing is left to train\n", o.init,
                   (long long)pp_trainer_first_step(t), (long long)steps);
    } else if (!st) {
        /* A plan that could not be printed: nothing is trained. */
        if (!o.quiet) {
            pp_trainer_print_plan(t, stdout);
            st = pp_cmd_stdout(&err);
        }
        if (!st)
            st = pp_trainer_run(t, &err);
        int64_t traced = pp_trainer_traced_steps(t);
        if (!st && o.trace && !o.quiet)
            printf("trace written to %s%s\n", o.trace,
                   traced < pp_trainer_steps_done(t) - pp_trainer_first_step(t)
                       ? " (its first steps: a trace keeps at most 64 MiB)"
                       : "");
        /* on_nonfinite = skip: what was skipped (every process knows). */
        int64_t skipped = pp_trainer_steps_skipped(t);
        if (skipped && job.place.process == 0)
            fprintf(stderr, "pipette: skipped %lld step%s whose loss or "
                    "gradients were not finite\n", (long long)skipped,
                    skipped == 1 ? "" : "s");
        agreed |= st && pp_trainer_failure_agreed(t);
        /* Stopped by a signal (in this process or, across processes,
         * another): after a whole step, its outputs written. */
        if (!st && pp_trainer_steps_done(t) < steps) {
            int sig = stop_signal ? stop_signal : SIGTERM;
            long long done = (long long)pp_trainer_steps_done(t);
            char saved[4200] = "";
            if (m->checkpoint)
                snprintf(saved, sizeof saved, "; its checkpoint is "
                         "%s/step-%08lld", m->checkpoint, done);
            if (job.place.process == 0)
                fprintf(stderr, "pipette: stopped by %s after step %lld of "
                        "%lld%s\n", sig == SIGINT ? "SIGINT" : "SIGTERM",
                        done, (long long)steps, saved);
            pp_trainer_free(t);
            pp_model_free(m);
            fflush(stdout);
            pp_job_leave(&job);
            return 128 + sig;
        }
    }
    pp_trainer_free(t);
    pp_model_free(m);
    return pp_cmd_end_job(&job, st, &err, agreed);
}
