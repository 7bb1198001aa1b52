/* src/plan.h - a schedule instantiated for (p, m, v): its tasks, checked,
 * lowered into per-rank programs, and simulated.
 *
 * The tasks come from a schedule plugin or from a text file in the
 * schedule notation (see pipette/schedule.h). pp_plan_verify() refuses a
 * plan that would compute wrongly or hang, naming the rank, the task and
 * the reason; pp_plan_lower() adds the communication; pp_simulate() runs
 * the programs against a cost per op. Nothing here touches a device: the
 * runtime executes the same programs.
 */
#ifndef PP_SRC_PLAN_H
#define PP_SRC_PLAN_H

#include <stdint.h>
#include <stdio.h>

#include <pipette/schedule.h>

typedef struct pp_task {
    pp_op op;
    int mb;
    int stage;
} pp_task;

struct pp_task_list {
    pp_task *task;
    int n, cap;
};

/* One instruction of a lowered program. */
typedef enum pp_ins_kind {
    PP_INS_COMPUTE = 1, /* run task */
    PP_INS_RECV,        /* wait for peer's message (posted at step start) */
    PP_INS_SEND,        /* send to peer, without waiting */
    PP_INS_STEP,        /* the flush: optimizer step on this rank's stages */
    PP_INS_REDUCE       /* sum a buffer over group plan->group[peer]: every
                           member waits for all, and all get the same sum */
} pp_ins_kind;

typedef enum pp_msg {
    PP_MSG_ACT = 1, /* activations of (mb, stage) going to stage + 1 */
    PP_MSG_GRAD     /* gradient of (mb, stage)'s input going to stage - 1 */
} pp_msg;

typedef struct pp_ins {
    pp_ins_kind kind;
    pp_task task;   /* COMPUTE: the task; RECV/SEND: the producing task */
    pp_msg msg;     /* RECV, SEND */
    int peer;       /* RECV: the sender; SEND: the receiver; REDUCE: the
                       group */
} pp_ins;

/* Ranks that sum a buffer together (a shared parameter's gradient, or a
 * stage's gradients over its data-parallel replicas). */
typedef struct pp_group {
    int n;
    int *rank;      /* [n], ascending: the order the sum is taken in */
    int stage;      /* a replicas' sum: the stage of one pipeline whose
                       gradients it sums, priced at costs.allreduce; -1
                       for the others, priced at costs.transfer */
} pp_group;

typedef struct pp_program {
    pp_ins *ins;
    int n, cap;
} pp_program;

/* Bounds on p, m, v and p * v: far past any real pipeline, and small
 * enough that counts of tasks and instructions fit an int. */
#define PP_PLAN_MAX 65536
#define PP_PLAN_MAX_TASKS (1 << 22)

typedef struct pp_plan {
    char name[128];      /* the schedule's name, or file:PATH */
    int from_file;       /* tasks written by a user, not a plugin */
    int *line_of_rank;   /* [p] for a file: the line of each rank's tasks */
    int p, m, v, S;
    int replicas;        /* data-parallel copies of the pipeline (D, 1 by
                            default): p and S count them all. Replica k's
                            stages are k * S / D to (k + 1) * S / D - 1,
                            and its rank r (of one pipeline) is rank
                            r * D + k: consecutive ranks hold the same
                            stages of different replicas */
    int64_t bubble_num;  /* the schedule's published bubble for these */
    int64_t bubble_den;  /* numbers, where it has one (den > 0) */
    const char *formula; /* that formula as written, or NULL */
    int *rank_of_stage;  /* [S] */
    pp_task_list *tasks; /* [p] */
    pp_program *prog;    /* [p], after pp_plan_lower */
    pp_group *group;     /* [ngroups]: the sums pp_plan_add_sum added */
    int ngroups;
} pp_plan;

/* The plan of a schedule plugin's table, for args (what its plan() read,
 * or NULL); PP_ERR_CONFIG when its check() refuses (p, m, v) or a
 * placement is out of range. */
pp_status pp_plan_from_ops(const char *name, const pp_schedule_ops *ops,
                           const void *args, int p, int m, int v,
                           pp_plan **out, pp_error *err);

/* The largest schedule file read: PP_PLAN_MAX_TASKS tasks written out,
 * at most 14 bytes each, are less. */
#define PP_SCHEDULE_FILE_MAX ((int64_t)64 << 20)

/* The plan written in a schedule file (a regular file, input_file.h): one line per rank, tasks in the
 * notation, '#' comments. p is the number of rank lines; S and m are one
 * more than the largest stage and micro-batch named; each stage lives on
 * the rank whose line names it (a stage named on two lines is refused by
 * pp_plan_verify). Syntax errors are "FILE:LINE: message". */
pp_status pp_plan_from_file(const char *path, pp_plan **out, pp_error *err);

typedef struct pp_registry pp_registry;

/* The verified plan of `name`: a schedule plugin found through reg, or
 * file:PATH (a relative PATH is taken from base when base is not NULL).
 * A file fixes p, m and v itself: those given (> 0) must agree with it.
 * A plugin with keys reads them from `keys`, a section validated against
 * them (NULL: every key at its default). */
pp_status pp_plan_load(pp_registry *reg, const char *name, const char *base,
                       const pp_section *keys, int p, int m, int v,
                       pp_plan **out, pp_error *err);

/* Writes the plan in the notation, loadable by pp_plan_from_file. */
void pp_plan_dump(const pp_plan *plan, FILE *out);

void pp_plan_free(pp_plan *plan);

/* An empty plan (no tasks, every stage unplaced), for builders. */
pp_status pp_plan_alloc(const char *name, int p, int m, int v,
                        pp_plan **out, pp_error *err);

/* Checks, in this order, and reports the first failure as "rank R: TASK:
 * reason": tasks out of range; a stage on two ranks or not where
 * rank_of_stage puts it; a (mb, stage) with a task missing or twice, or
 * with both B and BI/BW; on one rank, a task before another of its own
 * rank that it depends on; then deadlock, by running the lowered programs
 * (lowering them if needed): when no rank can move, every waiting rank and
 * what it waits for. */
pp_status pp_plan_verify(pp_plan *plan, pp_error *err);

/* Builds plan->prog from the tasks. Idempotent. */
pp_status pp_plan_lower(pp_plan *plan, pp_error *err);

/* Adds a sum over ranks[0..n-1] (ascending, n >= 2) to the lowered
 * programs: a REDUCE before each member's STEP, after those already
 * there, so every member meets the sums in one order. Its group is the
 * plan's last. With `after` (not NULL), member k's REDUCE comes instead
 * right after the last backward (B or BW) of stage after[k] and the
 * sends that follow it, so that a replicas' sum starts as soon as the
 * stage's gradients are whole, while other ranks still drain. */
pp_status pp_plan_add_sum(pp_plan *plan, const int *ranks, int n,
                          const int *after, pp_error *err);

/* For each stage s of one pipeline that has something to sum (has[s],
 * or every stage when has is NULL), a sum over its replicas placed after
 * its last backward on each, its group's stage s: data parallelism. The
 * groups are added in stage order. */
pp_status pp_plan_add_replica_sums(pp_plan *plan, const unsigned char *has,
                                   pp_error *err);

/* The plan of D data-parallel replicas of a verified, lowered plan of
 * one pipeline (replicas = 1): D * p ranks and D * S stages, numbered as
 * pp_plan.replicas says, each replica running the pipeline's programs on
 * its own stages. The sums are left to add. */
pp_status pp_plan_replicate(const pp_plan *plan, int D, pp_plan **out,
                            pp_error *err);

/* 1 when rank dst receives rank src's messages in the order src sends
 * them (after pp_plan_lower): what a transport that delivers in order,
 * like NCCL, needs. A sum's messages come after every other on both
 * sides, in the groups' order. */
int pp_plan_in_order(const pp_plan *plan, int src, int dst);

/* Writes a task as "F3.1". */
const char *pp_task_format(const pp_task *t, char *buf, int size);

/* Parses "F3.1", "BI0.2"...; 0 on success. */
int pp_task_parse(const char *text, pp_task *out);

/* Stages that --costs can name one by one. */
#define PP_COSTS_STAGES 64

typedef struct pp_costs {
    double f, b, bi, bw, transfer;
    double allreduce;   /* summing one stage's gradients over its
                           data-parallel replicas */
    /* Per stage, when measured: [stage][op - 1]; 0 takes the default above. */
    double stage[PP_COSTS_STAGES][4];
} pp_costs;

/* F = 1, B = 2, BI = 1, BW = 1, transfer = 0, allreduce = 0. */
pp_costs pp_costs_default(void);

/* Parses "F=1,B=2,BI=1,BW=1,transfer=0.5,allreduce=2" over *costs (keys may be left
 * out); an op may also be priced for one stage, "B.3=2.5" (the notation's
 * OP.STAGE), for costs measured stage by stage. 0 on success, else a
 * message in why. */
int pp_costs_parse(const char *text, pp_costs *costs, char *why, int size);

/* What one rank did, in time order. */
typedef struct pp_span {
    int rank;
    pp_ins_kind kind; /* COMPUTE; REDUCE (its group in task.mb) when
                         it costs time */
    pp_task task;
    double start, end;
} pp_span;

typedef struct pp_sim {
    int p;
    double makespan;
    double *busy;        /* [p] time computing */
    double *idle;        /* [p] makespan - busy */
    double bubble;       /* sum(idle) / (p * makespan) */
    /* Memory, as the memory pass (memplan.h) assigned it: */
    int *peak_act;       /* [p] most micro-batch activations held at once:
                            from an F until its B or BI */
    int *peak_bw;        /* [p] most BW pending at once (BI done, BW not):
                            each still holds the stage's input activation and
                            output gradient for its weight gradient */
    double *peak_mem;    /* [p] most slot bytes held at once (slots, when
                            the pass counted them) */
    pp_span *spans;      /* every compute, in start order per rank */
    int nspans;
} pp_sim;

typedef struct pp_memplan pp_memplan;

/* Runs the lowered programs: a rank runs its instructions in order; a
 * compute takes its cost; a receive waits until the matching send plus the
 * transfer cost; sends do not wait. The plan must have verified. The
 * peaks are mem's, or (mem NULL) those of a memory pass that counts
 * slots. */
pp_status pp_simulate(const pp_plan *plan, const pp_costs *costs,
                      const pp_memplan *mem, pp_sim **out, pp_error *err);
void pp_sim_free(pp_sim *sim);

/* The engine under pp_simulate and the deadlock check: runs every program
 * as far as it can. pc[r] ends at the first instruction rank r could not
 * run (its length when it finished); *done counts finished ranks. sim, when
 * not NULL (allocated for every task), gets the spans, busy times and
 * makespan. */
pp_status pp_plan_run(const pp_plan *plan, const pp_costs *costs,
                      pp_sim *sim, int *pc, int *done, pp_error *err);

/* The exact bubble when every cost is an integer: idle and p * makespan as
 * integers (for comparing with a published formula). */
void pp_sim_bubble_exact(const pp_sim *sim, int64_t *num, int64_t *den);

#endif
