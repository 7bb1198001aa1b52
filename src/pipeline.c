/* src/pipeline.c - a model file's [pipeline]: its ranks and devices, the
 * schedule built for them, the layers cut into stages (with the tensors
 * that cross each cut, graph.c) and which stages recompute. Part of
 * pp_model_load (model.c).
 */
#include <config.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "routes.h"

static const pp_key pipeline_keys[] = {
    {"schedule", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, "1f1b",
     "schedule plugin name, or file:PATH"},
    {"devices", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, "cpu",
     "one device per rank: a device plugin's NAME or NAME:N (cpu, cuda:0), "
     "each optionally *K, comma-separated"},
    {"microbatches", PP_KEY_INT, 0, 1, 65536, NULL, "1",
     "micro-batches per step; must divide [train] batch"},
    {"stages_per_rank", PP_KEY_INT, 0, 1, 64, NULL, "1",
     "stages each rank holds (v, for interleaved schedules)"},
    {"layers_per_stage", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, NULL,
     "how many layers each stage takes, in order, e.g. 2,3,1 (partition = "
     "manual)"},
    {"partition", PP_KEY_ENUM, 0, PP_NO_RANGE, "params|flops|manual", NULL,
     "how layers are cut into stages (default: manual when layers say stage =, else params)"},
    {"transport", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, "auto",
     "how tensors move between ranks: auto, or a transport plugin's name "
     "(local, peer, nccl)"},
    {"recompute", PP_KEY_BOOL, 0, PP_NO_RANGE, NULL, "false",
     "keep only each stage's inputs per micro-batch; recompute in backward"},
    {"recompute_stages", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, NULL,
     "recompute only these stages, e.g. 0,1 (instead of recompute = true)"},
    {0},
};

static const pp_key parallel_keys[] = {
    {"data", PP_KEY_INT, 0, 1, 4096, NULL, "1",
     "data-parallel replicas of the pipeline: the job has data x (the "
     "ranks [pipeline] devices lists) ranks, and each replica takes "
     "1/data of every batch"},
    {"bucket_mb", PP_KEY_FLOAT, PP_KEY_MIN_OPEN, 0, 65536, NULL, "25",
     "the most MiB of a stage's gradients summed over the replicas in one "
     "message"},
    {"ranks_per_process", PP_KEY_INT, 0, 1, 4096, NULL, "1",
     "started by mpirun or srun, the consecutive ranks each process hosts "
     "(as threads): the job needs ranks / ranks_per_process processes"},
    {0},
};

const char *pp_partition_name(pp_partition p)
{
    switch (p) {
    case PP_PARTITION_PARAMS: return "params";
    case PP_PARTITION_FLOPS: return "flops";
    case PP_PARTITION_MANUAL: return "manual";
    }
    return "?";
}

static int parse_count(const char *text, long lo, long hi, long *out)
{
    int64_t v;
    if (pp_parse_int(text, &v) || v < lo || v > hi)
        return -1;
    *out = (long)v;
    return 0;
}

/* One entry: NAME (letters, digits, '_' and '-') or NAME:N, N from 0 to
 * 1023. Returns nonzero when it is neither. */
static int parse_device(const char *item, pp_device_spec *spec)
{
    memset(spec, 0, sizeof *spec);
    size_t len = strcspn(item, ":");
    if (len == 0 || len >= sizeof spec->name)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)item[i]) && item[i] != '_' &&
            item[i] != '-')
            return -1;
    memcpy(spec->name, item, len);
    long index = 0;
    spec->indexed = item[len] == ':';
    if (spec->indexed && parse_count(item + len + 1, 0, 1023, &index))
        return -1;
    spec->index = (int)index;
    return 0;
}

const char *pp_device_text(const pp_device_spec *d, char *buf, size_t size)
{
    /* An unindexed GPU entry, once numbered, says which device it is. */
    if (d->indexed ||
        (d->plugin && pp_device_memory(d) != PP_MEMORY_HOST))
        snprintf(buf, size, "%s:%d", d->name, d->index);
    else
        snprintf(buf, size, "%s", d->name);
    return buf;
}

unsigned pp_device_memory(const pp_device_spec *d)
{
    return ((const pp_device_ops *)d->plugin->ops)->memory;
}

int pp_parse_devices(const char *text, pp_device_spec **out, int *n,
                     char *why, size_t why_size)
{
    *out = NULL;
    *n = 0;
    char *copy = strdup(text);
    if (!copy) {
        snprintf(why, why_size, "out of memory");
        return -1;
    }
    pp_device_spec *list = NULL;
    int count = 0, failed = 0;
    char *save = NULL;
    for (char *item = strtok_r(copy, ",", &save); item && !failed;
         item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ' || *item == '\t')
            item++;
        char *end = item + strlen(item);
        while (end > item && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        long repeat = 1;
        char *star = strchr(item, '*');
        if (star) {
            *star = '\0';
            if (parse_count(star + 1, 1, 4096, &repeat)) {
                snprintf(why, why_size,
                         "'%s*%s': the repeat count after '*' must be an "
                         "integer from 1 to 4096", item, star + 1);
                failed = 1;
                break;
            }
        }
        pp_device_spec spec;
        if (parse_device(item, &spec)) {
            snprintf(why, why_size,
                     "'%s' is not a device: expected NAME or NAME:N (a "
                     "device plugin and its device N, as in cpu or cuda:0), "
                     "optionally followed by *COUNT", item);
            failed = 1;
            break;
        }
        if (count + repeat > 4096) {
            snprintf(why, why_size, "more than 4096 ranks");
            failed = 1;
            break;
        }
        pp_device_spec *grown = realloc(list, (size_t)(count + repeat) *
                                                  sizeof *grown);
        if (!grown) {
            snprintf(why, why_size, "out of memory");
            failed = 1;
            break;
        }
        list = grown;
        for (long k = 0; k < repeat; k++)
            list[count++] = spec;
    }
    free(copy);
    if (!failed && count == 0) {
        snprintf(why, why_size, "no device listed: expected cpu or cuda:N");
        failed = 1;
    }
    if (failed) {
        free(list);
        return -1;
    }
    *out = list;
    *n = count;
    return 0;
}

/* The keys of the schedule [pipeline] names, which [pipeline] takes
 * beside its own; NULL for a file, or for a schedule that does not load
 * (load_schedule says why). */
static const pp_key *schedule_keys(const pp_model *m, const pp_section *s)
{
    const pp_entry *e = s ? pp_section_entry(s, "schedule") : NULL;
    const char *name = e ? e->value : pipeline_keys[0].def;
    const pp_plugin *plugin;
    pp_error ignore;
    pp_error_clear(&ignore);
    if (strncmp(name, "file:", 5) == 0 ||
        pp_registry_find(m->registry, PP_KIND_SCHEDULE, name, &plugin,
                         &ignore))
        return NULL;
    return plugin->desc->keys;
}

/* Each rank's device plugin, by its entry's name (cpu is built in): a
 * name that finds none is an error at the key (s; NULL without one),
 * once per name. Whether the device answers is a question for run time,
 * so that a file can be checked on any machine. */
static void resolve_devices(pp_model *m, const pp_section *s, pp_error *err)
{
    for (int r = 0; r < m->nranks; r++) {
        pp_device_spec *d = &m->devices[r];
        int q = 0;
        while (q < r && strcmp(m->devices[q].name, d->name) != 0)
            q++;
        if (q < r) {
            d->plugin = m->devices[q].plugin;
            continue;
        }
        pp_error fail;
        char text[96];
        if (pp_registry_find(m->registry, PP_KIND_DEVICE, d->name,
                             &d->plugin, &fail) == PP_OK)
            continue;
        if (s)
            pp_section_error(s, "devices", err,
                "%s needs the %s device plugin: %s",
                pp_device_text(d, text, sizeof text), d->name, fail.msg);
        else
            pp_error_add(err, fail.code, "%s", fail.msg);
    }
}

/* [parallel]: the replicas of the pipeline. */
static void load_parallel(pp_model *m, pp_error *err)
{
    pp_section *s = pp_config_section(m->cfg, "parallel");
    m->data = m->ranks_per_process = m->processes = 1;
    m->bucket_bytes = (size_t)25 << 20;
    if (!s || pp_section_validate(s, parallel_keys, NULL, err))
        return;
    pp_error ignore;
    int64_t v;
    double mb;
    pp_section_int(s, "data", &v, &ignore);
    m->data = (int)v;
    pp_section_int(s, "ranks_per_process", &v, &ignore);
    m->ranks_per_process = (int)v;
    pp_section_float(s, "bucket_mb", &mb, &ignore);
    m->bucket_bytes = (size_t)(mb * 1048576.0);
    if (m->bucket_bytes < sizeof(float))
        m->bucket_bytes = sizeof(float);
}

static void load_pipeline(pp_model *m, pp_error *err)
{
    pp_section *s = pp_config_section(m->cfg, "pipeline");
    pp_error ignore;
    int64_t v;
    const char *text;
    if (s && pp_section_validate(s, pipeline_keys, schedule_keys(m, s), err))
        return;
    if (!s) {
        /* An absent [pipeline] means one rank on the CPU. */
        m->schedule = pipeline_keys[0].def;
        m->transport = "auto";
        m->microbatches = m->stages_per_rank = 1;
        char why[256];
        if (pp_parse_devices("cpu", &m->devices, &m->nranks, why,
                             sizeof why))
            pp_error_add(err, PP_ERR_NOMEM, "%s", why);
        resolve_devices(m, NULL, err);
        m->partition = PP_PARTITION_PARAMS;
        for (int i = 0; i < m->nlayers; i++)
            if (m->layers[i].stage >= 0)
                m->partition = PP_PARTITION_MANUAL;
        return;
    }
    pp_section_string(s, "schedule", &m->schedule, &ignore);
    pp_section_string(s, "transport", &m->transport, &ignore);
    pp_section_int(s, "microbatches", &v, &ignore);
    m->microbatches = (int)v;
    pp_section_int(s, "stages_per_rank", &v, &ignore);
    m->stages_per_rank = (int)v;
    pp_section_string(s, "devices", &text, &ignore);
    char why[256];
    if (pp_parse_devices(text, &m->devices, &m->nranks, why, sizeof why))
        pp_section_error(s, "devices", err, "%s", why);
    resolve_devices(m, s, err);
    if (pp_section_has(s, "partition")) {
        pp_section_string(s, "partition", &text, &ignore);
        m->partition = strcmp(text, "manual") == 0 ? PP_PARTITION_MANUAL
                     : strcmp(text, "flops") == 0  ? PP_PARTITION_FLOPS
                                                   : PP_PARTITION_PARAMS;
    } else if (pp_section_has(s, "layers_per_stage")) {
        m->partition = PP_PARTITION_MANUAL;
    } else {
        m->partition = PP_PARTITION_PARAMS;
        for (int i = 0; i < m->nlayers; i++)
            if (m->layers[i].stage >= 0)
                m->partition = PP_PARTITION_MANUAL;
    }
}

/* [pipeline] layers_per_stage = 2,3,1: the list gives each layer its
 * stage, as stage keys on the layers would; the list itself is checked
 * here, so its errors point at it. Returns 0 after reporting one. */
static int apply_layer_counts(pp_model *m, pp_section *s, int stages,
                              pp_error *err)
{
    const char *text;
    pp_error ignore;
    pp_section_string(s, "layers_per_stage", &text, &ignore);
    if (m->partition != PP_PARTITION_MANUAL) {
        pp_section_error(s, "layers_per_stage", err,
            "a list of layers per stage is a manual partition, but partition "
            "= %s: remove one of them", pp_partition_name(m->partition));
        return 0;
    }
    for (int i = 0; i < m->nlayers; i++)
        if (m->layers[i].stage >= 0) {
            pp_section_error(m->layers[i].section, "stage", err,
                "[pipeline] layers_per_stage already places the layers: "
                "remove this key or that list");
            return 0;
        }
    /* Parsed twice over the same text: once to check and add up, once to
     * place the layers. */
    int listed = 0;
    long total = 0;
    for (const char *p = text; *p; listed++) {
        char *end;
        long n = strtol(p, &end, 10);
        while (*end == ' ' || *end == '\t')
            end++;
        if (end == p || n < 1 || (*end && *end != ',')) {
            pp_section_error(s, "layers_per_stage", err,
                "expected whole numbers of at least 1 separated by commas, "
                "one per stage, got '%s'", text);
            return 0;
        }
        total += n;
        p = *end ? end + 1 : end;
    }
    if (listed != stages || total != m->nlayers) {
        pp_section_error(s, "layers_per_stage", err,
            "%d number%s adding up to %ld, but the pipeline has %d stage%s "
            "and the model %d layer%s: give one count per stage, adding up "
            "to the layers", listed, listed == 1 ? "" : "s", total, stages,
            stages == 1 ? "" : "s", m->nlayers, m->nlayers == 1 ? "" : "s");
        return 0;
    }
    int layer = 0, stage = 0;
    for (const char *p = text; *p; stage++) {
        char *end;
        long n = strtol(p, &end, 10);
        for (long k = 0; k < n; k++)
            m->layers[layer++].stage = stage;
        while (*end == ' ' || *end == '\t')
            end++;
        p = *end ? end + 1 : end;
    }
    return 1;
}

/* Returns 1 when the stages can be cut: enough layers, and manual stage
 * keys (if any) complete and in order. */
static int check_partition(pp_model *m, pp_error *err)
{
    if (m->nranks == 0)
        return 0; /* devices did not parse: already reported */
    size_t before = err->count;
    int stages = m->nranks * m->stages_per_rank;
    pp_section *pipe = pp_config_section(m->cfg, "pipeline");
    if (pipe && pp_section_has(pipe, "layers_per_stage") &&
        !apply_layer_counts(m, pipe, stages, err))
        return 0;
    if (stages > m->nlayers) {
        if (pipe)
            pp_section_error(pipe, pp_section_has(pipe, "stages_per_rank") ?
                                 "stages_per_rank" : "devices", err,
                "%d rank%s x %d stage%s per rank = %d stages, but the "
                "model has only %d layer%s: use fewer ranks or stages",
                m->nranks, m->nranks == 1 ? "" : "s", m->stages_per_rank,
                m->stages_per_rank == 1 ? "" : "s", stages, m->nlayers,
                m->nlayers == 1 ? "" : "s");
        return 0;
    }
    if (m->partition != PP_PARTITION_MANUAL) {
        for (int i = 0; i < m->nlayers; i++)
            if (m->layers[i].stage >= 0)
                pp_section_error(m->layers[i].section, "stage", err,
                    "stage is set but [pipeline] partition = %s: remove the "
                    "stage keys or use partition = manual",
                    pp_partition_name(m->partition));
        return err->count == before;
    }
    int prev = 0;
    for (int i = 0; i < m->nlayers; i++) {
        pp_model_layer *l = &m->layers[i];
        if (l->stage < 0) {
            pp_section_error(l->section, NULL, err,
                "partition is manual but this layer has no 'stage' key");
            continue;
        }
        if (l->stage >= stages)
            pp_section_error(l->section, "stage", err,
                "stage %d does not exist: there are %d stages (0 to %d)",
                l->stage, stages, stages - 1);
        else if (i == 0 && l->stage != 0)
            pp_section_error(l->section, "stage", err,
                "the first layer must be in stage 0, not %d", l->stage);
        else if (l->stage < prev || l->stage > prev + 1)
            pp_section_error(l->section, "stage", err,
                "stage %d after stage %d: stages must follow the layer "
                "order, each one the same as or one more than the previous",
                l->stage, prev);
        prev = l->stage;
    }
    if (prev != stages - 1 && prev < stages)
        pp_section_error(m->layers[m->nlayers - 1].section, "stage", err,
            "the last layer is in stage %d, so stages %d to %d would be "
            "empty", prev, prev + 1, stages - 1);
    return err->count == before;
}

/* The schedule, built for this pipeline's ranks, micro-batches and stages
 * per rank, and verified: a schedule that cannot run them is a config
 * error at the schedule key. A file schedule's path is taken from the
 * model file's directory. */
static void load_schedule(pp_model *m, pp_error *err)
{
    pp_section *s = pp_config_section(m->cfg, "pipeline");
    char dir[4096];
    const char *slash = strrchr(m->cfg->path, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - m->cfg->path) : 1,
             slash ? m->cfg->path : ".");
    pp_error why;
    pp_error_clear(&why);
    if (pp_plan_load(m->registry, m->schedule, dir, s, m->nranks,
                     m->microbatches, m->stages_per_rank, &m->plan, &why) ==
        PP_OK)
        return;
    if (s)
        pp_section_error(s, pp_section_has(s, "schedule") ? "schedule" : NULL,
                         err, "%s", why.msg);
    else
        pp_error_add(err, PP_ERR_CONFIG, "%s:1: %s", m->cfg->path, why.msg);
}


/* [pipeline] recompute = true (every stage) or recompute_stages = 0,2,
 * once the stages are known. */
static void load_recompute(pp_model *m, pp_error *err)
{
    int S = m->stages;
    if (!(m->recompute = calloc((size_t)S, 1))) {
        pp_error_add(err, PP_ERR_NOMEM, "out of memory");
        return;
    }
    pp_section *s = pp_config_section(m->cfg, "pipeline");
    if (!s)
        return;
    pp_error ignore;
    bool all;
    pp_section_bool(s, "recompute", &all, &ignore);
    memset(m->recompute, all, (size_t)S);
    if (!pp_section_has(s, "recompute_stages"))
        return;
    if (all) {
        pp_section_error(s, "recompute_stages", err,
            "recompute = true already recomputes every stage: remove one of "
            "them");
        return;
    }
    const char *text;
    pp_section_string(s, "recompute_stages", &text, &ignore);
    for (const char *p = text; *p;) {
        char *end;
        long stage = strtol(p, &end, 10);
        while (*end == ' ' || *end == '\t')
            end++;
        if (end == p || (*end && *end != ',') || stage < 0) {
            pp_section_error(s, "recompute_stages", err,
                "expected stage numbers separated by commas, e.g. 0,1, got "
                "'%s'", text);
            return;
        }
        if (stage >= S) {
            pp_section_error(s, "recompute_stages", err,
                "stage %ld does not exist: there are %d stages (0 to %d)",
                stage, S, S - 1);
            return;
        }
        m->recompute[stage] = 1;
        p = *end ? end + 1 : end;
        while (*p == ' ' || *p == '\t')
            p++;
    }
}

/* The stages cut from the layers, and what crosses each cut. */
static void cut_stages(pp_model *m, pp_error *err)
{
    int S = m->stages;
    if (!(m->first = calloc((size_t)S + 1, sizeof *m->first))) {
        pp_error_add(err, PP_ERR_NOMEM, "out of memory");
        return;
    }
    pp_error why;
    pp_error_clear(&why);
    if (pp_partition_layers(m, S, m->first, &why) ||
        pp_graph_cut(m, &why))
        pp_error_add(err, why.code, "%s", why.msg);
}

/* The plan and the devices of every rank of the job: D replicas of the
 * pipeline, as pp_plan.replicas numbers them (rank r of replica k is
 * r * D + k, on rank r's device). */
static void replicate(pp_model *m, pp_error *err)
{
    int p = m->nranks, D = m->data;
    if (D == 1)
        return;
    pp_plan *job;
    pp_error why;
    pp_error_clear(&why);
    pp_device_spec *dev = malloc((size_t)D * (size_t)p * sizeof *dev);
    if (!dev || pp_plan_replicate(m->plan, D, &job, &why)) {
        free(dev);
        pp_error_add(err, dev ? why.code : PP_ERR_NOMEM, "%s",
                     dev ? why.msg : "out of memory");
        return;
    }
    for (int r = 0; r < p; r++)
        for (int k = 0; k < D; k++)
            dev[r * D + k] = m->devices[r];
    free(m->devices);
    m->devices = dev;
    pp_plan_free(m->plan);
    m->plan = job;
    m->nranks = D * p;
}

/* An entry without an index (cuda) on a device with memory of its own
 * takes the next device of its plugin on its node, rank by rank: devices
 * = cuda with data = 4 puts the replicas on cuda:0 to cuda:3. (cpu ranks
 * all share the host.) */
static void number_devices(pp_model *m)
{
    for (int r = 0; r < m->nranks; r++) {
        pp_device_spec *d = &m->devices[r];
        if (d->indexed || !d->plugin ||
            pp_device_memory(d) == PP_MEMORY_HOST)
            continue;
        d->index = 0;
        for (int q = 0; q < r; q++)
            d->index += !m->devices[q].indexed &&
                        m->node_of[q] == m->node_of[r] &&
                        strcmp(m->devices[q].name, d->name) == 0;
    }
}

/* Every rank in process 0 on node 0: threads of this process. */
static void place_here(pp_model *m, pp_error *err)
{
    free(m->process_of);
    free(m->node_of);
    m->process_of = calloc((size_t)m->nranks + 1, sizeof *m->process_of);
    m->node_of = calloc((size_t)m->nranks + 1, sizeof *m->node_of);
    m->processes = 1;
    if (!m->process_of || !m->node_of)
        pp_error_add(err, PP_ERR_NOMEM, "out of memory");
}

pp_status pp_model_place(pp_model *m, int processes, const int *node,
                         pp_error *err)
{
    pp_section *par = pp_config_section(m->cfg, "parallel");
    int per = m->ranks_per_process, need = (m->nranks + per - 1) / per;
    if ((int64_t)processes * per != m->nranks) {
        char why[512];
        snprintf(why, sizeof why,
                 "%d processes were started, but the job has %d rank%s (%d "
                 "replica%s x %d) and %d per process: start %d process%s "
                 "(mpirun -np %d), or set [parallel] ranks_per_process to a "
                 "divisor of the ranks", processes, m->nranks,
                 m->nranks == 1 ? "" : "s", m->data, m->data == 1 ? "" : "s",
                 m->pipeline_ranks, per, need, need == 1 ? "" : "es", need);
        if (par)
            return pp_section_error(par, pp_section_has(par,
                                        "ranks_per_process")
                                        ? "ranks_per_process" : NULL,
                                    err, "%s", why);
        return pp_error_set(err, PP_ERR_CONFIG, "%s: %s", m->cfg->path, why);
    }
    m->processes = processes;
    for (int r = 0; r < m->nranks; r++) {
        m->process_of[r] = r / per;
        m->node_of[r] = node ? node[r / per] : 0;
    }
    number_devices(m);
    free(m->route);
    m->route = NULL;
    pp_routes_plan(m, err);
    return err->count ? err->code : PP_OK;
}

/* Appends a sum over ranks[0..n-1] of `what` (a shared parameter, or
 * PP_NORM_SUM) to the plan and to m->summed; -1 when out of memory. */
static int append_sum(pp_model *m, const int *ranks, int n, pp_param_ref what)
{
    pp_param_ref *grown = realloc(m->summed,
        (size_t)(m->plan->ngroups + 1) * sizeof *grown);
    if (!grown)
        return -1;
    m->summed = grown;
    pp_error why;
    pp_error_clear(&why);
    if (pp_plan_add_sum(m->plan, ranks, n, NULL, &why))
        return -1;
    m->summed[m->plan->ngroups - 1] = what;
    return 0;
}

/* Each stage's gradients summed over its replicas, as soon as its last
 * backward is done on each (data parallelism). A stage without
 * parameters has nothing to sum. */
static void add_replica_sums(pp_model *m, pp_error *err)
{
    int S = m->stages, before = m->plan->ngroups;
    unsigned char *has = calloc((size_t)S, 1);
    for (int s = 0; has && s < S; s++)
        for (int i = m->first[s]; i < m->first[s + 1]; i++)
            has[s] |= m->layers[i].plan.nparams > 0;
    pp_error why;
    pp_error_clear(&why);
    pp_param_ref *grown = NULL;
    if (has && !pp_plan_add_replica_sums(m->plan, has, &why))
        grown = realloc(m->summed, (size_t)m->plan->ngroups * sizeof *grown +
                                       1);
    free(has);
    if (!grown) {
        pp_error_add(err, PP_ERR_NOMEM, "out of memory");
        return;
    }
    m->summed = grown;
    for (int g = before; g < m->plan->ngroups; g++)
        m->summed[g] = PP_STAGE_SUM;
}

/* A sum over the ranks that use a shared parameter, before their
 * optimizer steps, for each that more than one rank of a replica uses:
 * each keeps a copy, and all take the summed gradient, so all take one
 * update. */
static void add_sums(pp_model *m, pp_error *err)
{
    int p = m->nranks, *ranks = malloc((size_t)p * sizeof *ranks);
    unsigned char *uses = malloc((size_t)p);
    if (!ranks || !uses) {
        free(ranks);
        free(uses);
        pp_error_add(err, PP_ERR_NOMEM, "out of memory");
        return;
    }
    for (int rep = 0; rep < m->data; rep++)
        for (int i = 0; i < m->nlayers; i++)
            for (int q = 0; q < m->layers[i].plan.nparams; q++) {
                memset(uses, 0, (size_t)p);
                for (int j = i; j < m->nlayers; j++)
                    for (int k = 0; k < m->layers[j].plan.nparams; k++)
                        if (m->layers[j].owner[k].layer == i &&
                            m->layers[j].owner[k].param == q)
                            uses[m->plan->rank_of_stage[
                                rep * m->stages + m->layers[j].stage]] = 1;
                int n = 0;
                for (int r = 0; r < p; r++)
                    if (uses[r])
                        ranks[n++] = r;
                if (n >= 2 && append_sum(m, ranks, n, (pp_param_ref){i, q})) {
                    pp_error_add(err, PP_ERR_NOMEM, "out of memory");
                    goto done;
                }
            }
done:
    free(ranks);
    free(uses);
}

/* Before each step, the gradient norm and the loss: each rank's part of
 * the squared norm is summed over its pipeline's ranks, after the shared
 * gradients' sums (their copies are counted once, at their owner), with
 * the step's loss beside it, summed first over the replicas' last
 * stages. So every rank of every replica has the same two numbers
 * before its update: to clip by, and to apply the step only when both
 * are finite. A device built before clipping (ABI 2.1) cannot sum a
 * norm: it trains without one where nothing needs it. */
static void add_norm_sum(pp_model *m, pp_error *err)
{
    pp_section *train = pp_config_section(m->cfg, "train");
    for (int r = 0; r < m->nranks; r++) {
        const pp_plugin *dev = m->devices[r].plugin;
        if (!dev || ((const pp_device_ops *)dev->ops)->sumsq_async)
            continue;
        if (m->grad_clip > 0)
            pp_section_error(train, "grad_clip", err,
                "device '%s' (rank %d) cannot clip gradients: its plugin "
                "was built for pipette ABI 2.%u, and clipping came in 2.2",
                m->devices[r].name, r, (unsigned)dev->desc->abi_minor);
        else if (m->skip_nonfinite)
            pp_section_error(train, "on_nonfinite", err,
                "device '%s' (rank %d) cannot check gradients before the "
                "step: its plugin was built for pipette ABI 2.%u, and the "
                "gradient norm came in 2.2; on_nonfinite = stop stops after "
                "the step instead", m->devices[r].name, r,
                (unsigned)dev->desc->abi_minor);
        return;
    }
    m->grad_norm = 1;
    int p = m->pipeline_ranks, D = m->data, S = m->stages;
    int *ranks = malloc((size_t)(p > D ? p : D) * sizeof *ranks);
    int failed = !ranks;
    if (!failed && D > 1) {
        for (int k = 0; k < D; k++)
            ranks[k] = m->plan->rank_of_stage[k * S + S - 1];
        failed = append_sum(m, ranks, D, PP_LOSS_SUM);
    }
    /* Once the replicas' sums are done, each replica holds the same
     * gradients: its own ranks sum its norm. */
    for (int k = 0; !failed && p > 1 && k < D; k++) {
        for (int r = 0; r < p; r++)
            ranks[r] = r * D + k;
        failed = append_sum(m, ranks, p, PP_NORM_SUM);
    }
    if (failed)
        pp_error_add(err, PP_ERR_NOMEM, "out of memory");
    free(ranks);
}

/* The sums change the programs: they must still run to the end. */
static void verify_job(pp_model *m, pp_error *err)
{
    pp_error why;
    pp_error_clear(&why);
    if (pp_plan_verify(m->plan, &why))
        pp_error_add(err, why.code, "%s: the job's programs: %s",
                     m->cfg->path, why.msg);
}

void pp_pipeline_load(pp_model *m, pp_error *err)
{
    load_parallel(m, err);
    load_pipeline(m, err);
    m->pipeline_ranks = m->nranks;
    if (m->nlayers == 0 || !check_partition(m, err))
        return;
    load_schedule(m, err);
    if (!m->plan)
        return;
    m->stages = m->plan->S;
    load_recompute(m, err);
    /* Cutting needs every layer planned; routes, the programs with their
     * sums. */
    if (err->count == 0)
        cut_stages(m, err);
    if (err->count == 0)
        replicate(m, err);
    place_here(m, err);
    if (err->count == 0)
        number_devices(m);
    if (err->count == 0 && m->data > 1)
        add_replica_sums(m, err);
    if (err->count == 0)
        add_sums(m, err);
    if (err->count == 0 && m->has_train)
        add_norm_sum(m, err);
    if (err->count == 0 && m->plan->ngroups)
        verify_job(m, err);
    pp_routes_plan(m, err);
}
