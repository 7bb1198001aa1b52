/* tests/config_lint.c - loads a config and checks it against a fixed test
 * schema, the way the command does against the real one.
 *
 * The schema below is made up for the tests (it is not the model's, which
 * lives in src/model.c): a few keys of every type for every section kind,
 * with a pretend plugin table for layers, [train] and [data], so the corpus
 * under tests/config exercises the file layer and the validator without
 * depending on any plugin.
 *
 * Errors: the messages exactly as pp_error holds them, one per line, on
 * stderr, nothing on stdout, exit status 2 (1 for anything but a config
 * error). Success: every declared key with its typed value on stdout.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "config_file.h"

#define NO_MAX 0x1p63 /* no upper bound worth stating */

static const pp_key model_keys[] = {
    {"name", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, NULL, "the model's name"},
    {"input", PP_KEY_SHAPE, PP_KEY_REQUIRED, PP_NO_RANGE, NULL, NULL,
     "one sample of the model's input"},
    {0}};

static const pp_key pipeline_keys[] = {
    {"schedule", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, "1f1b", NULL},
    {"microbatches", PP_KEY_INT, 0, 1, NO_MAX, NULL, "1", NULL},
    {"partition", PP_KEY_ENUM, 0, PP_NO_RANGE, "params|flops|manual",
     "params", NULL},
    {0}};

static const pp_key train_keys[] = {
    {"batch", PP_KEY_INT, PP_KEY_REQUIRED, 1, 1048576, NULL, NULL,
     "samples per step"},
    {"steps", PP_KEY_INT, 0, 1, NO_MAX, NULL, "100", NULL},
    {"lr", PP_KEY_FLOAT, PP_KEY_MIN_OPEN, 0, 10, NULL, "0.01", NULL},
    {"seed", PP_KEY_INT, 0, PP_NO_RANGE, NULL, "1", NULL},
    {"log", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, NULL, NULL},
    {0}};

static const pp_key optimizer_keys[] = {
    {"momentum", PP_KEY_FLOAT, 0, 0, 1, NULL, "0.9", NULL},
    {"nesterov", PP_KEY_BOOL, 0, PP_NO_RANGE, NULL, "false", NULL},
    {0}};

static const pp_key data_keys[] = {
    {"source", PP_KEY_STRING, PP_KEY_REQUIRED, PP_NO_RANGE, NULL, NULL,
     "data plugin name"},
    {0}};

static const pp_key source_keys[] = {
    {"path", PP_KEY_STRING, 0, PP_NO_RANGE, NULL, NULL, NULL},
    {"shuffle", PP_KEY_BOOL, 0, PP_NO_RANGE, NULL, "true", NULL},
    {0}};

static const pp_key layer_keys[] = {
    {"type", PP_KEY_STRING, PP_KEY_REQUIRED, PP_NO_RANGE, NULL, NULL,
     "layer plugin name"},
    {"stage", PP_KEY_INT, 0, 0, NO_MAX, NULL, NULL, NULL},
    {0}};

static const pp_key dense_keys[] = {
    {"units", PP_KEY_INT, PP_KEY_REQUIRED, 1, 1048576, NULL, NULL,
     "output features"},
    {"bias", PP_KEY_BOOL, 0, PP_NO_RANGE, NULL, "true", NULL},
    {"activation", PP_KEY_ENUM, 0, PP_NO_RANGE, "relu|gelu|none", "none",
     NULL},
    {"kernel", PP_KEY_SHAPE, 0, PP_NO_RANGE, NULL, "3x3", NULL},
    {"dropout", PP_KEY_FLOAT, 0, 0, 1, NULL, NULL, NULL},
    {0}};

static void tables_for(const char *kind, const pp_key **core,
                       const pp_key **plugin)
{
    static const struct {
        const char *kind;
        const pp_key *core, *plugin;
    } schema[] = {
        {"model", model_keys, NULL},
        {"pipeline", pipeline_keys, NULL},
        {"train", train_keys, optimizer_keys},
        {"data", data_keys, source_keys},
        {"layer", layer_keys, dense_keys},
    };
    *core = *plugin = NULL;
    for (size_t i = 0; i < sizeof schema / sizeof schema[0]; i++)
        if (strcmp(kind, schema[i].kind) == 0) {
            *core = schema[i].core;
            *plugin = schema[i].plugin;
        }
}

/* One "key = value" line through the typed getter for its type. */
static pp_status print_key(const pp_section *s, const pp_key *k,
                           pp_error *err)
{
    if (!pp_section_has(s, k->name) && !k->def) {
        printf("  %s unset\n", k->name);
        return PP_OK;
    }
    const char *from = pp_section_has(s, k->name) ? "" : " (default)";
    pp_status st = PP_OK;
    int64_t i = 0;
    double f = 0;
    bool b = false;
    const char *text = NULL;
    pp_shape shape;
    switch (k->type) {
    case PP_KEY_INT:
        if ((st = pp_section_int(s, k->name, &i, err)) == PP_OK)
            printf("  %s = %" PRId64 "%s\n", k->name, i, from);
        break;
    case PP_KEY_FLOAT:
        if ((st = pp_section_float(s, k->name, &f, err)) == PP_OK)
            printf("  %s = %g%s\n", k->name, f, from);
        break;
    case PP_KEY_BOOL:
        if ((st = pp_section_bool(s, k->name, &b, err)) == PP_OK)
            printf("  %s = %s%s\n", k->name, b ? "true" : "false", from);
        break;
    case PP_KEY_STRING:
    case PP_KEY_ENUM:
        if ((st = pp_section_string(s, k->name, &text, err)) == PP_OK)
            printf("  %s = '%s'%s\n", k->name, text, from);
        break;
    case PP_KEY_SHAPE: {
        char buf[64];
        if ((st = pp_section_shape(s, k->name, &shape, err)) == PP_OK)
            printf("  %s = %s%s\n", k->name,
                   pp_shape_format(&shape, buf, sizeof buf), from);
        break;
    }
    }
    return st;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: config_lint FILE\n");
        return 2;
    }
    pp_error err;
    pp_error_clear(&err);
    pp_config *cfg;
    pp_status st = pp_config_load(argv[1], &cfg, &err);
    if (st == PP_OK) {
        for (size_t i = 0; i < cfg->nsections; i++) {
            const pp_key *core, *plugin;
            tables_for(cfg->sections[i]->kind, &core, &plugin);
            if (pp_section_validate(cfg->sections[i], core, plugin, &err))
                st = PP_ERR_CONFIG;
        }
    }
    for (size_t i = 0; st == PP_OK && i < cfg->nsections; i++) {
        const pp_section *s = cfg->sections[i];
        printf("[%s%s%s] line %d\n", pp_section_kind(s),
               *pp_section_name(s) ? " " : "", pp_section_name(s), s->line);
        for (int t = 0; t < 2; t++)
            for (const pp_key *k = s->tables[t]; k && k->name && !st; k++)
                st = print_key(s, k, &err);
    }
    pp_config_free(cfg);
    if (st != PP_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return st == PP_ERR_CONFIG ? 2 : 1;
    }
    return 0;
}
