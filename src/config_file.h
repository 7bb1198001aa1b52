/* src/config_file.h - a config file as parsed, before it means anything.
 *
 * pp_config_load() reads an INI file through inih and checks its form:
 * known section kinds, no duplicate sections or keys, no keys outside a
 * section, no over-long lines, no inih multi-line continuations. What the
 * keys mean is checked later, section by section, by
 * pp_section_validate() against the core's key table and the table of the
 * plugin the section names (model.c does that). Before that,
 * pp_config_expand() (repeat.c) writes out the copies of each [repeat]
 * group's layers.
 */
#ifndef PP_CORE_CONFIG_FILE_H
#define PP_CORE_CONFIG_FILE_H

#include <stddef.h>
#include <stdint.h>

#include <pipette/config.h>
#include <pipette/error.h>

typedef struct pp_entry {
    char *key;
    char *value;
    int line;
} pp_entry;

struct pp_section {
    char *kind;               /* "model", "layer", "repeat", "pipeline",
                                 "train", "data" */
    char *name;               /* "fc1" for [layer fc1]; "" otherwise */
    const char *file;         /* the config's path (owned by pp_config) */
    int line;                 /* line of the [header] */
    pp_entry *entries;
    size_t nentries;
    size_t cap;
    const pp_key *tables[2];  /* core keys, plugin keys; set by validate */
    char *repeat;             /* a copy of a [repeat] group's layer: the
                                 group's name ("h" for h.3.attn), else NULL;
                                 line and entries are the template's */
    int copy;                 /* which copy, from 0 */
};

typedef struct pp_config {
    char *path;
    pp_section **sections;    /* in file order */
    size_t nsections;
} pp_config;

/* The largest model file read. */
#define PP_MODEL_FILE_MAX ((int64_t)64 << 20)

/* Parses path, a regular file of at most PP_MODEL_FILE_MAX bytes
 * (input_file.h). On PP_ERR_CONFIG, err holds every error found, one
 * "FILE:LINE: message" per line, and *out is NULL. */
pp_status pp_config_load(const char *path, pp_config **out, pp_error *err);
/* The same from text in memory, called `name` in messages. */
pp_status pp_config_parse(const char *name, const char *text,
                          pp_config **out, pp_error *err);
void pp_config_free(pp_config *cfg);

/* Replaces each [repeat NAME] section and the [layer NAME.X] sections
 * after it (its template) by COUNT copies of them, [layer NAME.0.X] to
 * [layer NAME.{COUNT-1}.X], and rewrites the references to the group's
 * names in `inputs` and `share` (docs/pipette.ini.5, REPETITION). On
 * PP_ERR_CONFIG err holds every problem with the groups, cfg unchanged. */
pp_status pp_config_expand(pp_config *cfg, pp_error *err);

/* Whether err already holds line but for the copy numbers of the group
 * `name` in both (h.3.attn and h.0.attn are alike): an earlier copy of a
 * [repeat] group's layer made the same mistake. */
bool pp_repeat_said(const pp_error *err, const char *line, const char *name);

/* A new section like s, named name, with copies of its entries; NULL when
 * out of memory. */
pp_section *pp_section_copy(const pp_section *s, const char *name);
void pp_section_free(pp_section *s);

/* The first section of a kind, or NULL. */
pp_section *pp_config_section(const pp_config *cfg, const char *kind);

/* The entry for key, or NULL. */
const pp_entry *pp_section_entry(const pp_section *s, const char *key);

/* Checks every key of s against core_keys and plugin_keys (either may be
 * NULL): unknown keys (with "did you mean"), missing required keys, values
 * that do not parse or are out of range. Appends one message per problem to
 * err and returns PP_ERR_CONFIG if any; remembers the tables for the
 * getters. */
pp_status pp_section_validate(pp_section *s, const pp_key *core_keys,
                              const pp_key *plugin_keys, pp_error *err);

/* What a key takes, as `pipette plugins` shows it: "an integer from 1 to
 * 64, default 2", "one of a|b, required", ... */
void pp_key_describe(const pp_key *k, char *buf, size_t size);

/* Parsers shared by the validator and the getters: the whole of text must
 * be the value, with no trailing characters. Return 0 on success (and
 * pp_parse_shape -2 for a shape whose elements overflow 64 bits). */
int pp_parse_int(const char *text, int64_t *out);
int pp_parse_float(const char *text, double *out);
int pp_parse_bool(const char *text, bool *out);
int pp_parse_shape(const char *text, pp_shape *out);

/* The next item of a comma-separated list at *p, trimmed, or NULL at the
 * end; empty items ("a,,b") come back as "". Writes into the list. */
char *pp_list_next(char **p);

/* The candidate closest to word by edit distance, if close enough to be a
 * likely typo; NULL otherwise. */
const char *pp_did_you_mean(const char *word, const char *const *candidates,
                            size_t n);

#endif
