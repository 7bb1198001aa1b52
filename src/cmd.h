/* src/cmd.h - the `pipette` subcommands. Each takes its own argv (argv[0]
 * is the subcommand's name), prints its output and errors, and returns the
 * process exit status. Only main() exits.
 *
 * Exit statuses, the one rule (pipette(1) says it to users):
 *   0  success.
 *   2  the command line or the model file is wrong, and nothing ran:
 *      what `pipette check` refuses (PP_ERR_CONFIG), a usage error
 *      (PP_ERR_USAGE), a name that is not found (a plugin, a schedule, a
 *      file), whether written on the command line or in a file.
 *   1  everything else: a valid file this machine or run could not
 *      carry out (a device that does not answer or is too old, memory
 *      that does not fit, a plugin found but refused, a failure while
 *      running, an output that could not be written, stdout included).
 *   128 + N  train stopped by signal N (SIGINT, SIGTERM). */
#ifndef PP_CORE_CMD_H
#define PP_CORE_CMD_H

#include <stdio.h>

#include <pipette/error.h>

enum { PP_EXIT_OK = 0, PP_EXIT_FAILURE = 1, PP_EXIT_USAGE = 2 };

int pp_cmd_plugins(int argc, char **argv);
int pp_cmd_check(int argc, char **argv);
int pp_cmd_devices(int argc, char **argv);
int pp_cmd_schedule(int argc, char **argv);
int pp_cmd_train(int argc, char **argv);
int pp_cmd_eval(int argc, char **argv);
int pp_cmd_gradcheck(int argc, char **argv);
int pp_cmd_checkpoint(int argc, char **argv);

/* Prints err to stderr ("pipette: " before each line that is not already
 * "FILE:LINE: ...") and maps its code to an exit status. */
int pp_cmd_fail(const pp_error *err);

/* The option of the commands that load a model file: search its
 * [model] plugin_path for plugins (pp_model_opts says why not by
 * default). */
#define PP_CMD_ALLOW_PLUGINS "--allow-model-plugins"

/* Loads a model file for a command, with plugins from its plugin_path
 * where allow_plugins: PP_EXIT_OK with *m to free, or the errors printed
 * and the exit status (a file that cannot be read is a wrong argument:
 * usage). A note that plugin_path was ignored goes to stderr first. */
struct pp_model;
int pp_cmd_load(const char *path, int allow_plugins, struct pp_model **m);

/* For a run: joins the job that started this process (pp_job_join),
 * loads path's model and places it on the job's processes. PP_EXIT_OK
 * with *m, or the errors printed (by process 0 alone: every process meets
 * them) and the exit status, the job left. */
struct pp_job;
int pp_cmd_load_job(const char *path, int allow_plugins, struct pp_job *job,
                    struct pp_model **m);

/* Across the job's processes, what each met (st and err): the first
 * failure of any, the same in every process, into err; PP_OK when none
 * failed. So a failure some processes meet before the run ends all of
 * them with one message. */
pp_status pp_cmd_agree(const struct pp_job *job, pp_status st,
                       pp_error *err);

/* Ends a run with exit status `status`: prints err from the process that
 * failed (process 0 for a failure all agreed on: agreed), and a process
 * that failed alone ends every process of the job (the others may wait
 * for it); otherwise leaves the job. */
int pp_cmd_end_job(struct pp_job *job, pp_status st, const pp_error *err,
                   int agreed);

/* PP_OK when all printed so far reached stdout; else "cannot write
 * stdout: REASON" (PP_ERR_IO). main() asks it after every command. */
pp_status pp_cmd_stdout(pp_error *err);

/* True when argv holds -h or --help before any "--". */
int pp_cmd_wants_help(int argc, char **argv);

/* "pipette CMD: message" and the command's usage on stderr; returns
 * PP_EXIT_USAGE. */
int pp_cmd_usage_error(const char *cmd, const char *help, const char *fmt,
                       ...) __attribute__((format(printf, 3, 4)));

/* The whole of text as a whole number from 1 to max: 0, or -1. */
int pp_cmd_count(const char *text, long long max, long long *out);

#endif
