/* src/config_file.c - reading a config file into sections and entries.
 *
 * inih splits "key = value" lines and strips inline comments; everything
 * else about the file's form is decided here, in the line reader that feeds
 * inih, because the reader sees each whole line and its number: over-long
 * lines, indented lines (which Debian's inih would glue onto the previous
 * value), section headers, stray text. A line the reader rejects reaches
 * inih as an empty line, so inih never reports an error of its own and
 * every problem is reported once, here, as "FILE:LINE: message".
 *
 * This is not where keys get meaning: pp_section_validate() (config_keys.c)
 * checks names and values against the key tables.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "config_file.h"
#include "input_file.h"

static const char *const known_kinds[] = {"model", "layer", "repeat",
                                          "pipeline", "parallel", "train",
                                          "data"};
#define NKINDS (sizeof known_kinds / sizeof known_kinds[0])

typedef struct parse_state {
    pp_config *cfg;
    FILE *file;
    pp_error *err;
    char *buf;          /* getline's buffer */
    size_t cap;
    int line;           /* the line inih is processing */
    size_t errors;
    pp_section *cur;    /* where keys go; NULL before the first header */
    bool drop_keys;     /* keys are dropped silently (bad header, orphans) */
    const char *last_key;  /* the last key stored in cur, for the
                              continuation hint; owned by cur */
    int last_key_line;
    int read_errno;
    bool nomem;
} parse_state;

static void file_error(parse_state *st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void file_error(parse_state *st, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    pp_error_add(st->err, PP_ERR_CONFIG, "%s:%d: %s", st->cfg->path, st->line,
                 msg);
    st->errors++;
}

static bool is_name_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

static bool valid_layer_name(const char *name)
{
    for (const char *p = name; *p; p++)
        if (!is_name_char(*p))
            return false;
    return *name != '\0';
}

static bool valid_key_name(const char *key)
{
    for (const char *p = key; *p; p++)
        if (!(islower((unsigned char)*p) || isdigit((unsigned char)*p) ||
              *p == '_'))
            return false;
    return *key != '\0';
}

static bool kind_takes_name(const char *kind)
{
    return strcmp(kind, "layer") == 0 || strcmp(kind, "repeat") == 0;
}

static bool kind_is_known(const char *kind)
{
    for (size_t i = 0; i < NKINDS; i++)
        if (strcmp(kind, known_kinds[i]) == 0)
            return true;
    return false;
}

static pp_section *find_section(const pp_config *cfg, const char *kind,
                                const char *name)
{
    for (size_t i = 0; i < cfg->nsections; i++) {
        pp_section *s = cfg->sections[i];
        if (strcmp(s->kind, kind) == 0 && strcmp(s->name, name) == 0)
            return s;
    }
    return NULL;
}

void pp_section_free(pp_section *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nentries; i++) {
        free(s->entries[i].key);
        free(s->entries[i].value);
    }
    free(s->entries);
    free(s->kind);
    free(s->name);
    free(s->repeat);
    free(s);
}

pp_section *pp_section_copy(const pp_section *s, const char *name)
{
    pp_section *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->kind = strdup(s->kind);
    c->name = strdup(name);
    c->entries = calloc(s->nentries + 1, sizeof *c->entries);
    c->file = s->file;
    c->line = s->line;
    c->cap = s->nentries + 1;
    if (!c->kind || !c->name || !c->entries) {
        pp_section_free(c);
        return NULL;
    }
    for (size_t i = 0; i < s->nentries; i++) {
        pp_entry *e = &c->entries[i];
        e->key = strdup(s->entries[i].key);
        e->value = strdup(s->entries[i].value);
        e->line = s->entries[i].line;
        c->nentries++;
        if (!e->key || !e->value) {
            pp_section_free(c);
            return NULL;
        }
    }
    return c;
}

/* Appends a new section and makes it the one keys go to. */
static void add_section(parse_state *st, const char *kind, const char *name)
{
    pp_config *cfg = st->cfg;
    pp_section *s = calloc(1, sizeof *s);
    pp_section **grown =
        realloc(cfg->sections, (cfg->nsections + 1) * sizeof *grown);
    if (grown)
        cfg->sections = grown;
    if (s) {
        s->kind = strdup(kind);
        s->name = strdup(name);
    }
    if (!s || !grown || !s->kind || !s->name) {
        pp_section_free(s);
        st->nomem = true;
        st->drop_keys = true;
        return;
    }
    s->file = cfg->path;
    s->line = st->line;
    cfg->sections[cfg->nsections++] = s;
    st->cur = s;
    st->drop_keys = false;
}

/* A "[kind name]" line, with the '[' at text[0]. Whatever is wrong with it,
 * a section is still opened once the brackets can be read, so that its keys
 * are checked among themselves instead of landing in the previous section;
 * when they cannot (no ']', nothing inside), the keys that follow are
 * dropped unreported. */
static void header_line(parse_state *st, const char *text)
{
    st->cur = NULL;
    st->drop_keys = true;
    st->last_key = NULL;

    const char *close = strchr(text, ']');
    if (!close) {
        file_error(st, "section header '%s' has no closing ']'", text);
        return;
    }
    const char *after = close + 1;
    while (isspace((unsigned char)*after))
        after++;
    if (*after && *after != ';')
        file_error(st, "unexpected text after ']': '%s'", after);

    /* Inside the brackets: KIND, then optionally NAME (which we take to be
     * everything after the first blank, so a name with a blank in it is
     * reported as such). */
    char inner[1024];
    snprintf(inner, sizeof inner, "%.*s", (int)(close - text - 1), text + 1);
    char *kind = inner;
    while (isspace((unsigned char)*kind))
        kind++;
    char *end = kind + strlen(kind);
    while (end > kind && isspace((unsigned char)end[-1]))
        *--end = '\0';
    if (!*kind) {
        file_error(st, "empty section header '[]'");
        return;
    }
    char *name = kind;
    while (*name && !isspace((unsigned char)*name))
        name++;
    if (*name) {
        *name++ = '\0';
        while (isspace((unsigned char)*name))
            name++;
    }

    if (!kind_is_known(kind)) {
        const char *hint = pp_did_you_mean(kind, known_kinds, NKINDS);
        if (!hint)
            file_error(st, "unknown section [%s%s%s]; sections are [model], "
                       "[layer NAME], [repeat NAME], [pipeline], [parallel], "
                       "[train] and [data]",
                       kind, *name ? " " : "", name);
        else if (kind_takes_name(hint) && *name)
            file_error(st, "unknown section [%s %s]; did you mean [%s %s]?",
                       kind, name, hint, name);
        else if (kind_takes_name(hint))
            file_error(st, "unknown section [%s]; did you mean [%s NAME]?",
                       kind, hint);
        else
            file_error(st, "unknown section [%s%s%s]; did you mean [%s]?",
                       kind, *name ? " " : "", name, hint);
        add_section(st, kind, name);
        return;
    }

    if (!kind_takes_name(kind)) {
        if (*name)
            file_error(st, "section [%s] takes no name, got '%s'", kind, name);
        const pp_section *first = find_section(st->cfg, kind, "");
        if (first)
            file_error(st, "duplicate section [%s] (first at line %d)", kind,
                       first->line);
        add_section(st, kind, "");
        return;
    }

    if (!*name) {
        file_error(st, "section [%s] needs a name, as in [%s %s]", kind,
                   kind, strcmp(kind, "layer") == 0 ? "fc1" : "h");
    } else if (!valid_layer_name(name)) {
        file_error(st, "invalid %s name '%s': use letters, digits, '_', '.' "
                   "and '-'", kind, name);
    } else {
        const pp_section *first = find_section(st->cfg, kind, name);
        if (first)
            file_error(st, "duplicate section [%s %s] (first at line %d)",
                       kind, name, first->line);
    }
    add_section(st, kind, name);
}

/* Where inih would split "key = value": the first '=' or ':' that comes
 * before an inline comment (a ';' after a blank), as inih's
 * find_chars_or_comment() does. NULL when there is none. */
static const char *find_separator(const char *text)
{
    bool after_blank = false;
    for (const char *p = text; *p; p++) {
        if (*p == '=' || *p == ':')
            return p;
        if (*p == ';' && after_blank)
            return NULL;
        after_blank = isspace((unsigned char)*p);
    }
    return NULL;
}

/* Decides about one line (without its line ending). Returns false when the
 * line must not reach inih; otherwise text points at it without its
 * indentation. The caller also withholds a line that drew an error. */
static bool check_line(parse_state *st, char *raw, size_t len, int num,
                       const char **text)
{
    if (strlen(raw) != len) {
        file_error(st, "line contains a NUL byte");
        return false;
    }
    /* The line, its '\n' and the terminating '\0' must fit inih's buffer, or
     * inih would cut the line and read the rest as a line of its own. */
    char *start = raw;
    while (isspace((unsigned char)*start))
        start++;
    if (len + 2 > (size_t)num) {
        file_error(st, "line is %zu characters long; the longest allowed "
                   "is %d", len, num - 2);
        /* An unread header: its keys must not land in the previous
         * section. */
        if (*start == '[') {
            st->cur = NULL;
            st->drop_keys = true;
        }
        return false;
    }
    bool indented = start > raw;
    *text = start;

    if (*start == '\0' || *start == ';' || *start == '#')
        return true;
    if (*start == '[') {
        header_line(st, start);
        return true;
    }
    const char *sep = find_separator(start);
    if (sep == start) {
        file_error(st, "missing key name before '%c'", *sep);
        return false;
    }
    if (sep)
        return true;

    char shown[1024];
    snprintf(shown, sizeof shown, "%s", start);
    char *end = shown + strlen(shown);
    while (end > shown && isspace((unsigned char)end[-1]))
        *--end = '\0';
    if (indented && st->last_key)
        file_error(st, "this indented line looks like a continuation of "
                   "'%s' (line %d); multi-line values are not supported",
                   st->last_key, st->last_key_line);
    else
        file_error(st, "expected 'key = value', a [section] header or a "
                   "comment, got '%s'", shown);
    return false;
}

/* inih's fgets-style reader: one whole line per call, vetted first. */
static char *read_line(char *str, int num, void *stream)
{
    parse_state *st = stream;
    errno = 0;
    ssize_t n = getline(&st->buf, &st->cap, st->file);
    if (n < 0) {
        if (ferror(st->file))
            st->read_errno = errno ? errno : EIO;
        return NULL;
    }
    st->line++;
    size_t len = (size_t)n;
    if (len && st->buf[len - 1] == '\n')
        st->buf[--len] = '\0';
    if (len && st->buf[len - 1] == '\r')
        st->buf[--len] = '\0';
    char *raw = st->buf;
    /* A UTF-8 byte order mark is not part of the first line's text. */
    if (st->line == 1 && strncmp(raw, "\xEF\xBB\xBF", 3) == 0) {
        raw += 3;
        len -= 3;
    }

    const char *text = "";
    size_t before = st->errors;
    if (!check_line(st, raw, len, num, &text) || st->errors != before)
        text = "";
    snprintf(str, (size_t)num, "%s\n", text);
    return str;
}

/* Called by inih, synchronously, for the key line the reader just gave it:
 * st->line is that line's number. */
static int on_key(void *user, const char *section, const char *key,
                  const char *value)
{
    (void)section; /* ours is st->cur: inih truncates long section names */
    parse_state *st = user;
    if (st->drop_keys || st->nomem)
        return 1;
    pp_section *s = st->cur;
    if (!s) {
        file_error(st, "key '%s' comes before any [section] header", key);
        st->drop_keys = true;
        return 1;
    }
    const char *sp = *s->name ? " " : "";
    if (!valid_key_name(key)) {
        file_error(st, "[%s%s%s] %s: invalid key name; keys are lower-case "
                   "letters, digits and '_'", s->kind, sp, s->name, key);
        return 1;
    }
    if (!*value) {
        file_error(st, "[%s%s%s] %s: expected a value", s->kind, sp, s->name,
                   key);
        return 1;
    }
    const pp_entry *first = pp_section_entry(s, key);
    if (first) {
        file_error(st, "[%s%s%s] %s: duplicate key (first at line %d)",
                   s->kind, sp, s->name, key, first->line);
        /* An indented line after this one would be glued to it. */
        st->last_key = first->key;
        st->last_key_line = st->line;
        return 1;
    }

    if (s->nentries == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 8;
        pp_entry *grown = realloc(s->entries, cap * sizeof *grown);
        if (!grown) {
            st->nomem = true;
            return 1;
        }
        s->entries = grown;
        s->cap = cap;
    }
    pp_entry *e = &s->entries[s->nentries];
    e->key = strdup(key);
    e->value = strdup(value);
    e->line = st->line;
    if (!e->key || !e->value) {
        free(e->key);
        free(e->value);
        st->nomem = true;
        return 1;
    }
    s->nentries++;
    st->last_key = e->key;
    st->last_key_line = e->line;
    return 1;
}

/* Parses f, named path in messages, and closes it. */
static pp_status parse(const char *path, FILE *f, pp_config **out,
                       pp_error *err)
{
    pp_config *cfg = calloc(1, sizeof *cfg);
    if (cfg)
        cfg->path = strdup(path);
    if (!cfg || !cfg->path) {
        fclose(f);
        pp_config_free(cfg);
        return pp_error_add(err, PP_ERR_NOMEM, "%s: out of memory", path);
    }

    parse_state st = {.cfg = cfg, .file = f, .err = err};
    int bad_line = ini_parse_stream(read_line, &st, on_key, &st);
    free(st.buf);
    fclose(f);

    pp_status status = PP_OK;
    if (st.read_errno) {
        status = pp_error_add(err, PP_ERR_IO, "%s: cannot read: %s", path,
                              strerror(st.read_errno));
    } else if (st.nomem || bad_line == -2) {
        status = pp_error_add(err, PP_ERR_NOMEM, "%s: out of memory", path);
    } else if (st.errors) {
        status = PP_ERR_CONFIG;
    } else if (bad_line > 0) {
        /* The reader lets through only lines inih accepts; should a
         * different inih disagree, say so rather than lose the line. */
        status = pp_error_add(err, PP_ERR_CONFIG,
                              "%s:%d: the INI parser rejected this line",
                              path, bad_line);
    }
    if (status != PP_OK) {
        pp_config_free(cfg);
        return status;
    }
    *out = cfg;
    return PP_OK;
}

pp_status pp_config_load(const char *path, pp_config **out, pp_error *err)
{
    *out = NULL;
    char *text;
    size_t len;
    pp_status st = pp_input_read(path, "model file", PP_MODEL_FILE_MAX,
                                 "a [repeat] group writes out copies of "
                                 "layers: a file needs no more", &text, &len,
                                 err);
    if (st)
        return st;
    FILE *f = fmemopen(text, len, "r");
    st = f ? parse(path, f, out, err)
           : pp_error_add(err, PP_ERR_NOMEM, "%s: out of memory", path);
    free(text);
    return st;
}

pp_status pp_config_parse(const char *name, const char *text,
                          pp_config **out, pp_error *err)
{
    *out = NULL;
    FILE *f = fmemopen((void *)text, strlen(text), "r");
    if (!f)
        return pp_error_add(err, PP_ERR_NOMEM, "%s: out of memory", name);
    return parse(name, f, out, err);
}

void pp_config_free(pp_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < cfg->nsections; i++)
        pp_section_free(cfg->sections[i]);
    free(cfg->sections);
    free(cfg->path);
    free(cfg);
}

pp_section *pp_config_section(const pp_config *cfg, const char *kind)
{
    for (size_t i = 0; i < cfg->nsections; i++)
        if (strcmp(cfg->sections[i]->kind, kind) == 0)
            return cfg->sections[i];
    return NULL;
}

const pp_entry *pp_section_entry(const pp_section *s, const char *key)
{
    for (size_t i = 0; i < s->nentries; i++)
        if (strcmp(s->entries[i].key, key) == 0)
            return &s->entries[i];
    return NULL;
}

char *pp_list_next(char **p)
{
    if (!*p)
        return NULL;
    char *item = *p, *comma = strchr(item, ',');
    *p = comma ? comma + 1 : NULL;
    if (comma)
        *comma = '\0';
    while (*item == ' ' || *item == '\t')
        item++;
    char *end = item + strlen(item);
    while (end > item && (end[-1] == ' ' || end[-1] == '\t'))
        *--end = '\0';
    return item;
}
