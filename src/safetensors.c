/* src/safetensors.c - safetensors headers: the writer, and a strict reader
 * (see safetensors.h). The reader's JSON parser is its own and knows only
 * this document's shape: it skips nothing, has no recursion, and reads no
 * byte past the header's end. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

#define MAX_HEADER 100000000u /* bytes of JSON, as the reference reader */

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
    {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
    {"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8},     {"F64", 8},
};

size_t pp_st_dtype_size(const char *dtype)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof dtypes[0]; i++)
        if (!strcmp(dtype, dtypes[i].name))
            return dtypes[i].size;
    return 0;
}

/* "PATH: tensor 'NAME': WHAT", or with no name "PATH: not a safetensors
 * file: WHAT at byte AT" (AT < 0: none). */
static pp_status fail(pp_error *err, pp_status code, const char *path,
                      const char *name, long at, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
static pp_status fail(pp_error *err, pp_status code, const char *path,
                      const char *name, long at, const char *fmt, ...)
{
    char what[1024], where[32] = "";
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (at >= 0)
        snprintf(where, sizeof where, " at byte %ld", at);
    return name ? pp_error_set(err, code, "%s: tensor '%s': %s", path, name,
                               what)
                : pp_error_set(err, code, "%s: not a safetensors file: %s%s",
                               path, what, where);
}

/* Bytes of the valid UTF-8 sequence at s (before end), or 0. */
static int utf8_len(const unsigned char *s, const unsigned char *end)
{
    unsigned c = s[0];
    int n = c < 0x80 ? 1 : c < 0xc2 ? 0 : c < 0xe0 ? 2 : c < 0xf0 ? 3
          : c < 0xf5 ? 4 : 0;
    if (!n || end - s < n)
        return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0) ||
        (c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
        return 0; /* overlong, a surrogate, or past U+10FFFF */
    return n;
}

/* Checks t's dtype and shape against its byte range. */
static pp_status check_tensor(const pp_st_tensor *t, const char *path,
                              pp_status code, pp_error *err)
{
    size_t esize = memchr(t->dtype, 0, sizeof t->dtype)
                       ? pp_st_dtype_size(t->dtype) : 0;
    uint64_t need = esize;
    if (!esize)
        return fail(err, code, path, t->name, -1, "unknown dtype '%.8s'",
                    t->dtype);
    if (t->ndim < 0 || t->ndim > PP_ST_MAX_DIMS)
        return fail(err, code, path, t->name, -1, "%d dimensions (at most %d)",
                    t->ndim, PP_ST_MAX_DIMS);
    for (int d = 0; d < t->ndim; d++) {
        uint64_t dim = (uint64_t)t->shape[d];
        if (t->shape[d] < 0 || (dim && need > UINT64_MAX / dim))
            return fail(err, code, path, t->name, -1, "dimension %" PRId64
                        " is negative or too large", t->shape[d]);
        need *= dim;
    }
    if (t->end < t->begin || t->end - t->begin != need)
        return fail(err, code, path, t->name, -1, "data_offsets [%" PRIu64
                    ", %" PRIu64 "] do not hold the %" PRIu64 " bytes of its "
                    "shape and dtype", t->begin, t->end, need);
    return PP_OK;
}

/* Writes s as a JSON string; 0 if it is not valid UTF-8. */
static int put_string(FILE *f, const char *s)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
    fputc('"', f);
    for (int n; p < end; p += n) {
        if (!(n = utf8_len(p, end)))
            return 0;
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fwrite(p, 1, (size_t)n, f);
    }
    fputc('"', f);
    return 1;
}

pp_status pp_st_header_text(const pp_st_tensor *t, int n,
                            const pp_st_meta *meta, int nmeta, char **text,
                            size_t *len, pp_error *err)
{
    const char *path = "safetensors header";
    char *buf = NULL;
    size_t size = 0;
    pp_status st = PP_OK;
    uint64_t pos = 0;
    FILE *f = open_memstream(&buf, &size);
    *text = NULL;
    *len = 0;
    if (!f)
        return pp_error_set(err, PP_ERR_NOMEM, "%s: out of memory", path);
    fwrite("\0\0\0\0\0\0\0\0{", 1, 9, f);
    fputs(nmeta ? "\"__metadata__\":{" : "", f);
    for (int i = 0; i < nmeta && !st; i++) {
        fputs(i ? "," : "", f);
        int ok = put_string(f, meta[i].key);
        fputc(':', f);
        if (!ok || !put_string(f, meta[i].value))
            st = pp_error_set(err, PP_ERR_RUNTIME, "%s: metadata '%s': not "
                              "valid UTF-8", path, meta[i].key);
    }
    fputs(nmeta ? "}" : "", f);
    for (int i = 0; i < n && !st; pos = t[i++].end) {
        fputs(i || nmeta ? "," : "", f);
        if (check_tensor(&t[i], path, PP_ERR_RUNTIME, err))
            st = err->code;
        else if (t[i].begin != pos)
            st = fail(err, PP_ERR_RUNTIME, path, t[i].name, -1, "begins at %"
                      PRIu64 ", not at %" PRIu64 " where the one before it "
                      "ends", t[i].begin, pos);
        else if (!strcmp(t[i].name, "__metadata__") ||
                 !put_string(f, t[i].name))
            st = fail(err, PP_ERR_RUNTIME, path, t[i].name, -1, "the name is "
                      "reserved or not valid UTF-8");
        if (st)
            break;
        fprintf(f, ":{\"dtype\":\"%s\",\"shape\":[", t[i].dtype);
        for (int d = 0; d < t[i].ndim; d++)
            fprintf(f, "%s%" PRId64, d ? "," : "", t[i].shape[d]);
        fprintf(f, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}",
                t[i].begin, t[i].end);
    }
    fputc('}', f);
    for (long k = ftell(f); k > 0 && k % 8; k++)
        fputc(' ', f); /* so the data starts at a multiple of 8 */
    int failed = ferror(f);
    if ((fclose(f) || failed) && !st)
        st = pp_error_set(err, PP_ERR_NOMEM, "%s: out of memory", path);
    if (!st && size - 8 > MAX_HEADER)
        st = pp_error_set(err, PP_ERR_RUNTIME, "%s: %zu bytes, over the "
                          "limit of %u", path, size - 8, MAX_HEADER);
    if (st) {
        free(buf);
        return st;
    }
    for (int i = 0; i < 8; i++)
        buf[i] = (char)((uint64_t)(size - 8) >> 8 * i);
    *text = buf;
    *len = size;
    return PP_OK;
}

/* The reader: a cursor over the header's JSON, which starts at byte 8. */
typedef struct json {
    const unsigned char *start, *p, *end;
    const char *path;
    pp_error *err;
    int seen;       /* the keys of the tensor being read, as bits */
    int meta_seen;
} json;

/* An error at the cursor, or about tensor name: at the header's end, that
 * the JSON is cut short. */
#define bad(j, name, ...)                                                   \
    ((j)->p >= (j)->end                                                     \
         ? fail((j)->err, PP_ERR_IO, (j)->path, NULL, -1, "the header's "   \
                "JSON ends inside its object")                              \
         : fail((j)->err, PP_ERR_IO, (j)->path, name,                       \
                (long)((j)->p - (j)->start) + 8, __VA_ARGS__))

static pp_status nomem(pp_error *err, const char *path)
{
    return pp_error_set(err, PP_ERR_NOMEM, "%s: out of memory reading the "
                        "header", path);
}

/* The next byte after white space, or -1 at the end. */
static int peek(json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' ||
                             *j->p == '\n' || *j->p == '\r'))
        j->p++;
    return j->p < j->end ? *j->p : -1;
}

static int eat(json *j, int c)
{
    if (peek(j) != c)
        return 0;
    j->p++;
    return 1;
}

/* arr, with room for element n (of size bytes), or NULL: the room
 * doubles when n is a power of two. */
static void *grow(void *arr, int n, size_t size)
{
    return n & (n - 1) ? arr : realloc(arr, (n ? 2 * (size_t)n : 1) * size);
}

static int hex4(const unsigned char *p, const unsigned char *end,
                unsigned *out)
{
    if (end - p < 4)
        return 0;
    *out = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f'
              ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return 0;
        *out = *out << 4 | (unsigned)d;
    }
    return 1;
}

/* Decodes the escape at p (before q) to UTF-8 at *o; returns its length,
 * or 0 for a bad one. */
static int unescape(const unsigned char *p, const unsigned char *q, char **o)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    static const unsigned char lead[] = {0, 0, 0xc0, 0xe0, 0xf0};
    const char *e = p[1] ? strchr(from, p[1]) : NULL;
    unsigned c, lo;
    int n = 6;
    if (e) {
        *(*o)++ = to[e - from];
        return 2;
    }
    if (p[1] != 'u' || !hex4(p + 2, q, &c) || (c >= 0xdc00 && c < 0xe000))
        return 0;
    if (c >= 0xd800 && c < 0xdc00) { /* a low surrogate must follow */
        if (q - p < 12 || p[6] != '\\' || p[7] != 'u' ||
            !hex4(p + 8, q, &lo) || lo < 0xdc00 || lo >= 0xe000)
            return 0;
        c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
        n = 12;
    }
    if (!c)
        return 0; /* a NUL would cut the C string short */
    int len = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    for (int i = len - 1; i > 0; i--, c >>= 6)
        (*o)[i] = (char)(0x80 | (c & 0x3f));
    (*o)[0] = (char)(lead[len] | c);
    *o += len;
    return n;
}

/* The JSON string next, escapes decoded, into *out (malloc'd; NULL after
 * an error). */
static pp_status string(json *j, char **out)
{
    *out = NULL;
    if (!eat(j, '"'))
        return bad(j, NULL, "expected a string");
    const unsigned char *q = j->p;
    while (q < j->end && *q != '"')
        q += *q == '\\' && j->end - q > 1 ? 2 : 1;
    if (q >= j->end) {
        j->p = j->end;
        return bad(j, NULL, "a string without its end");
    }
    char *s = malloc((size_t)(q - j->p) + 1), *o = s;
    if (!s)
        return nomem(j->err, j->path);
    while (j->p < q) {
        int c = *j->p;
        int n = c < 0x20 ? 0 : c == '\\' ? unescape(j->p, q, &o)
                                         : utf8_len(j->p, q);
        if (!n) {
            free(s);
            return bad(j, NULL, "%s in a string", c < 0x20 ? "a control "
                       "character" : c == '\\' ? "a bad escape"
                                               : "invalid UTF-8");
        }
        if (c != '\\')
            o = (char *)memcpy(o, j->p, (size_t)n) + n;
        j->p += n;
    }
    *o = '\0';
    j->p = q + 1;
    *out = s;
    return PP_OK;
}

/* A non-negative JSON integer no larger than max, in the value of field. */
static pp_status integer(json *j, uint64_t max, uint64_t *out,
                         const char *name, const char *field)
{
    int c = peek(j), over = 0;
    const unsigned char *p = j->p;
    if (c == '-')
        return bad(j, name, "%s: a negative number", field);
    if (c < '0' || c > '9')
        return bad(j, NULL, "expected a number");
    for (*out = 0; p < j->end && *p >= '0' && *p <= '9'; p++) {
        unsigned d = *p - '0';
        if (*out > (max - d) / 10)
            over = 1;
        else
            *out = *out * 10 + d;
    }
    if (c == '0' && p - j->p > 1)
        return bad(j, NULL, "a number with a leading zero");
    if (p < j->end && (*p == '.' || *p == 'e' || *p == 'E'))
        return bad(j, name, "%s: not an integer", field);
    if (over)
        return bad(j, name, "%s: a number over %" PRIu64, field, max);
    j->p = p;
    return PP_OK;
}

static const char *const tensor_keys[] = {"dtype", "shape", "data_offsets"};
typedef pp_status member_fn(json *j, char *key, void *ctx);

/* The object next: each member's key (malloc'd, handed over) goes to
 * member(), which reads its value. */
static pp_status object(json *j, const char *name, const char *not_object,
                        member_fn *member, void *ctx)
{
    char *key;
    if (!eat(j, '{'))
        return bad(j, name, "%s", not_object);
    if (eat(j, '}'))
        return PP_OK;
    do {
        if (string(j, &key))
            return j->err->code;
        if (!eat(j, ':')) {
            free(key);
            return bad(j, NULL, "expected ':'");
        }
        if (member(j, key, ctx))
            return j->err->code;
    } while (eat(j, ','));
    return eat(j, '}') ? PP_OK : bad(j, NULL, "expected ',' or '}'");
}

/* One of a tensor's dtype, shape and data_offsets. */
static pp_status tensor_member(json *j, char *key, void *ctx)
{
    pp_st_tensor *t = ctx;
    int k = 0;
    uint64_t v;
    char *s;
    while (k < 3 && strcmp(key, tensor_keys[k]))
        k++;
    if (k == 3 || j->seen >> k & 1) {
        bad(j, t->name, k == 3 ? "unknown key '%s' (a tensor has dtype, "
            "shape and data_offsets)" : "%s given twice", key);
        free(key);
        return PP_ERR_IO;
    }
    free(key);
    j->seen |= 1 << k;
    if (k == 0) {
        if (string(j, &s))
            return j->err->code;
        pp_status st = strlen(s) >= sizeof t->dtype || !pp_st_dtype_size(s)
            ? bad(j, t->name, "unknown dtype '%s'", s) : PP_OK;
        if (!st)
            strcpy(t->dtype, s);
        free(s);
        return st;
    }
    if (!eat(j, '['))
        return bad(j, t->name, "%s is not an array", tensor_keys[k]);
    if (k == 2) {
        const char *pair = "data_offsets is not [begin, end]";
        if (integer(j, UINT64_MAX, &t->begin, t->name, "data_offsets") ||
            (eat(j, ',') ? integer(j, UINT64_MAX, &t->end, t->name,
                                   "data_offsets")
                         : bad(j, t->name, "%s", pair)))
            return j->err->code;
        return eat(j, ']') ? PP_OK : bad(j, t->name, "%s", pair);
    }
    if (eat(j, ']'))
        return PP_OK;
    do {
        if (t->ndim == PP_ST_MAX_DIMS)
            return bad(j, t->name, "shape: more than %d dimensions",
                       PP_ST_MAX_DIMS);
        if (integer(j, INT64_MAX, &v, t->name, "shape"))
            return j->err->code;
        t->shape[t->ndim++] = (int64_t)v;
    } while (eat(j, ','));
    return eat(j, ']') ? PP_OK : bad(j, NULL, "expected ',' or ']'");
}

/* One key of __metadata__ and its value, a string. */
static pp_status meta_member(json *j, char *key, void *ctx)
{
    pp_st_header *h = ctx;
    pp_st_meta *m = grow(h->meta, h->nmeta, sizeof *m);
    if (!m) {
        free(key);
        return nomem(j->err, j->path);
    }
    h->meta = m;
    m = &h->meta[h->nmeta++];
    *m = (pp_st_meta){.key = key};
    if (peek(j) != '"')
        return bad(j, NULL, "__metadata__ '%s' is not a string", key);
    return string(j, &m->value);
}

/* One member of the header: __metadata__ or a tensor. */
static pp_status top_member(json *j, char *key, void *ctx)
{
    pp_st_header *h = ctx;
    if (!strcmp(key, "__metadata__")) {
        free(key);
        if (j->meta_seen++)
            return bad(j, NULL, "__metadata__ given twice");
        return object(j, NULL, "__metadata__ is not an object", meta_member,
                      h);
    }
    pp_st_tensor *t = grow(h->tensor, h->ntensors, sizeof *t);
    if (!t) {
        free(key);
        return nomem(j->err, j->path);
    }
    h->tensor = t;
    t = &h->tensor[h->ntensors++];
    *t = (pp_st_tensor){.name = key};
    j->seen = 0;
    if (object(j, key, "not an object", tensor_member, t))
        return j->err->code;
    for (int k = 0; k < 3; k++)
        if (!(j->seen >> k & 1))
            return bad(j, key, "no %s", tensor_keys[k]);
    return check_tensor(t, j->path, PP_ERR_IO, j->err);
}

static int by_begin(const void *a, const void *b)
{
    const pp_st_tensor *x = a, *y = b;
    int c = (x->begin > y->begin) - (x->begin < y->begin);
    c = c ? c : (x->end > y->end) - (x->end < y->end);
    return c ? c : strcmp(x->name, y->name);
}

static int by_name(const void *a, const void *b)
{
    return strcmp((*(pp_st_tensor *const *)a)->name,
                  (*(pp_st_tensor *const *)b)->name);
}

/* Sorts the tensors by begin, puts the index by name that pp_st_find
 * searches right after tensor[] (in the same block), and checks that the
 * names are unique and that the tensors tile the data section. */
static pp_status finish(pp_st_header *h, const char *path, pp_error *err)
{
    size_t n = (size_t)h->ntensors;
    pp_st_tensor *t = h->tensor;
    uint64_t pos = 0;
    if (n) {
        if (!(t = realloc(t, n * (sizeof *t + sizeof t))))
            return nomem(err, path);
        h->tensor = t;
        pp_st_tensor **idx = (pp_st_tensor **)(t + n);
        qsort(t, n, sizeof *t, by_begin);
        for (size_t i = 0; i < n; i++)
            idx[i] = &t[i];
        qsort(idx, n, sizeof *idx, by_name);
        for (size_t i = 1; i < n; i++)
            if (!strcmp(idx[i - 1]->name, idx[i]->name))
                return fail(err, PP_ERR_IO, path, idx[i]->name, -1,
                            "named twice");
    }
    for (size_t i = 0; i < n; pos = t[i++].end) {
        if (t[i].begin > pos)
            return fail(err, PP_ERR_IO, path, NULL, -1, "bytes %" PRIu64
                        " to %" PRIu64 " of the data section belong to no "
                        "tensor (a hole before tensor '%s')", pos,
                        t[i].begin, t[i].name);
        if (t[i].begin < pos)
            return fail(err, PP_ERR_IO, path, t[i].name, -1, "overlaps "
                        "tensor '%s' (data_offsets [%" PRIu64 ", %" PRIu64
                        "] and [%" PRIu64 ", %" PRIu64 "])", t[i - 1].name,
                        t[i].begin, t[i].end, t[i - 1].begin, t[i - 1].end);
    }
    if (pos != h->data_bytes)
        return fail(err, PP_ERR_IO, path, NULL, -1, "the data section %s: %"
                    PRIu64 " bytes, its tensors end at %" PRIu64,
                    pos > h->data_bytes ? "is cut short"
                                        : "goes on past its tensors",
                    h->data_bytes, pos);
    return PP_OK;
}

/* N from the first 8 bytes, checked against the limit and the file. */
static pp_status header_length(const unsigned char *head, const char *path,
                               uint64_t file_size, uint64_t *n, pp_error *err)
{
    if (file_size < 8)
        return fail(err, PP_ERR_IO, path, NULL, -1, "%" PRIu64 " bytes, too "
                    "short for the header's length", file_size);
    *n = 0;
    for (int i = 7; i >= 0; i--)
        *n = *n << 8 | head[i];
    if (*n == 0)
        return fail(err, PP_ERR_IO, path, NULL, -1, "the header is empty");
    if (*n > MAX_HEADER)
        return fail(err, PP_ERR_IO, path, NULL, -1, "header length %" PRIu64
                    " is over the limit of %u bytes", *n, MAX_HEADER);
    if (*n > file_size - 8)
        return fail(err, PP_ERR_IO, path, NULL, -1, "header length %" PRIu64
                    " goes past the end of the file (%" PRIu64 " bytes)", *n,
                    file_size);
    return PP_OK;
}

pp_status pp_st_parse_header(const unsigned char *bytes, size_t len,
                             const char *path, uint64_t file_size,
                             pp_st_header *out, pp_error *err)
{
    uint64_t n = 0;
    *out = (pp_st_header){0};
    if (len < 8 && file_size >= 8)
        return pp_error_set(err, PP_ERR_RUNTIME, "%s: only %zu bytes of the "
                            "header given", path, len);
    if (header_length(bytes, path, file_size, &n, err))
        return err->code;
    if (len - 8 < n)
        return pp_error_set(err, PP_ERR_RUNTIME, "%s: only %zu bytes of the "
                            "header given, it has %" PRIu64, path, len, 8 + n);
    json j = {.start = bytes + 8, .p = bytes + 8, .end = bytes + 8 + n,
              .path = path, .err = err};
    out->data_offset = 8 + n;
    out->data_bytes = file_size - 8 - n;
    if (*j.p != '{' ? bad(&j, NULL, "the header does not begin with '{'")
                    : object(&j, NULL, "", top_member, out))
        goto failed;
    while (j.p < j.end && *j.p == ' ')
        j.p++; /* the padding */
    if (j.p < j.end ? bad(&j, NULL, "bytes after the header's JSON object")
                    : finish(out, path, err)) {
failed:
        pp_st_header_free(out);
        return err->code;
    }
    return PP_OK;
}

pp_status pp_st_read_header(FILE *f, const char *path, uint64_t file_size,
                            pp_st_header *out, pp_error *err)
{
    unsigned char head[8] = {0}, *buf = NULL;
    uint64_t n = 0;
    *out = (pp_st_header){0};
    if (file_size >= 8 && fread(head, 1, 8, f) < 8)
        goto short_read;
    if (header_length(head, path, file_size, &n, err))
        return err->code;
    if (!(buf = malloc(8 + n)))
        return nomem(err, path);
    memcpy(buf, head, 8);
    if (fread(buf + 8, 1, n, f) < n)
        goto short_read;
    pp_status st = pp_st_parse_header(buf, 8 + n, path, file_size, out, err);
    free(buf);
    return st;
short_read:
    free(buf);
    if (ferror(f))
        return pp_error_set(err, PP_ERR_IO, "%s: cannot read the header: %s",
                            path, strerror(errno));
    return fail(err, PP_ERR_IO, path, NULL, -1, "the file ends inside its "
                "header");
}

void pp_st_header_free(pp_st_header *h)
{
    for (int i = 0; i < h->ntensors; i++)
        free(h->tensor[i].name);
    for (int i = 0; i < h->nmeta; i++) {
        free(h->meta[i].key);
        free(h->meta[i].value);
    }
    free(h->tensor);
    free(h->meta);
    *h = (pp_st_header){0};
}

const pp_st_tensor *pp_st_find(const pp_st_header *h, const char *name)
{
    pp_st_tensor key = {.name = (char *)name}, *kp = &key;
    if (h->ntensors <= 0)
        return NULL;
    pp_st_tensor *const *hit = bsearch(&kp, h->tensor + h->ntensors,
                                       (size_t)h->ntensors, sizeof kp,
                                       by_name);
    return hit ? *hit : NULL;
}

const char *pp_st_meta_get(const pp_st_header *h, const char *key)
{
    for (int i = 0; i < h->nmeta; i++)
        if (!strcmp(h->meta[i].key, key))
            return h->meta[i].value;
    return NULL;
}
