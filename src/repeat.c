/* src/repeat.c - [repeat NAME] groups: a model's repeated blocks written
 * once.
 *
 *   [repeat h]            ; the [layer h.X] sections right after it,
 *   count = 12            ; h.ln_1 ... h.res_2, are written out as
 *   [layer h.ln_1] ...    ; h.0.ln_1 ... h.0.res_2, ..., h.11.res_2
 *
 * pp_config_expand() runs between reading the file (config_file.c) and
 * giving its sections meaning (model.c): it replaces each group by its
 * copies, as if they had been written out by hand, so that nothing after it
 * knows about groups. Within a copy, h.X in `inputs` or in `share`'s LAYER
 * means that copy's X, and h alone the tensor that entered the copy (the
 * layer before the group, or the previous copy's last layer); after the
 * group, h is its last copy's last layer. A copy keeps its template's line
 * numbers, so every later error points at the template, and it remembers
 * its group and copy (config_keys.c then reports an error that the copies
 * repeat word for word once).
 *
 * This is not a preprocessor: it knows the two keys of the core's layer
 * table that name layers (`inputs`, `share`); no plugin key names one.
 * Problems with the groups themselves are all reported here, in file
 * order, before any section's keys are checked.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_file.h"

/* A sane bound: GPT-3 has 96 blocks. */
#define MAX_COUNT 1000

static const pp_key repeat_keys[] = {
    {"count", PP_KEY_INT, PP_KEY_REQUIRED, 1, MAX_COUNT, NULL, NULL,
     "how many copies to make of the layers that follow"},
    {0},
};

typedef struct group {
    pp_section *head;   /* [repeat NAME] */
    const char *name;
    size_t len;
    size_t at;          /* head's index in cfg->sections */
    size_t first, n;    /* its template: sections first .. first + n - 1 */
    int64_t count;      /* 0 while count is not valid */
    const char *last;   /* the template's last layer's X */
} group;

typedef struct expander {
    pp_config *cfg;
    pp_error *err;
    group *g;
    size_t ng;
    size_t errors;
} expander;

/* What follows "NAME." in name, or NULL when name is not under g. */
static const char *under(const group *g, const char *name)
{
    if (strncmp(name, g->name, g->len) != 0 || name[g->len] != '.' ||
        !name[g->len + 1])
        return NULL;
    return name + g->len + 1;
}

/* The template layer of g whose X is x, or NULL. */
static const pp_section *template_layer(const expander *x, const group *g,
                                        const char *xname)
{
    for (size_t i = g->first; i < g->first + g->n; i++)
        if (strcmp(under(g, x->cfg->sections[i]->name), xname) == 0)
            return x->cfg->sections[i];
    return NULL;
}

/* "3.attn": a copy's name written out (NAME.3.attn), which is left as
 * written. Sets *k and *rest. */
static bool copy_name(const char *xname, int64_t *k, const char **rest)
{
    if (!isdigit((unsigned char)*xname))
        return false;
    char *end;
    long long v = strtoll(xname, &end, 10);
    if (*end != '.' || !end[1])
        return false;
    *k = v;
    *rest = end + 1;
    return true;
}

/* The group whose template holds section j, or NULL. */
static const group *template_of(const expander *x, size_t j)
{
    for (size_t i = 0; i < x->ng; i++)
        if (j >= x->g[i].first && j < x->g[i].first + x->g[i].n)
            return &x->g[i];
    return NULL;
}

/* The group that name is, or is under, or NULL. Groups do not nest, so
 * there is at most one. */
static const group *group_named(const expander *x, const char *name)
{
    for (size_t i = 0; i < x->ng; i++)
        if (strcmp(name, x->g[i].name) == 0 || under(&x->g[i], name))
            return &x->g[i];
    return NULL;
}

#define TAG "[%s%s%s]"
#define TAG_ARGS(s) (s)->kind, *(s)->name ? " " : "", (s)->name

/* Finds the groups and their templates; reports nothing. */
static pp_status find_groups(expander *x)
{
    pp_config *cfg = x->cfg;
    for (size_t i = 0; i < cfg->nsections; i++)
        x->ng += strcmp(cfg->sections[i]->kind, "repeat") == 0;
    x->g = calloc(x->ng + 1, sizeof *x->g);
    if (!x->g)
        return pp_error_add(x->err, PP_ERR_NOMEM, "out of memory");
    size_t ng = 0;
    for (size_t i = 0; i < cfg->nsections; i++) {
        pp_section *s = cfg->sections[i];
        if (strcmp(s->kind, "repeat") != 0)
            continue;
        group *g = &x->g[ng++];
        *g = (group){.head = s, .name = s->name, .len = strlen(s->name),
                     .at = i, .first = i + 1};
        while (g->first + g->n < cfg->nsections) {
            const pp_section *t = cfg->sections[g->first + g->n];
            if (strcmp(t->kind, "layer") != 0 || !under(g, t->name))
                break;
            g->last = under(g, t->name);
            g->n++;
        }
        const pp_entry *e = pp_section_entry(s, "count");
        int64_t count;
        if (e && pp_parse_int(e->value, &count) == 0 && count >= 1 &&
            count <= MAX_COUNT)
            g->count = count;
    }
    return PP_OK;
}

/* The group that g's name lies under, or NULL. */
static const group *outer_group(const expander *x, const group *g)
{
    for (size_t i = 0; i < x->ng; i++)
        if (&x->g[i] != g && under(&x->g[i], g->name))
            return &x->g[i];
    return NULL;
}

static void check_group(expander *x, const group *g)
{
    pp_section *s = g->head;
    pp_config *cfg = x->cfg;
    const group *outer = outer_group(x, g);
    if (strcmp(g->name, "input") == 0) {
        pp_section_error(s, NULL, x->err,
            "a group cannot be named 'input': that name is the model's "
            "input");
        x->errors++;
    }
    if (outer) {
        pp_section_error(s, NULL, x->err,
            "repeats do not nest, and this group's name is under [repeat "
            "%s] (line %d): write its layers out in %s's template, or give "
            "the group a name of its own", outer->name, outer->head->line,
            outer->name);
        x->errors++;
    }
    if (g->n == 0) {
        const pp_section *next = g->at + 1 < cfg->nsections
                                     ? cfg->sections[g->at + 1] : NULL;
        const group *inner = NULL;
        for (size_t i = 0; next && i < x->ng; i++)
            if (x->g[i].head == next && outer_group(x, &x->g[i]) == g)
                inner = &x->g[i];
        char what[600];
        if (next)
            snprintf(what, sizeof what, "[%s%s%s] at line %d is not one",
                     TAG_ARGS(next), next->line);
        else
            snprintf(what, sizeof what, "the file ends here");
        /* A nested group says what is wrong: nesting. */
        if (!inner) {
            pp_section_error(s, NULL, x->err,
                "no layers follow it to repeat: the group is the [layer "
                "%s.NAME] sections right after it, and %s", g->name, what);
            x->errors++;
        }
    }
    if (pp_section_validate(s, repeat_keys, NULL, x->err) != PP_OK)
        x->errors++;
}

/* A [layer] section's name must not be a group's, nor under one outside
 * its template. Returns 0 after saying it is. */
static int check_layer_name(expander *x, size_t j)
{
    size_t before = x->errors;
    const pp_section *s = x->cfg->sections[j];
    for (size_t i = 0; i < x->ng; i++) {
        const group *g = &x->g[i];
        const char *xname = under(g, s->name);
        if (strcmp(s->name, g->name) == 0) {
            pp_section_error(s, NULL, x->err,
                "a layer cannot be named '%s': [repeat %s] (line %d) gives "
                "that name to what enters each of its copies, and after "
                "the group to its last copy's output", g->name, g->name,
                g->head->line);
            x->errors++;
            continue;
        }
        if (!xname || (j >= g->first && j < g->first + g->n))
            continue;
        int64_t k;
        const char *rest;
        const pp_section *t = NULL;
        if (copy_name(xname, &k, &rest) && (k < g->count || !g->count))
            t = template_layer(x, g, rest);
        if (t) {
            pp_section_error(s, NULL, x->err,
                "this name is taken: it is copy %lld of [layer %s.%s] (line "
                "%d) in [repeat %s] (line %d)", (long long)k, g->name, rest,
                t->line, g->name, g->head->line);
        } else if (j < g->at) {
            pp_section_error(s, NULL, x->err,
                "the name is under [repeat %s] (line %d), which comes "
                "later: a group's layers are the [layer %s.NAME] sections "
                "right after its [repeat %s], with no other section between",
                g->name, g->head->line, g->name, g->name);
        } else {
            const pp_section *end = x->cfg->sections[g->first + g->n];
            pp_section_error(s, NULL, x->err,
                "the name is under [repeat %s] (line %d), but the group "
                "ended before it, at [%s%s%s] (line %d): a group's layers "
                "are the [layer %s.NAME] sections right after its [repeat "
                "%s], with no other section between", g->name,
                g->head->line, TAG_ARGS(end), end->line, g->name, g->name);
        }
        x->errors++;
    }
    return x->errors == before;
}

/* "h.ln_1, h.qkv and 3 more" into buf: a group's layers. */
static const char *layer_list(const expander *x, const group *g, char *buf,
                              size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < g->n && used < size; i++) {
        if (i == 8 && g->n > 9) {
            snprintf(buf + used, size - used, " and %zu more", g->n - i);
            break;
        }
        used += (size_t)snprintf(buf + used, size - used, "%s%s",
                                 i ? ", " : "",
                                 x->cfg->sections[g->first + i]->name);
    }
    return buf;
}

/* One name that section j's `key` refers to (a tensor in inputs, the LAYER
 * of share's PARAM:LAYER.PARAM), checked against the groups. */
static void check_reference(expander *x, size_t j, const char *key,
                            const char *name)
{
    const pp_section *s = x->cfg->sections[j];
    const group *g = group_named(x, name);
    if (!g)
        return;
    bool inside = template_of(x, j) == g;
    const char *xname = under(g, name);
    if (!xname) {
        /* The group's name: inside, what entered the copy; after the
         * group, its output. */
        if (!inside && j < g->at) {
            pp_section_error(s, key, x->err,
                "'%s' is the output of [repeat %s] (line %d), which comes "
                "later: name what is made above this layer", name, name,
                g->head->line);
            x->errors++;
        }
        return;
    }
    int64_t k;
    const char *rest;
    bool known = template_layer(x, g, xname) != NULL;
    if (inside && !known && !copy_name(xname, &k, &rest)) {
        const char **names = malloc((g->n + 1) * sizeof *names);
        for (size_t i = 0; names && i < g->n; i++)
            names[i] = under(g, x->cfg->sections[g->first + i]->name);
        const char *hint = names ? pp_did_you_mean(xname, names, g->n)
                                 : NULL;
        char list[600];
        if (hint)
            pp_section_error(s, key, x->err,
                "'%s' is not a layer of [repeat %s] (line %d); did you mean "
                "'%s.%s'?", name, g->name, g->head->line, g->name, hint);
        else
            pp_section_error(s, key, x->err,
                "'%s' is not a layer of [repeat %s] (line %d), whose layers "
                "are %s", name, g->name, g->head->line,
                layer_list(x, g, list, sizeof list));
        free(names);
        x->errors++;
    } else if (!inside && known) {
        char which[300];
        if (g->count > 1)
            snprintf(which, sizeof which, "%s.0.%s to %s.%lld.%s", g->name,
                     xname, g->name, (long long)g->count - 1, xname);
        else
            snprintf(which, sizeof which, "%s.0.%s", g->name, xname);
        pp_section_error(s, key, x->err,
            "'%s' is a layer of [repeat %s] (line %d), which has one in "
            "each copy: name a copy's (%s), or %s for what the last copy "
            "makes", name, g->name, g->head->line, which, g->name);
        x->errors++;
    }
}

/* In share's "PARAM:LAYER.PARAM", where LAYER starts and ends (as graph.c
 * reads it); false when the item has another form (graph.c says so). */
static bool share_layer(char *item, char **layer, char **dot)
{
    char *colon = strchr(item, ':');
    *dot = colon ? strrchr(colon + 1, '.') : NULL;
    if (!colon || !*dot || *dot == colon + 1)
        return false;
    *layer = colon + 1;
    return true;
}

/* Calls check_reference for each name in section j's inputs and share
 * keys, in the order of their lines. */
static pp_status check_references(expander *x, size_t j)
{
    const pp_section *s = x->cfg->sections[j];
    for (size_t i = 0; i < s->nentries; i++) {
        const pp_entry *e = &s->entries[i];
        bool inputs = strcmp(e->key, "inputs") == 0;
        if (!inputs && strcmp(e->key, "share") != 0)
            continue;
        char *copy = strdup(e->value);
        if (!copy)
            return pp_error_add(x->err, PP_ERR_NOMEM, "out of memory");
        char *rest = copy, *item, *layer, *dot;
        while ((item = pp_list_next(&rest))) {
            if (inputs) {
                check_reference(x, j, e->key, item);
            } else if (share_layer(item, &layer, &dot)) {
                *dot = '\0';
                check_reference(x, j, e->key, layer);
            }
        }
        free(copy);
    }
    return PP_OK;
}

/* ---- writing the copies out -------------------------------------------- */

/* Where a name is read: in copy k of group `in`'s template (in NULL:
 * outside every template), with `entering` the tensor that entered the
 * copy. Groups before `at` are written out. */
typedef struct scope {
    const expander *x;
    const group *in;
    int64_t k;
    const char *entering;
    size_t at;
} scope;

/* What name stands for in sc, into buf. */
static const char *map_name(const scope *sc, const char *name, char *buf,
                            size_t size)
{
    const group *in = sc->in;
    if (in && strcmp(name, in->name) == 0)
        return sc->entering;
    if (in && under(in, name) && template_layer(sc->x, in, under(in, name))) {
        snprintf(buf, size, "%s.%lld.%s", in->name, (long long)sc->k,
                 under(in, name));
        return buf;
    }
    for (size_t i = 0; i < sc->x->ng; i++) {
        const group *g = &sc->x->g[i];
        if (g != in && g->at < sc->at && strcmp(name, g->name) == 0) {
            snprintf(buf, size, "%s.%lld.%s", g->name,
                     (long long)g->count - 1, g->last);
            return buf;
        }
    }
    return name;
}

/* e's value with its names mapped, or NULL when it is unchanged (or out of
 * memory: *nomem). Items are trimmed and joined by ", "; an empty one
 * stays, for graph.c to report. */
static char *map_value(const scope *sc, const pp_entry *e, bool *nomem)
{
    bool inputs = strcmp(e->key, "inputs") == 0;
    if (!inputs && strcmp(e->key, "share") != 0)
        return NULL;
    char *copy = strdup(e->value), *out = NULL;
    size_t size = 0;
    FILE *f = copy ? open_memstream(&out, &size) : NULL;
    if (!f) {
        free(copy);
        *nomem = true;
        return NULL;
    }
    bool changed = false;
    char *rest = copy, *item, *layer, *dot, buf[600];
    for (int n = 0; (item = pp_list_next(&rest)); n++) {
        const char *sep = n ? ", " : "";
        if (inputs) {
            const char *to = map_name(sc, item, buf, sizeof buf);
            changed |= to != item;
            fprintf(f, "%s%s", sep, to);
        } else if (share_layer(item, &layer, &dot)) {
            *dot = '\0';
            const char *to = map_name(sc, layer, buf, sizeof buf);
            changed |= to != layer;
            fprintf(f, "%s%.*s%s.%s", sep, (int)(layer - item), item, to,
                    dot + 1);
        } else {
            fprintf(f, "%s%s", sep, item);
        }
    }
    bool failed = fclose(f) != 0 || !out;
    free(copy);
    if (failed || !changed) {
        *nomem |= failed;
        free(out);
        return NULL;
    }
    return out;
}

/* Maps the names in s's entries in place. */
static pp_status map_section(const scope *sc, pp_section *s, pp_error *err)
{
    for (size_t i = 0; i < s->nentries; i++) {
        bool nomem = false;
        char *v = map_value(sc, &s->entries[i], &nomem);
        if (nomem)
            return pp_error_add(err, PP_ERR_NOMEM, "out of memory");
        if (v) {
            free(s->entries[i].value);
            s->entries[i].value = v;
        }
    }
    return PP_OK;
}

/* Writes the copies out into a new list of sections; the old list's
 * [repeat] and template sections are freed once it is complete. */
static pp_status expand(expander *x)
{
    pp_config *cfg = x->cfg;
    size_t total = cfg->nsections;
    for (size_t i = 0; i < x->ng; i++)
        total += x->g[i].n * (size_t)x->g[i].count - x->g[i].n - 1;
    pp_section **out = calloc(total + 1, sizeof *out);
    if (!out)
        return pp_error_add(x->err, PP_ERR_NOMEM, "out of memory");
    size_t n = 0;
    const char *before = "input"; /* the last layer's name so far */
    pp_status st = PP_OK;
    for (size_t i = 0; i < cfg->nsections && !st; i++) {
        pp_section *s = cfg->sections[i];
        const group *g = NULL;
        for (size_t k = 0; k < x->ng; k++)
            if (x->g[k].head == s)
                g = &x->g[k];
        if (!g) {
            scope sc = {.x = x, .at = i};
            if (strcmp(s->kind, "layer") == 0) {
                st = map_section(&sc, s, x->err);
                before = s->name;
            }
            out[n++] = s;
            continue;
        }
        char name[600], entering[600];
        snprintf(entering, sizeof entering, "%s", before);
        for (int64_t k = 0; k < g->count && !st; k++) {
            scope sc = {.x = x, .in = g, .k = k, .entering = entering,
                        .at = i};
            for (size_t t = g->first; t < g->first + g->n && !st; t++) {
                const pp_section *tp = cfg->sections[t];
                snprintf(name, sizeof name, "%s.%lld.%s", g->name,
                         (long long)k, under(g, tp->name));
                pp_section *c = pp_section_copy(tp, name);
                if (c)
                    c->repeat = strdup(g->name);
                if (!c || !c->repeat) {
                    pp_section_free(c);
                    st = pp_error_add(x->err, PP_ERR_NOMEM, "out of memory");
                    break;
                }
                c->copy = (int)k;
                out[n++] = c;
                st = map_section(&sc, c, x->err);
            }
            snprintf(entering, sizeof entering, "%s", name);
        }
        before = out[n - 1]->name;
        i += g->n;
    }
    if (st) {
        for (size_t i = 0; i < n; i++)
            if (out[i]->repeat)
                pp_section_free(out[i]);
        free(out);
        return st;
    }
    for (size_t i = 0; i < x->ng; i++)
        for (size_t t = x->g[i].at; t < x->g[i].first + x->g[i].n; t++)
            pp_section_free(cfg->sections[t]);
    free(cfg->sections);
    cfg->sections = out;
    cfg->nsections = n;
    return PP_OK;
}

pp_status pp_config_expand(pp_config *cfg, pp_error *err)
{
    expander x = {.cfg = cfg, .err = err};
    pp_status st = find_groups(&x);
    bool nested = false;
    for (size_t i = 0; i < x.ng; i++)
        nested |= outer_group(&x, &x.g[i]) != NULL;
    /* In file order, so the messages come in the order of their lines. */
    for (size_t j = 0; !st && j < cfg->nsections; j++) {
        pp_section *s = cfg->sections[j];
        if (strcmp(s->kind, "repeat") == 0) {
            for (size_t i = 0; i < x.ng; i++)
                if (x.g[i].head == s)
                    check_group(&x, &x.g[i]);
        } else if (strcmp(s->kind, "layer") == 0 && !nested) {
            /* (Nested groups make every layer's name suspect: the
             * nesting is the one thing to say.) */
            /* (A misplaced name makes its references misplaced too.) */
            if (check_layer_name(&x, j))
                st = check_references(&x, j);
        }
    }
    if (!st && x.errors)
        st = PP_ERR_CONFIG;
    if (!st && x.ng)
        st = expand(&x);
    free(x.g);
    return st;
}

/* ---- saying a copy's errors once --------------------------------------- */

/* A copy has its template's lines, and a mistake in the template makes
 * every copy fail alike: a message that an earlier copy already gave, but
 * for the copy numbers in it, is not said again (config_keys.c asks here
 * before it adds a message about a copy). So a template's mistake is said
 * once, for copy 0, and one that names what entered the copy is said for
 * copy 0 (the layer before the group) and copy 1 (copy 0's last), not for
 * copy 2 on. */

/* Room for one message line, as pp_error_add() cuts it. */
#define MSG_MAX 1024

static bool is_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

/* line with every copy number of the group `name` (the 3 of "h.3.")
 * made '#'. */
static void without_copy(const char *line, const char *name, char *out,
                         size_t size)
{
    size_t len = strlen(name), used = 0;
    for (const char *p = line; *p && used + 1 < size;) {
        if ((p == line || !is_name_char(p[-1])) &&
            strncmp(p, name, len) == 0 && p[len] == '.' &&
            isdigit((unsigned char)p[len + 1])) {
            const char *d = p + len + 1;
            while (isdigit((unsigned char)*d))
                d++;
            if (*d == '.') {
                used += (size_t)snprintf(out + used, size - used, "%s.#",
                                         name);
                p = d;
                continue;
            }
        }
        out[used++] = *p++;
    }
    out[used < size ? used : size - 1] = '\0';
}

bool pp_repeat_said(const pp_error *err, const char *line,
                    const char *name)
{
    char want[MSG_MAX], have[MSG_MAX];
    without_copy(line, name, want, sizeof want);
    for (const char *p = err->msg; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char one[MSG_MAX];
        snprintf(one, sizeof one, "%.*s", (int)n, p);
        without_copy(one, name, have, sizeof have);
        if (strcmp(want, have) == 0)
            return true;
        p += n + (nl != NULL);
    }
    return false;
}
