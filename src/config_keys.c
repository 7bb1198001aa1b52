/* src/config_keys.c - what a section's keys mean: checking them against
 * key tables, and reading them as typed values.
 *
 * The validator reports every problem in a section at once, each as
 * "FILE:LINE: [kind name] key: expected ..., got '...'"; the getters then
 * trust the values but still refuse, as a plugin bug, a key the tables do
 * not declare or a default that does not parse. This file does not know
 * which keys any section has: the tables come from model.c and plugins.
 *
 * Values are decimal: integers are [+-]digits (leading zeros allowed, no
 * blanks, no 0x); floats are decimal or exponent notation, finite, no hex,
 * no nan/inf; booleans and enum choices are case-sensitive.
 */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config_file.h"

/* "[train]" or "[layer fc1]" */
#define TAG "[%s%s%s]"
#define TAG_ARGS(s) (s)->kind, *(s)->name ? " " : "", (s)->name

/* Room for one message line; pp_error_add() cuts at the same length. */
#define MSG_MAX 1024

/* Candidates considered for a "did you mean"; more keys than this in one
 * section would only shorten the list of suggestions. */
#define MAX_CANDIDATES 256

/* Every message about a section goes through here, so that a copy of a
 * [repeat] group's layer does not say again what an earlier copy said
 * (pp_repeat_said, repeat.c). */
static pp_status section_add(const pp_section *s, pp_error *err,
                             pp_status code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static pp_status section_add(const pp_section *s, pp_error *err,
                             pp_status code, const char *fmt, ...)
{
    char line[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (err && s->repeat && s->copy > 0 && err->code != PP_OK &&
        pp_repeat_said(err, line, s->repeat))
        return code;
    return pp_error_add(err, code, "%s", line);
}

int pp_parse_int(const char *text, int64_t *out)
{
    const char *digits = text + (*text == '+' || *text == '-');
    if (!*digits)
        return -1;
    for (const char *p = digits; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    errno = 0;
    long long v = strtoll(text, NULL, 10);
    if (errno == ERANGE)
        return -1;
    *out = v;
    return 0;
}

int pp_parse_float(const char *text, double *out)
{
    /* Only decimal notation: strtod alone would also take blanks, hex,
     * "nan" and "inf". */
    if (!*text || text[strspn(text, "0123456789+-.eE")] != '\0')
        return -1;
    char *end;
    double v = strtod(text, &end);
    if (end == text || *end || !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int pp_parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (strcmp(text, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcmp(text, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

int pp_parse_shape(const char *text, pp_shape *out)
{
    pp_shape shape = {0};
    int64_t elements = 1;
    int overflow = 0;
    for (const char *p = text;;) {
        if (shape.ndim == PP_MAX_DIMS || !isdigit((unsigned char)*p))
            return -1;
        char *end;
        errno = 0;
        long long d = strtoll(p, &end, 10);
        if (errno == ERANGE || d < 1)
            return -1;
        /* The element count must fit too, or sizes computed later wrap:
         * -2 says it is a shape, only too large. */
        overflow |= __builtin_mul_overflow(elements, d, &elements);
        shape.dim[shape.ndim++] = d;
        if (*end == '\0')
            break;
        if (*end != 'x')
            return -1;
        p = end + 1;
    }
    if (overflow)
        return -2;
    *out = shape;
    return 0;
}

/* The declaration of key: the core's table first, so a plugin cannot
 * redefine a core key. */
static const pp_key *find_decl(const pp_section *s, const char *key)
{
    for (int t = 0; t < 2; t++)
        for (const pp_key *k = s->tables[t]; k && k->name; k++)
            if (strcmp(k->name, key) == 0)
                return k;
    return NULL;
}

static bool in_range(const pp_key *k, double v)
{
    if (k->min > k->max)
        return true;
    bool above_min = (k->flags & PP_KEY_MIN_OPEN) ? v > k->min : v >= k->min;
    return above_min && v <= k->max;
}

/* "an integer from 1 to 1048576", "a number greater than 0", ... A bound
 * at the end of the type's range is no bound worth stating. */
static void describe_range(const pp_key *k, char *buf, size_t size)
{
    bool integer = k->type == PP_KEY_INT;
    const char *noun = integer ? "an integer" : "a number";
    double limit = integer ? 0x1p63 : DBL_MAX;
    bool ranged = k->min <= k->max;
    bool lo = ranged && k->min > -limit, hi = ranged && k->max < limit;
    bool open = k->flags & PP_KEY_MIN_OPEN;
    const char *fmt = integer ? "%.0f" : "%g";
    char min[64], max[64];
    snprintf(min, sizeof min, fmt, k->min);
    snprintf(max, sizeof max, fmt, k->max);
    if (lo && hi)
        snprintf(buf, size, open ? "%s greater than %s and at most %s"
                                 : "%s from %s to %s", noun, min, max);
    else if (lo)
        snprintf(buf, size, open ? "%s greater than %s" : "%s of at least %s",
                 noun, min);
    else if (hi)
        snprintf(buf, size, "%s of at most %s", noun, max);
    else
        snprintf(buf, size, "%s", noun);
}

static bool is_choice(const char *choices, const char *text)
{
    size_t len = strlen(text);
    for (const char *p = choices;;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && strncmp(p, text, n) == 0)
            return true;
        if (!bar)
            return false;
        p = bar + 1;
    }
}

/* Checks one value against its declaration. On failure writes
 * "expected ..., got 'text'" (plus a hint) into why. */
static bool check_value(const pp_key *k, const char *text, char *why,
                        size_t size)
{
    char expected[MSG_MAX / 2];
    /* For ENUM: choices "a|b|c" split in place, shown as "a, b, c" and
     * offered as the hint's candidates; hint points into list. */
    char list[MSG_MAX / 2];
    const char *hint = NULL;
    bool ok;
    int64_t i;
    double f;
    bool b;
    pp_shape shape;
    switch (k->type) {
    case PP_KEY_INT:
        ok = pp_parse_int(text, &i) == 0 && in_range(k, (double)i);
        describe_range(k, expected, sizeof expected);
        break;
    case PP_KEY_FLOAT:
        ok = pp_parse_float(text, &f) == 0 && in_range(k, f);
        describe_range(k, expected, sizeof expected);
        break;
    case PP_KEY_BOOL:
        ok = pp_parse_bool(text, &b) == 0;
        snprintf(expected, sizeof expected,
                 "true or false (or yes/no, on/off, 1/0)");
        break;
    case PP_KEY_ENUM: {
        const char *choices = k->choices ? k->choices : "";
        ok = is_choice(choices, text);
        const char *cand[MAX_CANDIDATES];
        size_t n = 0;
        snprintf(list, sizeof list, "%s", choices);
        for (char *p = list; n < MAX_CANDIDATES;) {
            cand[n++] = p;
            char *bar = strchr(p, '|');
            if (!bar)
                break;
            *bar = '\0';
            p = bar + 1;
        }
        int used = snprintf(expected, sizeof expected, "one of");
        for (size_t c = 0; c < n && used < (int)sizeof expected; c++)
            used += snprintf(expected + used, sizeof expected - (size_t)used,
                             "%s %s", c ? "," : "", cand[c]);
        if (!ok)
            hint = pp_did_you_mean(text, cand, n);
        break;
    }
    case PP_KEY_SHAPE: {
        int rc = pp_parse_shape(text, &shape);
        ok = rc == 0;
        snprintf(expected, sizeof expected,
                 "a shape such as 784 or 3x32x32 (at most %d dimensions, "
                 "each at least 1%s)", PP_MAX_DIMS,
                 rc == -2 ? ", their product within 64 bits" : "");
        break;
    }
    case PP_KEY_STRING:
    default:
        ok = *text != '\0';
        snprintf(expected, sizeof expected, "a non-empty string");
        break;
    }
    if (!ok) {
        int used = snprintf(why, size, "expected %s, got '%s'", expected, text);
        if (hint && used < (int)size)
            snprintf(why + used, size - (size_t)used, "; did you mean '%s'?",
                     hint);
    }
    return ok;
}

/* "unknown key; did you mean 'units'?" or the list of keys it could be. */
static void unknown_key(const pp_section *s, const char *key, char *why,
                        size_t size)
{
    const char *cand[MAX_CANDIDATES];
    size_t n = 0;
    for (int t = 0; t < 2; t++)
        for (const pp_key *k = s->tables[t]; k && k->name; k++)
            if (n < MAX_CANDIDATES && find_decl(s, k->name) == k)
                cand[n++] = k->name;
    const char *hint = pp_did_you_mean(key, cand, n);
    if (hint) {
        snprintf(why, size, "unknown key; did you mean '%s'?", hint);
        return;
    }
    if (n == 0) {
        snprintf(why, size, "unknown key; this section takes no keys");
        return;
    }
    int used = snprintf(why, size, "unknown key; known keys are");
    for (size_t c = 0; c < n && used < (int)size; c++)
        used += snprintf(why + used, size - (size_t)used, "%s %s",
                         c ? "," : "", cand[c]);
}

pp_status pp_section_validate(pp_section *s, const pp_key *core_keys,
                              const pp_key *plugin_keys, pp_error *err)
{
    s->tables[0] = core_keys;
    s->tables[1] = plugin_keys;
    size_t errors = 0;
    char why[MSG_MAX];

    /* Missing keys first: they are reported at the header, which comes
     * before the section's own lines. */
    for (int t = 0; t < 2; t++) {
        for (const pp_key *k = s->tables[t]; k && k->name; k++) {
            if (!(k->flags & PP_KEY_REQUIRED) || find_decl(s, k->name) != k ||
                pp_section_entry(s, k->name))
                continue;
            section_add(s, err, PP_ERR_CONFIG,
                         "%s:%d: " TAG " missing required key '%s'%s%s%s",
                         s->file, s->line, TAG_ARGS(s), k->name,
                         k->help ? " (" : "", k->help ? k->help : "",
                         k->help ? ")" : "");
            errors++;
        }
    }
    for (size_t i = 0; i < s->nentries; i++) {
        const pp_entry *e = &s->entries[i];
        const pp_key *k = find_decl(s, e->key);
        if (k && check_value(k, e->value, why, sizeof why))
            continue;
        if (!k)
            unknown_key(s, e->key, why, sizeof why);
        section_add(s, err, PP_ERR_CONFIG, "%s:%d: " TAG " %s: %s", s->file,
                     e->line, TAG_ARGS(s), e->key, why);
        errors++;
    }
    return errors ? PP_ERR_CONFIG : PP_OK;
}

static const char *type_name(pp_key_type type)
{
    switch (type) {
    case PP_KEY_INT: return "an integer";
    case PP_KEY_FLOAT: return "a number";
    case PP_KEY_BOOL: return "a boolean";
    case PP_KEY_STRING: return "a string";
    case PP_KEY_ENUM: return "a choice";
    case PP_KEY_SHAPE: return "a shape";
    }
    return "an unknown type";
}

void pp_key_describe(const pp_key *k, char *buf, size_t size)
{
    char what[160];
    if (k->type == PP_KEY_INT || k->type == PP_KEY_FLOAT)
        describe_range(k, what, sizeof what);
    else if (k->type == PP_KEY_ENUM)
        snprintf(what, sizeof what, "one of %s", k->choices);
    else
        snprintf(what, sizeof what, "%s", type_name(k->type));
    if (k->flags & PP_KEY_REQUIRED)
        snprintf(buf, size, "%s, required", what);
    else if (k->def)
        snprintf(buf, size, "%s, default %s", what, k->def);
    else
        snprintf(buf, size, "%s", what);
}

/* The text a getter parses: the value written, else the table's default.
 * Everything that can go wrong here, but a bad value written, is the
 * plugin's bug (asking for what it did not declare, or declaring a default
 * that does not parse). A string getter may read an enum. */
static pp_status lookup(const pp_section *s, const char *key, pp_key_type type,
                        const char **text, pp_error *err)
{
    const pp_key *k = find_decl(s, key);
    if (!k)
        return section_add(s, err, PP_ERR_PLUGIN,
                            "plugin asked for key '%s' which " TAG
                            " does not declare", key, TAG_ARGS(s));
    if (k->type != type && !(type == PP_KEY_STRING && k->type == PP_KEY_ENUM))
        return section_add(s, err, PP_ERR_PLUGIN,
                            "plugin asked for key '%s' of " TAG " as %s, but "
                            "it is declared as %s", key, TAG_ARGS(s),
                            type_name(type), type_name(k->type));
    char why[MSG_MAX];
    const pp_entry *e = pp_section_entry(s, key);
    if (e) {
        if (!check_value(k, e->value, why, sizeof why))
            return section_add(s, err, PP_ERR_CONFIG, "%s:%d: " TAG " %s: %s",
                                s->file, e->line, TAG_ARGS(s), key, why);
        *text = e->value;
        return PP_OK;
    }
    if (!k->def)
        return section_add(s, err, PP_ERR_PLUGIN,
                            "plugin asked for key '%s' of " TAG ", which has "
                            "no value and no default", key, TAG_ARGS(s));
    if (!check_value(k, k->def, why, sizeof why))
        return section_add(s, err, PP_ERR_PLUGIN,
                            "plugin's default for key '%s' of " TAG
                            " is invalid: %s", key, TAG_ARGS(s), why);
    *text = k->def;
    return PP_OK;
}

/* The parses below cannot fail: lookup() has checked the text. */

pp_status pp_section_int(const pp_section *s, const char *key, int64_t *out,
                         pp_error *err)
{
    const char *text;
    pp_status st = lookup(s, key, PP_KEY_INT, &text, err);
    if (st == PP_OK)
        pp_parse_int(text, out);
    return st;
}

pp_status pp_section_float(const pp_section *s, const char *key, double *out,
                           pp_error *err)
{
    const char *text;
    pp_status st = lookup(s, key, PP_KEY_FLOAT, &text, err);
    if (st == PP_OK)
        pp_parse_float(text, out);
    return st;
}

pp_status pp_section_bool(const pp_section *s, const char *key, bool *out,
                          pp_error *err)
{
    const char *text;
    pp_status st = lookup(s, key, PP_KEY_BOOL, &text, err);
    if (st == PP_OK)
        pp_parse_bool(text, out);
    return st;
}

pp_status pp_section_string(const pp_section *s, const char *key,
                            const char **out, pp_error *err)
{
    return lookup(s, key, PP_KEY_STRING, out, err);
}

pp_status pp_section_shape(const pp_section *s, const char *key,
                           pp_shape *out, pp_error *err)
{
    const char *text;
    pp_status st = lookup(s, key, PP_KEY_SHAPE, &text, err);
    if (st == PP_OK)
        pp_parse_shape(text, out);
    return st;
}

bool pp_section_has(const pp_section *s, const char *key)
{
    return pp_section_entry(s, key) != NULL;
}

const char *pp_section_kind(const pp_section *s)
{
    return s->kind;
}

const char *pp_section_name(const pp_section *s)
{
    return s->name;
}

pp_status pp_section_error(const pp_section *s, const char *key,
                           pp_error *err, const char *fmt, ...)
{
    char msg[MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    const pp_entry *e = key ? pp_section_entry(s, key) : NULL;
    int line = e ? e->line : s->line;
    if (key)
        section_add(s, err, PP_ERR_CONFIG, "%s:%d: " TAG " %s: %s", s->file,
                     line, TAG_ARGS(s), key, msg);
    else
        section_add(s, err, PP_ERR_CONFIG, "%s:%d: " TAG " %s", s->file, line,
                     TAG_ARGS(s), msg);
    return PP_ERR_CONFIG;
}

const char *pp_section_file(const pp_section *s)
{
    return s->file;
}

const char *pp_section_resolve(const pp_section *s, const char *path,
                               char *buf, size_t size)
{
    const char *slash = strrchr(s->file, '/');
    if (path[0] == '/' || !slash)
        snprintf(buf, size, "%s", path);
    else
        snprintf(buf, size, "%.*s/%s", (int)(slash - s->file), s->file,
                 path);
    return buf;
}
