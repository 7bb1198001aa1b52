/* tests/test_safetensors.c - CRC-32C (known vectors, chaining, the SSE4.2
 * path against the table path) and safetensors headers: the writer's text
 * read back, a file as Python's safetensors writes it, and every refusal
 * with its exact message. */
#include <config.h>

#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "safetensors.h"

START_TEST(crc_known_vectors)
{
    unsigned char zeros[32] = {0}, ones[32];
    memset(ones, 0xff, sizeof ones);
    uint32_t (*const fn[])(uint32_t, const void *, size_t) = {
        pp_crc32c, pp_crc32c_sw};
    for (int i = 0; i < 2; i++) {
        ck_assert_uint_eq(fn[i](0, "123456789", 9), 0xe3069283);
        ck_assert_uint_eq(fn[i](0, zeros, 32), 0x8a9136aa);
        ck_assert_uint_eq(fn[i](0, ones, 32), 0x62a8ab43);
        ck_assert_uint_eq(fn[i](0, "", 0), 0);
        ck_assert_uint_eq(fn[i](0x12345678, NULL, 0), 0x12345678);
    }
}
END_TEST

START_TEST(crc_chains)
{
    ck_assert_uint_eq(pp_crc32c(pp_crc32c(0, "1234", 4), "56789", 5),
                      0xe3069283);
    ck_assert_uint_eq(pp_crc32c_sw(pp_crc32c_sw(0, "12345678", 8), "9", 1),
                      0xe3069283);
    enum { N = 20000 };
    unsigned char *buf = malloc(N);
    srand(7);
    for (int i = 0; i < N; i++)
        buf[i] = (unsigned char)rand();
    uint32_t whole = pp_crc32c_sw(0, buf, N);
    ck_assert_uint_eq(pp_crc32c(0, buf, N), whole);
    for (int t = 0; t < 200; t++) {
        size_t a = (size_t)rand() % N, b = a + (size_t)rand() % (N - a);
        uint32_t c = pp_crc32c(0, buf, a);
        c = pp_crc32c(c, buf + a, b - a);
        ck_assert_uint_eq(pp_crc32c(c, buf + b, N - b), whole);
    }
    free(buf);
}
END_TEST

/* Every length 0..4099 at every misalignment 0..7: the hardware path
 * (when the CPU has one) equals the table path. */
START_TEST(crc_hardware_equals_software)
{
    unsigned char *buf = malloc(4099 + 8);
    srand(11);
    for (int i = 0; i < 4099 + 8; i++)
        buf[i] = (unsigned char)rand();
    for (size_t off = 0; off < 8; off++)
        for (size_t n = 0; n <= 4099; n++) {
            uint32_t seed = (uint32_t)(n * 2654435761u);
            ck_assert_uint_eq(pp_crc32c(seed, buf + off, n),
                              pp_crc32c_sw(seed, buf + off, n));
        }
    free(buf);
}
END_TEST

/* The 8-byte length and json, as a file's first bytes (malloc'd). */
static unsigned char *header_bytes(const char *json, size_t n, size_t *len)
{
    unsigned char *b = malloc(8 + n);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)((uint64_t)n >> 8 * i);
    memcpy(b + 8, json, n);
    *len = 8 + n;
    return b;
}

/* Parses json (of n bytes) as the header of a file with data_bytes of
 * data; on a refusal, checks that the header was left empty and returns
 * the message. */
static pp_status parse_n(const char *json, size_t n, uint64_t data_bytes,
                         pp_st_header *h, pp_error *err)
{
    size_t len;
    unsigned char *b = header_bytes(json, n, &len);
    pp_error_clear(err);
    pp_status st = pp_st_parse_header(b, len, "m.st", len + data_bytes, h,
                                      err);
    free(b);
    if (st) {
        ck_assert_ptr_null(h->tensor);
        ck_assert_ptr_null(h->meta);
        ck_assert_int_eq(h->ntensors + h->nmeta, 0);
        pp_st_header_free(h);
    }
    return st;
}

static const char *refusal(const char *json, uint64_t data_bytes)
{
    static pp_error err;
    pp_st_header h;
    pp_status st = parse_n(json, strlen(json), data_bytes, &h, &err);
    ck_assert_msg(st == PP_ERR_IO, "%s: status %d (%s)", json, st, err.msg);
    return err.msg;
}

#define REFUSES(json, data_bytes, want) \
    ck_assert_str_eq(refusal(json, data_bytes), want)
#define REFUSES_WITH(json, data_bytes, part)                               \
    do {                                                                   \
        const char *msg_ = refusal(json, data_bytes);                      \
        ck_assert_msg(strstr(msg_, part), "%s: '%s' lacks '%s'", json,     \
                      msg_, part);                                         \
    } while (0)

#define T(name, dtype, shape, b, e)                                        \
    "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape               \
    ",\"data_offsets\":[" #b "," #e "]}"
#define A T("a", "F32", "[2,3]", 0, 24)
#define B T("b", "I32", "[4]", 24, 40)

/* What safetensors.torch.save_file({"a": torch.zeros(2, 3), "b":
 * torch.arange(4, dtype=torch.int32)}, ...) writes: N = 112 ('p'), already
 * a multiple of 8 so without padding, the JSON, then the data. */
static const unsigned char python_file[160] =
    "p\0\0\0\0\0\0\0"
    "{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"b\":{\"dtype\":\"I32\",\"shape\":[4],\"data_offsets\":[24,40]}}"
    "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0" /* a: six 0.0f */
    "\0\0\0\0" "\1\0\0\0" "\2\0\0\0" "\3\0\0\0";       /* b: 0 1 2 3 */

START_TEST(reads_python_file)
{
    const unsigned char *f = python_file;
    pp_st_header h;
    pp_error err;
    ck_assert_msg(pp_st_parse_header(f, 160, "py.st", 160, &h, &err) ==
                  PP_OK, "%s", err.msg);
    ck_assert_int_eq(h.ntensors, 2);
    ck_assert_int_eq(h.nmeta, 0);
    ck_assert_uint_eq(h.data_offset, 120);
    ck_assert_uint_eq(h.data_bytes, 40);
    const pp_st_tensor *a = pp_st_find(&h, "a"), *b = pp_st_find(&h, "b");
    ck_assert_ptr_eq(a, &h.tensor[0]);
    ck_assert_ptr_eq(b, &h.tensor[1]);
    ck_assert_ptr_null(pp_st_find(&h, "c"));
    ck_assert_str_eq(a->dtype, "F32");
    ck_assert_int_eq(a->ndim, 2);
    ck_assert_int_eq(a->shape[0], 2);
    ck_assert_int_eq(a->shape[1], 3);
    ck_assert_uint_eq(a->end, 24);
    ck_assert_str_eq(b->dtype, "I32");
    ck_assert_int_eq(b->ndim, 1);
    ck_assert_int_eq(b->shape[0], 4);
    ck_assert_uint_eq(b->begin, 24);
    ck_assert_uint_eq(b->end, 40);
    int32_t v;
    memcpy(&v, f + h.data_offset + b->begin + 3 * 4, 4);
    ck_assert_int_eq(v, 3);
    pp_st_header_free(&h);

    /* The writer makes the same bytes. */
    pp_st_tensor t[2] = {
        {.name = "a", .dtype = "F32", .ndim = 2, .shape = {2, 3}, .end = 24},
        {.name = "b", .dtype = "I32", .ndim = 1, .shape = {4}, .begin = 24,
         .end = 40},
    };
    char *text;
    size_t len;
    ck_assert_int_eq(pp_st_header_text(t, 2, NULL, 0, &text, &len, &err),
                     PP_OK);
    ck_assert_uint_eq(len, 120);
    ck_assert_int_eq(memcmp(text, f, 120), 0);
    free(text);
}
END_TEST

START_TEST(reads_from_a_file)
{
    FILE *f = tmpfile();
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(python_file, 1, 160, f), 160);
    rewind(f);
    pp_st_header h;
    pp_error err;
    ck_assert_msg(pp_st_read_header(f, "py.st", 160, &h, &err) ==
                  PP_OK, "%s", err.msg);
    ck_assert_int_eq(h.ntensors, 2);
    ck_assert_uint_eq(pp_st_find(&h, "b")->begin, 24);
    pp_st_header_free(&h);

    fclose(f);

    /* A size that says there is more than there is. */
    f = tmpfile();
    ck_assert_uint_eq(fwrite(python_file, 1, 60, f), 60);
    rewind(f);
    ck_assert_int_eq(pp_st_read_header(f, "py.st", 160, &h, &err), PP_ERR_IO);
    ck_assert_str_eq(err.msg, "py.st: not a safetensors file: the file ends "
                              "inside its header");
    rewind(f);
    ck_assert_int_eq(pp_st_read_header(f, "py.st", 60, &h, &err), PP_ERR_IO);
    ck_assert_str_eq(err.msg, "py.st: not a safetensors file: header length "
                              "112 goes past the end of the file (60 bytes)");
    rewind(f);
    ck_assert_int_eq(pp_st_read_header(f, "py.st", 5, &h, &err), PP_ERR_IO);
    ck_assert_str_eq(err.msg, "py.st: not a safetensors file: 5 bytes, too "
                              "short for the header's length");
    ck_assert_ptr_null(h.tensor);
    pp_st_header_free(&h);
    fclose(f);
}
END_TEST

START_TEST(text_round_trip)
{
    static const char *const odd[] = {
        "quote\"d", "back\\slash", "tab\there", "new\nline", "\x01\x1f",
        "caf\xc3\xa9", "emoji \xf0\x9f\x98\x80", "/slash/", "__metadata",
        "", " ",
    };
    static const char *const dts[] = {"F32", "BF16", "I64", "U8", "F64",
                                      "BOOL", "I16", "F16", "I8", "I32"};
    enum { NODD = sizeof odd / sizeof odd[0], N = 3000 };
    pp_st_tensor *t = calloc(N, sizeof *t);
    uint64_t pos = 0;
    for (int i = 0; i < N; i++) {
        t[i].name = malloc(64);
        if (i < NODD)
            strcpy(t[i].name, odd[i]);
        else
            snprintf(t[i].name, 64, "layers.%d.w%d", i, i % 7);
        strcpy(t[i].dtype, dts[i % 10]);
        t[i].ndim = i % 4; /* 0: a scalar */
        int64_t elems = 1;
        for (int d = 0; d < t[i].ndim; d++)
            elems *= t[i].shape[d] = i % 5 == 1 ? 0 : (i + d) % 6 + 1;
        t[i].begin = pos;
        t[i].end = pos += (uint64_t)elems * pp_st_dtype_size(t[i].dtype);
    }
    pp_st_meta meta[] = {{"format", "pt"}, {"we\"ird\n", "va\\lue\t\x02"},
                         {"empty", ""}, {"utf8", "\xe2\x82\xac"}};
    char *text;
    size_t len;
    pp_error err;
    ck_assert_int_eq(pp_st_header_text(t, N, meta, 4, &text, &len, &err),
                     PP_OK);
    ck_assert_uint_eq(len % 8, 0);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = n << 8 | (unsigned char)text[i];
    ck_assert_uint_eq(n, len - 8);
    ck_assert_int_eq(text[len - 1] == ' ' || text[len - 1] == '}', 1);

    pp_st_header h;
    ck_assert_msg(pp_st_parse_header((unsigned char *)text, len, "rt.st",
                                     len + pos, &h, &err) == PP_OK,
                  "%s", err.msg);
    ck_assert_int_eq(h.ntensors, N);
    ck_assert_uint_eq(h.data_offset, len);
    ck_assert_uint_eq(h.data_bytes, pos);
    for (int i = 0; i < N; i++) {
        const pp_st_tensor *r = pp_st_find(&h, t[i].name);
        ck_assert_msg(r != NULL, "%s not found", t[i].name);
        ck_assert_str_eq(r->name, t[i].name);
        ck_assert_str_eq(r->dtype, t[i].dtype);
        ck_assert_int_eq(r->ndim, t[i].ndim);
        for (int d = 0; d < r->ndim; d++)
            ck_assert_int_eq(r->shape[d], t[i].shape[d]);
        ck_assert_uint_eq(r->begin, t[i].begin);
        ck_assert_uint_eq(r->end, t[i].end);
        if (i)
            ck_assert_uint_le(h.tensor[i - 1].begin, h.tensor[i].begin);
    }
    ck_assert_ptr_null(pp_st_find(&h, "layers.99999.w0"));
    ck_assert_int_eq(h.nmeta, 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(h.meta[i].key, meta[i].key);
        ck_assert_str_eq(pp_st_meta_get(&h, meta[i].key), meta[i].value);
    }
    ck_assert_ptr_null(pp_st_meta_get(&h, "missing"));
    pp_st_header_free(&h);
    pp_st_header_free(&h);
    free(text);

    /* No tensors and no metadata: "{}" and six spaces. */
    ck_assert_int_eq(pp_st_header_text(NULL, 0, NULL, 0, &text, &len, &err),
                     PP_OK);
    ck_assert_uint_eq(len, 16);
    ck_assert_int_eq(memcmp(text + 8, "{}      ", 8), 0);
    ck_assert_int_eq(pp_st_parse_header((unsigned char *)text, len, "e.st",
                                        len, &h, &err), PP_OK);
    ck_assert_int_eq(h.ntensors, 0);
    ck_assert_ptr_null(pp_st_find(&h, "a"));
    pp_st_header_free(&h);
    free(text);
    for (int i = 0; i < N; i++)
        free(t[i].name);
    free(t);
}
END_TEST

START_TEST(writer_refuses)
{
    pp_st_tensor t[2] = {
        {.name = "a", .dtype = "F99", .ndim = 1, .shape = {2}, .end = 8},
        {.name = "b", .dtype = "F32", .ndim = 1, .shape = {2}, .begin = 16,
         .end = 24},
    };
    char *text = (char *)1;
    size_t len = 1;
    pp_error err;
    ck_assert_int_eq(pp_st_header_text(t, 2, NULL, 0, &text, &len, &err),
                     PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg, "safetensors header: tensor 'a': unknown dtype "
                              "'F99'");
    ck_assert_ptr_null(text);
    strcpy(t[0].dtype, "F32");
    ck_assert_int_eq(pp_st_header_text(t, 2, NULL, 0, &text, &len, &err),
                     PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg, "safetensors header: tensor 'b': begins at 16, "
                              "not at 8 where the one before it ends");
    t[1].name = "\xff";
    t[1].begin = 8;
    t[1].end = 16;
    ck_assert_int_eq(pp_st_header_text(t, 2, NULL, 0, &text, &len, &err),
                     PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg, "safetensors header: tensor '\xff': the name is "
                              "reserved or not valid UTF-8");
    t[1].end = 12;
    t[1].name = "b";
    ck_assert_int_eq(pp_st_header_text(t, 2, NULL, 0, &text, &len, &err),
                     PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg, "safetensors header: tensor 'b': data_offsets "
                              "[8, 12] do not hold the 8 bytes of its shape "
                              "and dtype");
    pp_st_meta meta = {"k", "\xc3"};
    ck_assert_int_eq(pp_st_header_text(NULL, 0, &meta, 1, &text, &len, &err),
                     PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg, "safetensors header: metadata 'k': not valid "
                              "UTF-8");
    ck_assert_ptr_null(text);
}
END_TEST

START_TEST(zero_size_tensors)
{
    pp_st_header h;
    pp_error err;
    const char *json = "{" T("z", "F32", "[0]", 0, 0) ","
                       T("b", "F32", "[3]", 0, 12) ","
                       T("c", "BF16", "[2,0,5]", 12, 12) ","
                       T("s", "I64", "[]", 12, 20) "}";
    ck_assert_msg(parse_n(json, strlen(json), 20, &h, &err) == PP_OK, "%s",
                  err.msg);
    ck_assert_int_eq(h.ntensors, 4);
    ck_assert_str_eq(h.tensor[0].name, "z");
    ck_assert_str_eq(h.tensor[1].name, "b");
    ck_assert_str_eq(h.tensor[2].name, "c");
    ck_assert_str_eq(h.tensor[3].name, "s");
    ck_assert_int_eq(pp_st_find(&h, "s")->ndim, 0);
    pp_st_header_free(&h);
    /* A zero-size tensor inside another one's bytes. */
    REFUSES("{" T("b", "F32", "[3]", 0, 12) "," T("z", "F32", "[0]", 4, 4)
            "}", 12, "m.st: tensor 'z': overlaps tensor 'b' (data_offsets "
            "[4, 4] and [0, 12])");
}
END_TEST

START_TEST(accepts_spacing_escapes_and_padding)
{
    pp_st_header h;
    pp_error err;
    const char *json =
        " {\n\t\"__metadata__\" : { \"k\" : \"v\" } ,\r\n"
        " \"\\u00e9\\u20ac\\ud83d\\ude00\\/\\b\\f\\n\\r\\t\\\"\\\\\" : {"
        " \"shape\" : [ 1 , 2 ] , \"data_offsets\" : [ 0 , 2 ] ,"
        " \"dtype\" : \"U8\" } }     ";
    /* The header must begin with '{'. */
    ck_assert_int_eq(parse_n(json, strlen(json), 2, &h, &err), PP_ERR_IO);
    ck_assert_str_eq(err.msg, "m.st: not a safetensors file: the header does "
                              "not begin with '{' at byte 8");
    ck_assert_msg(parse_n(json + 1, strlen(json + 1), 2, &h, &err) == PP_OK,
                  "%s", err.msg);
    ck_assert_str_eq(h.tensor[0].name,
                     "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80/\b\f\n\r\t\"\\");
    ck_assert_str_eq(pp_st_meta_get(&h, "k"), "v");
    pp_st_header_free(&h);
}
END_TEST

START_TEST(refuses_header_length)
{
    pp_st_header h;
    pp_error err;
    unsigned char b[16] = {100, 0, 0, 0, 0, 0, 0, 0, '{', '}'};
    ck_assert_int_eq(pp_st_parse_header(b, 16, "m.st", 58, &h, &err),
                     PP_ERR_IO);
    ck_assert_str_eq(err.msg, "m.st: not a safetensors file: header length "
                              "100 goes past the end of the file (58 bytes)");
    uint64_t big = 100000001;
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(big >> 8 * i);
    ck_assert_int_eq(pp_st_parse_header(b, 16, "m.st", 1ull << 40, &h, &err),
                     PP_ERR_IO);
    ck_assert_str_eq(err.msg, "m.st: not a safetensors file: header length "
                              "100000001 is over the limit of 100000000 "
                              "bytes");
    memset(b, 0, 8);
    ck_assert_int_eq(pp_st_parse_header(b, 16, "m.st", 16, &h, &err),
                     PP_ERR_IO);
    ck_assert_str_eq(err.msg, "m.st: not a safetensors file: the header is "
                              "empty");
    ck_assert_int_eq(pp_st_parse_header(b, 7, "m.st", 7, &h, &err),
                     PP_ERR_IO);
    ck_assert_str_eq(err.msg, "m.st: not a safetensors file: 7 bytes, too "
                              "short for the header's length");
    /* Fewer bytes given than the header has: the caller's mistake. */
    ck_assert_int_eq(pp_st_parse_header(b, 5, "m.st", 100, &h, &err),
                     PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg, "m.st: only 5 bytes of the header given");
    b[0] = 8;
    ck_assert_int_eq(pp_st_parse_header(b, 12, "m.st", 100, &h, &err),
                     PP_ERR_RUNTIME);
    ck_assert_str_eq(err.msg, "m.st: only 12 bytes of the header given, it "
                              "has 16");
}
END_TEST

/* Every prefix of a good header is cut short. */
START_TEST(refuses_truncated_json)
{
    const char *json = "{\"__metadata__\":{\"k\":\"v\\u00e9\"}," A "," B "}";
    pp_st_header h;
    pp_error err;
    ck_assert_int_eq(parse_n(json, strlen(json), 40, &h, &err), PP_OK);
    pp_st_header_free(&h);
    for (size_t n = 1; n < strlen(json); n++) {
        ck_assert_int_eq(parse_n(json, n, 40, &h, &err), PP_ERR_IO);
        ck_assert_msg(!strcmp(err.msg, "m.st: not a safetensors file: the "
                                       "header's JSON ends inside its object"),
                      "%zu: %s", n, err.msg);
    }
}
END_TEST

START_TEST(refuses_bad_json)
{
    REFUSES("{\"a\" 1}", 0, "m.st: not a safetensors file: expected ':' at "
            "byte 13");
    REFUSES("{,}", 0, "m.st: not a safetensors file: expected a string at "
            "byte 9");
    REFUSES("{'a':1}", 0, "m.st: not a safetensors file: expected a string "
            "at byte 9");
    REFUSES("[]", 0, "m.st: not a safetensors file: the header does not "
            "begin with '{' at byte 8");
    REFUSES("{" A ",}", 24, "m.st: not a safetensors file: expected a string "
            "at byte 65");
    REFUSES("{" A " " A "}", 24, "m.st: not a safetensors file: expected ',' "
            "or '}' at byte 65");
    REFUSES("{\"a\":{\"dtype\":\"F32\" \"shape\":[2,3]}}", 24,
            "m.st: not a safetensors file: expected ',' or '}' at byte 28");
    REFUSES("{\"a\":{\"dtype\":\"F32\",\"shape\":[2 3]}}", 24,
            "m.st: not a safetensors file: expected ',' or ']' at byte 39");
    REFUSES("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,]}}", 24,
            "m.st: not a safetensors file: expected a number at byte 39");
    REFUSES("{\"a\":{\"dtype\":\"F32\",\"shape\":[02]}}", 24,
            "m.st: not a safetensors file: a number with a leading zero at "
            "byte 37");
    REFUSES("{\"a\":{\"dtype\":F32}}", 24, "m.st: not a safetensors file: "
            "expected a string at byte 22");
    /* Strings. */
    REFUSES("{\"a\x01\":{}}", 0, "m.st: not a safetensors file: a control "
            "character in a string at byte 11");
    REFUSES("{\"a\xff\":{}}", 0, "m.st: not a safetensors file: invalid "
            "UTF-8 in a string at byte 11");
    REFUSES_WITH("{\"\xc0\x80\":{}}", 0, "invalid UTF-8 in a string");
    REFUSES_WITH("{\"\xed\xa0\x80\":{}}", 0, "invalid UTF-8 in a string");
    REFUSES_WITH("{\"\xf4\x90\x80\x80\":{}}", 0, "invalid UTF-8 in a string");
    REFUSES_WITH("{\"\xe2\x82\":{}}", 0, "invalid UTF-8 in a string");
    REFUSES("{\"a\\x\":{}}", 0, "m.st: not a safetensors file: a bad escape "
            "in a string at byte 11");
    REFUSES_WITH("{\"\\u12\":{}}", 0, "a bad escape in a string");
    REFUSES_WITH("{\"\\ud800\":{}}", 0, "a bad escape in a string");
    REFUSES_WITH("{\"\\ud800\\u0041\":{}}", 0, "a bad escape in a string");
    REFUSES_WITH("{\"\\udc00\\ud800\":{}}", 0, "a bad escape in a string");
    REFUSES_WITH("{\"\\u0000\":{}}", 0, "a bad escape in a string");
    /* After the object, spaces only. */
    REFUSES("{" A "}x", 24, "m.st: not a safetensors file: bytes after the "
            "header's JSON object at byte 65");
    REFUSES("{" A "}  \n", 24, "m.st: not a safetensors file: bytes after "
            "the header's JSON object at byte 67");
    REFUSES("{" A "}{}", 24, "m.st: not a safetensors file: bytes after the "
            "header's JSON object at byte 65");
    pp_st_header h;
    pp_error err;
    ck_assert_int_eq(parse_n("{" A "}   ", 60, 24, &h, &err), PP_OK);
    pp_st_header_free(&h);
    /* A NUL byte is no way to end the header early. */
    ck_assert_int_eq(parse_n("{" A "}\0  ", 60, 24, &h, &err), PP_ERR_IO);
    ck_assert_str_eq(err.msg, "m.st: not a safetensors file: bytes after "
                              "the header's JSON object at byte 65");
}
END_TEST

START_TEST(refuses_bad_tensors)
{
    REFUSES("{" T("a", "F99", "[2,3]", 0, 24) "}", 24,
            "m.st: tensor 'a': unknown dtype 'F99'");
    REFUSES("{" T("a", "FLOAT32_X", "[2,3]", 0, 24) "}", 24,
            "m.st: tensor 'a': unknown dtype 'FLOAT32_X'");
    REFUSES("{" T("a", "F32", "[2,3]", 0, 20) "}", 20,
            "m.st: tensor 'a': data_offsets [0, 20] do not hold the 24 "
            "bytes of its shape and dtype");
    REFUSES("{" T("a", "F32", "[2,3]", 24, 0) "}", 24,
            "m.st: tensor 'a': data_offsets [24, 0] do not hold the 24 "
            "bytes of its shape and dtype");
    REFUSES("{" T("a", "F32", "[9223372036854775807,2]", 0, 24) "}", 24,
            "m.st: tensor 'a': dimension 9223372036854775807 is negative or "
            "too large");
    REFUSES("{" T("a", "F32", "[1,2,3,4,5,6,7,8,9]", 0, 24) "}", 24,
            "m.st: tensor 'a': shape: more than 8 dimensions");
    REFUSES("{" A "," T("b", "F32", "[6]", 16, 40) "}", 40,
            "m.st: tensor 'b': overlaps tensor 'a' (data_offsets [16, 40] "
            "and [0, 24])");
    REFUSES("{" A "," T("b", "F32", "[6]", 32, 56) "}", 56,
            "m.st: not a safetensors file: bytes 24 to 32 of the data "
            "section belong to no tensor (a hole before tensor 'b')");
    REFUSES("{" T("a", "F32", "[2,3]", 8, 32) "}", 32,
            "m.st: not a safetensors file: bytes 0 to 8 of the data section "
            "belong to no tensor (a hole before tensor 'a')");
    REFUSES("{" A "," T("a", "F32", "[4]", 24, 40) "}", 40,
            "m.st: tensor 'a': named twice");
    REFUSES("{" A ",\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":"
            "[24,28],\"extra\":1}}", 28, "m.st: tensor 'b': unknown key "
            "'extra' (a tensor has dtype, shape and data_offsets)");
    REFUSES("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\"}}", 0,
            "m.st: tensor 'a': dtype given twice");
    REFUSES("{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4,
            "m.st: tensor 'a': no shape");
    REFUSES("{\"a\":{}}", 0, "m.st: tensor 'a': no dtype");
    REFUSES("{\"a\":[]}", 0, "m.st: tensor 'a': not an object");
    REFUSES("{\"a\":{\"dtype\":\"F32\",\"shape\":4}}", 0,
            "m.st: tensor 'a': shape is not an array");
    REFUSES("{\"a\":{\"data_offsets\":[0]}}", 0,
            "m.st: tensor 'a': data_offsets is not [begin, end]");
    REFUSES("{\"a\":{\"data_offsets\":[0,4,8]}}", 0,
            "m.st: tensor 'a': data_offsets is not [begin, end]");
}
END_TEST

START_TEST(refuses_bad_numbers)
{
    REFUSES("{" T("a", "F32", "[-1]", 0, 24) "}", 24,
            "m.st: tensor 'a': shape: a negative number");
    REFUSES("{" T("a", "F32", "[6]", -0, 24) "}", 24,
            "m.st: tensor 'a': data_offsets: a negative number");
    REFUSES("{" T("a", "F32", "[6.0]", 0, 24) "}", 24,
            "m.st: tensor 'a': shape: not an integer");
    REFUSES("{" T("a", "F32", "[6e0]", 0, 24) "}", 24,
            "m.st: tensor 'a': shape: not an integer");
    REFUSES("{" T("a", "F32", "[6]", 0, 24.5) "}", 24,
            "m.st: tensor 'a': data_offsets: not an integer");
    REFUSES("{" T("a", "F32", "[6]", 0, 2E1) "}", 24,
            "m.st: tensor 'a': data_offsets: not an integer");
    REFUSES("{" T("a", "F32", "[9223372036854775808]", 0, 24) "}", 24,
            "m.st: tensor 'a': shape: a number over 9223372036854775807");
    REFUSES("{" T("a", "F32", "[6]", 0, 18446744073709551616) "}", 24,
            "m.st: tensor 'a': data_offsets: a number over "
            "18446744073709551615");
    REFUSES("{" T("a", "F32", "[6]", 0, 99999999999999999999999) "}", 24,
            "m.st: tensor 'a': data_offsets: a number over "
            "18446744073709551615");
    REFUSES("{" T("a", "U8", "[6]", 18446744073709551615, 0) "}", 24,
            "m.st: tensor 'a': data_offsets [18446744073709551615, 0] do not "
            "hold the 6 bytes of its shape and dtype");
}
END_TEST

START_TEST(refuses_wrong_data_size)
{
    REFUSES("{" A "," B "}", 39, "m.st: not a safetensors file: the data "
            "section is cut short: 39 bytes, its tensors end at 40");
    REFUSES("{" A "," B "}", 41, "m.st: not a safetensors file: the data "
            "section goes on past its tensors: 41 bytes, its tensors end at "
            "40");
    REFUSES("{}", 8, "m.st: not a safetensors file: the data section goes "
            "on past its tensors: 8 bytes, its tensors end at 0");
}
END_TEST

START_TEST(refuses_bad_metadata)
{
    enum { DEEP = 100000 };
    char *deep = malloc(2 * DEEP + 64);
    int n = sprintf(deep, "{\"__metadata__\":{\"k\":");
    memset(deep + n, '[', DEEP);
    memset(deep + n + DEEP, ']', DEEP);
    strcpy(deep + n + 2 * DEEP, "}}");
    REFUSES(deep, 0, "m.st: not a safetensors file: __metadata__ 'k' is not "
            "a string at byte 29");
    /* Nested just as deep as a tensor, or in its shape. */
    n = sprintf(deep, "{\"a\":");
    memset(deep + n, '{', DEEP);
    deep[n + DEEP] = '\0';
    REFUSES(deep, 0, "m.st: not a safetensors file: expected a string at "
            "byte 14");
    n = sprintf(deep, "{\"a\":{\"shape\":");
    memset(deep + n, '[', DEEP);
    deep[n + DEEP] = '\0';
    REFUSES(deep, 0, "m.st: not a safetensors file: expected a number at "
            "byte 23");
    free(deep);
    REFUSES("{\"__metadata__\":{\"k\":1}}", 0, "m.st: not a safetensors "
            "file: __metadata__ 'k' is not a string at byte 29");
    REFUSES("{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0, "m.st: not a "
            "safetensors file: __metadata__ 'k' is not a string at byte 29");
    REFUSES("{\"__metadata__\":{\"k\":null}}", 0, "m.st: not a safetensors "
            "file: __metadata__ 'k' is not a string at byte 29");
    REFUSES("{\"__metadata__\":[]}", 0, "m.st: not a safetensors file: "
            "__metadata__ is not an object at byte 24");
    REFUSES("{\"__metadata__\":{},\"__metadata__\":{}}", 0, "m.st: not a "
            "safetensors file: __metadata__ given twice at byte 42");
    pp_st_header h;
    pp_error err;
    const char *json = "{\"__metadata__\":{\"a\":\"1\",\"b\":\"2\"}}";
    ck_assert_int_eq(parse_n(json, strlen(json), 0, &h, &err), PP_OK);
    ck_assert_int_eq(h.nmeta, 2);
    ck_assert_str_eq(pp_st_meta_get(&h, "b"), "2");
    pp_st_header_free(&h);
}
END_TEST

/* Random damage to a good header: a clean answer every time, no crash or
 * leak (run it under valgrind or ASan to see the latter). */
START_TEST(survives_damage)
{
    static const char alphabet[] = "{}[]\":,\\u0123456789-.eE \x80\xff";
    const char *good = "{\"__metadata__\":{\"k\":\"v\"}," A "," B "}    ";
    size_t n = strlen(good);
    char buf[256];
    pp_st_header h;
    pp_error err;
    srand(3);
    for (int t = 0; t < 20000; t++) {
        memcpy(buf, good, n);
        for (int k = rand() % 4; k >= 0; k--)
            buf[rand() % n] = alphabet[rand() % (sizeof alphabet - 1)];
        size_t len = n - (size_t)(rand() % 3 == 0 ? rand() % n : 0);
        pp_status st = parse_n(buf, len, 40, &h, &err);
        ck_assert(st == PP_OK || st == PP_ERR_IO);
        ck_assert(st == PP_OK || strncmp(err.msg, "m.st: ", 6) == 0);
        pp_st_header_free(&h);
    }
}
END_TEST

static Suite *safetensors_suite(void)
{
    Suite *s = suite_create("safetensors");
    TCase *crc = tcase_create("crc32c");
    tcase_add_test(crc, crc_known_vectors);
    tcase_add_test(crc, crc_chains);
    tcase_add_test(crc, crc_hardware_equals_software);
    suite_add_tcase(s, crc);
    TCase *rw = tcase_create("read and write");
    tcase_add_test(rw, reads_python_file);
    tcase_add_test(rw, reads_from_a_file);
    tcase_add_test(rw, text_round_trip);
    tcase_add_test(rw, writer_refuses);
    tcase_add_test(rw, zero_size_tensors);
    tcase_add_test(rw, accepts_spacing_escapes_and_padding);
    suite_add_tcase(s, rw);
    TCase *refuse = tcase_create("refusals");
    tcase_add_test(refuse, refuses_header_length);
    tcase_add_test(refuse, refuses_truncated_json);
    tcase_add_test(refuse, refuses_bad_json);
    tcase_add_test(refuse, refuses_bad_tensors);
    tcase_add_test(refuse, refuses_bad_numbers);
    tcase_add_test(refuse, refuses_wrong_data_size);
    tcase_add_test(refuse, refuses_bad_metadata);
    tcase_add_test(refuse, survives_damage);
    suite_add_tcase(s, refuse);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(safetensors_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
