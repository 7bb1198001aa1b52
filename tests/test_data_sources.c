/* tests/test_data_sources.c - the data source plugins (synthetic, text,
 * tokens): determinism however a range of samples is split, that the
 * tasks are what they claim (a mixture a nearest-centre rule learns, a
 * sequence whose next token is known, windows of the file), and every
 * refusal with its exact message.
 *
 * Token files come in llm.c's formats and pipette's PPTOKEN1.
 *
 * Plugins are loaded from the build tree through the registry and opened
 * with [data] sections parsed from small INI files, as the core would
 * (tests/plugin_fixture.c); the core's own [data] key is restated here.
 *
 * Not a test of how the runtime reads them into micro-batches
 * (src/data_ring.c).
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plugin_fixture.h"

static const pp_key data_core[] = {
    {"source", PP_KEY_STRING, PP_KEY_REQUIRED, PP_NO_RANGE, NULL, NULL, NULL},
    {0}};

static fixture fx;

static void setup(void)
{
    fixture_open(&fx);
}

static void teardown(void)
{
    fixture_close(&fx);
}

/* ---- data sources ---------------------------------------------------- */

typedef struct source {
    const pp_data_ops *ops;
    void *state;
    pp_data_info info;
    size_t in_bytes, tg_bytes; /* one sample's */
} source;

/* Opens data source `name` with the [data] lines in keys. */
static pp_status open_source(const char *name, const char *keys,
                             uint64_t seed, source *src, pp_error *err)
{
    char text[1024];
    snprintf(text, sizeof text, "[data]\nsource = %s\n%s", name, keys);
    const pp_plugin_desc *p = fixture_plugin(&fx, PP_KIND_DATA, name);
    pp_section *s = fixture_section(&fx, text, "data", data_core, p);
    memset(src, 0, sizeof *src);
    src->ops = p->ops;
    pp_error_clear(err);
    pp_status st = src->ops->open(s, seed, &src->state, &src->info, err);
    if (!st) {
        src->in_bytes = pp_tensor_bytes(&src->info.input);
        src->tg_bytes = pp_tensor_bytes(&src->info.target);
    }
    return st;
}

static void must_open(const char *name, const char *keys, uint64_t seed,
                      source *src)
{
    pp_error err;
    ck_assert_msg(open_source(name, keys, seed, src, &err) == PP_OK, "%s",
                  err.msg);
}

/* Samples first .. first + n - 1, inputs and targets; malloc'd. */
static void fetch(const source *src, int64_t first, int n, void **in,
                  void **tg)
{
    *in = malloc(src->in_bytes * (size_t)n);
    *tg = malloc(src->tg_bytes * (size_t)n);
    ck_assert(*in && *tg);
    pp_error err;
    ck_assert_int_eq(src->ops->read(src->state, first, n, *in, *tg, &err),
                     PP_OK);
}

/* The same samples whether read at once, in uneven slices, or inputs and
 * targets separately; and again from a second open with the same seed. */
static void check_deterministic(const char *name, const char *keys)
{
    enum { COUNT = 64 };
    static const int slices[] = {1, 7, 20, 36};
    const int64_t base = 1000003;
    source a, b;
    must_open(name, keys, 42, &a);
    void *in, *tg;
    fetch(&a, base, COUNT, &in, &tg);
    char *in2 = malloc(a.in_bytes * COUNT), *tg2 = malloc(a.tg_bytes * COUNT);
    pp_error err;
    int64_t at = base;
    for (size_t k = 0; k < sizeof slices / sizeof *slices; k++) {
        size_t off = (size_t)(at - base);
        ck_assert_int_eq(a.ops->read(a.state, at, slices[k],
                                     in2 + off * a.in_bytes, NULL, &err),
                         PP_OK);
        ck_assert_int_eq(a.ops->read(a.state, at, slices[k], NULL,
                                     tg2 + off * a.tg_bytes, &err),
                         PP_OK);
        at += slices[k];
    }
    ck_assert_int_eq(at, base + COUNT);
    ck_assert(memcmp(in, in2, a.in_bytes * COUNT) == 0);
    ck_assert(memcmp(tg, tg2, a.tg_bytes * COUNT) == 0);

    must_open(name, keys, 42, &b);
    void *in3, *tg3;
    fetch(&b, base, COUNT, &in3, &tg3);
    ck_assert(memcmp(in, in3, a.in_bytes * COUNT) == 0);
    ck_assert(memcmp(tg, tg3, a.tg_bytes * COUNT) == 0);
    b.ops->close(b.state);
    free(in3);
    free(tg3);

    /* Neighbouring samples differ: i is really used. */
    ck_assert(memcmp(in, (char *)in + a.in_bytes, a.in_bytes) != 0);
    a.ops->close(a.state);
    free(in);
    free(tg);
    free(in2);
    free(tg2);
}

START_TEST(synthetic_deterministic)
{
    check_deterministic("synthetic", "");
    check_deterministic("synthetic", "task = sequence\n");
}
END_TEST

START_TEST(mixture_shapes_and_seed)
{
    source a, b;
    must_open("synthetic", "features = 3\nclasses = 5\n", 1, &a);
    ck_assert_int_eq(a.info.input.dtype, PP_F32);
    ck_assert_int_eq(a.info.input.shape.ndim, 1);
    ck_assert_int_eq(a.info.input.shape.dim[0], 3);
    ck_assert_int_eq(a.info.target.dtype, PP_I32);
    ck_assert_int_eq(a.info.target.shape.ndim, 0);
    ck_assert_int_eq(a.info.samples, 0);
    must_open("synthetic", "features = 3\nclasses = 5\n", 2, &b);
    void *in1, *tg1, *in2, *tg2;
    fetch(&a, 0, 16, &in1, &tg1);
    fetch(&b, 0, 16, &in2, &tg2);
    ck_assert(memcmp(in1, in2, a.in_bytes * 16) != 0);
    a.ops->close(a.state);
    b.ops->close(b.state);
    free(in1);
    free(tg1);
    free(in2);
    free(tg2);
}
END_TEST

/* Class centres estimated from 1000 samples classify the next 1000; the
 * classes come out about equally often. */
static void check_mixture(const char *keys, int classes, int features)
{
    enum { TRAIN = 1000, TEST = 1000 };
    source s;
    must_open("synthetic", keys, 7, &s);
    float *x, *centre = calloc((size_t)(classes * features), sizeof *centre);
    int32_t *y;
    int count[64] = {0};
    fetch(&s, 0, TRAIN + TEST, (void **)&x, (void **)&y);
    for (int i = 0; i < TRAIN; i++) {
        ck_assert(y[i] >= 0 && y[i] < classes);
        count[y[i]]++;
        for (int d = 0; d < features; d++)
            centre[y[i] * features + d] += x[i * features + d];
    }
    for (int c = 0; c < classes; c++) {
        ck_assert_msg(abs(count[c] - TRAIN / classes) < TRAIN / classes / 4,
                      "class %d: %d of %d samples", c, count[c], TRAIN);
        for (int d = 0; d < features; d++)
            centre[c * features + d] /= (float)count[c];
    }
    int right = 0;
    for (int i = TRAIN; i < TRAIN + TEST; i++) {
        int best = 0;
        double best_d = HUGE_VAL;
        for (int c = 0; c < classes; c++) {
            double dist = 0;
            for (int d = 0; d < features; d++) {
                double e = x[i * features + d] - centre[c * features + d];
                dist += e * e;
            }
            if (dist < best_d) {
                best_d = dist;
                best = c;
            }
        }
        right += best == y[i];
    }
    ck_assert_msg(right > TEST * 9 / 10, "%d of %d right", right, TEST);
    s.ops->close(s.state);
    free(x);
    free(y);
    free(centre);
}

START_TEST(mixture_learnable)
{
    check_mixture("", 4, 2);
    check_mixture("classes = 10\nfeatures = 5\n", 10, 5);
    check_mixture("classes = 3\nfeatures = 1\n", 3, 1);
    check_mixture("classes = 2\nfeatures = 2\nspread = 1\n", 2, 2);
}
END_TEST

START_TEST(sequence_next_token)
{
    source s;
    must_open("synthetic", "task = sequence\nvocab = 11\nlength = 9\n", 3,
              &s);
    ck_assert_int_eq(s.info.input.dtype, PP_I32);
    ck_assert_int_eq(s.info.input.shape.ndim, 1);
    ck_assert_int_eq(s.info.input.shape.dim[0], 9);
    ck_assert_int_eq(s.info.target.shape.dim[0], 9);
    int32_t *x, *y;
    fetch(&s, 0, 200, (void **)&x, (void **)&y);
    int k = (y[0] - x[0] + 11) % 11, starts[11] = {0};
    ck_assert_int_ne(k, 0);
    for (int i = 0; i < 200; i++) {
        starts[x[i * 9]] = 1;
        for (int t = 0; t < 9; t++) {
            ck_assert(x[i * 9 + t] >= 0 && x[i * 9 + t] < 11);
            ck_assert_int_eq(y[i * 9 + t], (x[i * 9 + t] + k) % 11);
            if (t + 1 < 9)
                ck_assert_int_eq(y[i * 9 + t], x[i * 9 + t + 1]);
        }
    }
    for (int v = 0; v < 11; v++)
        ck_assert_msg(starts[v], "no sample starts with %d", v);
    s.ops->close(s.state);
    free(x);
    free(y);
}
END_TEST

START_TEST(synthetic_refusals)
{
    source s;
    pp_error err;
    ck_assert_int_eq(open_source("synthetic", "task = sequence\nclasses = 3\n"
                                 "spread = 1\n", 1, &s, &err),
                     PP_ERR_CONFIG);
    EXPECT_MSG(&fx, err, "4: [data] classes: is not used by task = sequence\n"
               "%s:5: [data] spread: is not used by task = sequence",
               fx.ini_path);
    ck_assert_int_eq(open_source("synthetic", "vocab = 3\n", 1, &s, &err),
                     PP_ERR_CONFIG);
    EXPECT_MSG(&fx, err, "3: [data] vocab: is not used by task = mixture");
}
END_TEST

/* ---- text and tokens ------------------------------------------------- */

/* Bytes from a small LCG: every 16-byte window of a few thousand is
 * unique, so a window's place in the file is known from its contents. */
static unsigned char *noise(size_t size, unsigned modulo)
{
    unsigned char *b = malloc(size);
    uint32_t x = 12345;
    for (size_t i = 0; i < size; i++) {
        x = x * 1103515245u + 12345u;
        b[i] = (unsigned char)((x >> 16) % modulo);
    }
    return b;
}

/* Each sample is some window w[o .. o + len) of the corpus, its target
 * w[o + 1 .. o + len + 1); every start 0 .. count - len - 1 is possible. */
static void check_windows(const source *s, const int32_t *corpus,
                          int64_t count, int64_t len, int n)
{
    int32_t *x, *y;
    fetch(s, 0, n, (void **)&x, (void **)&y);
    int64_t lowest = count, highest = -1;
    for (int i = 0; i < n; i++) {
        int64_t o = 0;
        while (o + len < count &&
               memcmp(corpus + o, x + i * len, (size_t)len * 4) != 0)
            o++;
        ck_assert_msg(o + len < count, "sample %d is not in the file", i);
        ck_assert(memcmp(corpus + o + 1, y + i * len, (size_t)len * 4) == 0);
        lowest = o < lowest ? o : lowest;
        highest = o > highest ? o : highest;
    }
    ck_assert_int_le(lowest, (count - len) / 10);
    ck_assert_int_ge(highest, (count - len) * 9 / 10);
    free(x);
    free(y);
}

START_TEST(text_windows)
{
    enum { SIZE = 3000, LEN = 40 };
    unsigned char *bytes = noise(SIZE, 256);
    char *file = write_tmp(bytes, SIZE);
    int32_t corpus[SIZE];
    for (int i = 0; i < SIZE; i++)
        corpus[i] = bytes[i];
    char keys[1024];
    snprintf(keys, sizeof keys, "path = %s\nlength = %d\n", file, LEN);
    source s;
    must_open("text", keys, 9, &s);
    ck_assert_int_eq(s.info.input.dtype, PP_I32);
    ck_assert_int_eq(s.info.input.shape.dim[0], LEN);
    ck_assert_int_eq(s.info.target.shape.dim[0], LEN);
    check_windows(&s, corpus, SIZE, LEN, 400);
    s.ops->close(s.state);
    check_deterministic("text", keys);

    /* length + 1 bytes: one window, the whole file. */
    snprintf(keys, sizeof keys, "path = %s\nlength = %d\n", file, SIZE - 1);
    must_open("text", keys, 9, &s);
    check_windows(&s, corpus, SIZE, SIZE - 1, 3);
    s.ops->close(s.state);
    unlink(file);
    free(file);
    free(bytes);
}
END_TEST

START_TEST(text_refusals)
{
    char *file = write_tmp("0123456789", 10), keys[1024];
    source s;
    pp_error err;
    snprintf(keys, sizeof keys, "length = 10\npath = %s\n", file);
    ck_assert_int_eq(open_source("text", keys, 1, &s, &err), PP_ERR_CONFIG);
    EXPECT_MSG(&fx, err,
               "4: [data] path: '%s' has 10 bytes; length = 10 needs at "
               "least 11", file);
    unlink(file);
    free(file);

    ck_assert_int_eq(open_source("text", "path = /nonexistent/corpus.txt\n",
                                 1, &s, &err), PP_ERR_CONFIG);
    EXPECT_MSG(&fx, err,
               "3: [data] path: cannot read '/nonexistent/corpus.txt': "
               "No such file or directory");
    /* Only a regular file is read: a FIFO is refused at once (opened
     * without waiting for a writer), /dev/zero without reading it. */
    ck_assert_int_eq(open_source("text", "path = /\n", 1, &s, &err),
                     PP_ERR_CONFIG);
    EXPECT_MSG(&fx, err, "3: [data] path: '/' is a directory; a data file "
               "must be a regular file");
    ck_assert_int_eq(open_source("text", "path = /dev/zero\n", 1, &s, &err),
                     PP_ERR_CONFIG);
    EXPECT_MSG(&fx, err, "3: [data] path: '/dev/zero' is a character "
               "device; a data file must be a regular file");
    file = write_tmp("", 0);
    unlink(file);
    ck_assert_int_eq(mkfifo(file, 0600), 0);
    snprintf(keys, sizeof keys, "path = %s\n", file);
    ck_assert_int_eq(open_source("text", keys, 1, &s, &err), PP_ERR_CONFIG);
    EXPECT_MSG(&fx, err, "3: [data] path: '%s' is a FIFO; a data file must "
               "be a regular file", file);
    unlink(file);
    free(file);
}
END_TEST

/* A token file: the header with magic, vocab and count, then ids. */
static char *token_file(const char *magic, uint32_t vocab, uint32_t count,
                        const uint32_t *ids, size_t nids)
{
    size_t size = 16 + 4 * nids;
    unsigned char *b = malloc(size);
    memcpy(b, magic, 8);
    const uint32_t head[2] = {vocab, count};
    for (size_t i = 0; i < 2 + nids; i++) {
        uint32_t v = i < 2 ? head[i] : ids[i - 2];
        for (int k = 0; k < 4; k++)
            b[8 + 4 * i + (size_t)k] = (unsigned char)(v >> (8 * k));
    }
    char *path = write_tmp(b, size);
    free(b);
    return path;
}

START_TEST(tokens_windows)
{
    enum { COUNT = 2000, LEN = 24, VOCAB = 50000 };
    uint32_t ids[COUNT];
    int32_t corpus[COUNT];
    uint32_t x = 99;
    for (int i = 0; i < COUNT; i++) {
        x = x * 1664525u + 1013904223u;
        ids[i] = (x >> 8) % VOCAB;
        corpus[i] = (int32_t)ids[i];
    }
    char *file = token_file("PPTOKEN1", VOCAB, COUNT, ids, COUNT);
    char keys[1024];
    snprintf(keys, sizeof keys, "path = %s\nlength = %d\n", file, LEN);
    source s;
    must_open("tokens", keys, 5, &s);
    ck_assert_int_eq(s.info.input.dtype, PP_I32);
    ck_assert_int_eq(s.info.input.shape.dim[0], LEN);
    ck_assert_int_eq(s.info.samples, 0);
    check_windows(&s, corpus, COUNT, LEN, 300);
    s.ops->close(s.state);
    check_deterministic("tokens", keys);
    unlink(file);
    free(file);
}
END_TEST

/* Opens a token file that must be refused; checks the message after
 * "LINE: [data] path: 'FILE'". */
static void expect_token_refusal(char *file, const char *length,
                                 const char *why)
{
    char keys[1024];
    snprintf(keys, sizeof keys, "path = %s\n%s", file, length);
    source s;
    pp_error err;
    ck_assert_int_eq(open_source("tokens", keys, 1, &s, &err),
                     PP_ERR_CONFIG);
    EXPECT_MSG(&fx, err, "3: [data] path: '%s'%s", file, why);
    unlink(file);
    free(file);
}

START_TEST(tokens_refusals)
{
    const uint32_t ids[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    expect_token_refusal(write_tmp("PPTOKEN1\1\0\0", 11), "",
        " is too short for a token file: 11 bytes, the header alone is 16");
    expect_token_refusal(token_file("PPTOKEN2", 10, 8, ids, 8), "",
        " is not a token file: it begins with neither llm.c's magic "
        "(20240520 or 20240801, int32) nor PPTOKEN1");
    expect_token_refusal(write_tmp("PPTOKEN", 7), "",
        " is too short for a token file: 7 bytes");
    expect_token_refusal(token_file("PPTOKEN1", 0, 8, ids, 8), "",
        ": the header's vocab size 0 is not from 1 to 2147483648");
    expect_token_refusal(token_file("PPTOKEN1", 10, 9, ids, 8), "",
        ": the header says 9 ids (36 bytes after it), the file has 32 bytes "
        "after it");
    expect_token_refusal(token_file("PPTOKEN1", 6, 8, ids, 8), "",
        ": id 6 (at byte 40) is 6, not below the header's vocab size 6");
    /* A vocab key tighter than the header's is the bound checked. */
    expect_token_refusal(token_file("PPTOKEN1", 10, 8, ids, 8),
        "vocab = 5\n", ": id 5 (at byte 36) is 5, not below vocab = 5");
    expect_token_refusal(token_file("PPTOKEN1", 10, 8, ids, 8),
        "length = 8\n", " has 8 ids; length = 8 needs at least 9");

    source s;
    pp_error err;
    ck_assert_int_eq(open_source("tokens",
                                 "length = 4\npath = /nonexistent/missing.tok\n",
                                 1, &s, &err), PP_ERR_CONFIG);
    EXPECT_MSG(&fx, err,
               "4: [data] path: cannot read '/nonexistent/missing.tok': "
               "No such file or directory");
}
END_TEST

/* An llm.c token file: 256 int32 of header (magic, version, count, then
 * zeros), then nids ids of width bytes (2 or 4), little-endian. */
static char *llmc_file(uint32_t magic, uint32_t version, int32_t count,
                       const uint32_t *ids, size_t nids, int width)
{
    size_t size = 1024 + (size_t)width * nids;
    unsigned char *b = calloc(size, 1);
    const uint32_t head[3] = {magic, version, (uint32_t)count};
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 4; k++)
            b[4 * i + k] = (unsigned char)(head[i] >> (8 * k));
    for (size_t i = 0; i < nids; i++)
        for (int k = 0; k < width; k++)
            b[1024 + (size_t)width * i + (size_t)k] =
                (unsigned char)(ids[i] >> (8 * k));
    char *path = write_tmp(b, size);
    free(b);
    return path;
}

/* GPT-2's uint16 ids and Llama 3's uint32 ones, read as written; the
 * vocab is the largest id + 1 unless the key says more. */
START_TEST(tokens_llmc_windows)
{
    enum { COUNT = 2000, LEN = 24 };
    static const struct {
        uint32_t magic, version, vocab;
        int width;
    } formats[] = {{20240520, 1, 50257, 2}, {20240801, 7, 128256, 4}};
    for (int f = 0; f < 2; f++) {
        uint32_t ids[COUNT], x = 7;
        int32_t corpus[COUNT];
        for (int i = 0; i < COUNT; i++) {
            x = x * 1664525u + 1013904223u;
            ids[i] = (x >> 8) % formats[f].vocab;
            corpus[i] = (int32_t)ids[i];
        }
        ids[COUNT / 2] = formats[f].vocab - 1; /* the last id, at least */
        corpus[COUNT / 2] = (int32_t)formats[f].vocab - 1;
        char *file = llmc_file(formats[f].magic, formats[f].version, COUNT,
                               ids, COUNT, formats[f].width);
        char keys[1024];
        snprintf(keys, sizeof keys, "path = %s\nlength = %d\n", file, LEN);
        source s;
        must_open("tokens", keys, 5, &s);
        ck_assert_int_eq(s.info.input.dtype, PP_I32);
        ck_assert_int_eq(s.info.input.shape.dim[0], LEN);
        ck_assert_int_eq(s.info.input_ids, formats[f].vocab);
        ck_assert_int_eq(s.info.target_ids, formats[f].vocab);
        check_windows(&s, corpus, COUNT, LEN, 300);
        s.ops->close(s.state);
        check_deterministic("tokens", keys);

        /* A vocab key above the largest id is what the model must take. */
        snprintf(keys, sizeof keys, "path = %s\nlength = %d\nvocab = %u\n",
                 file, LEN, formats[f].vocab + 47);
        must_open("tokens", keys, 5, &s);
        ck_assert_int_eq(s.info.input_ids, formats[f].vocab + 47);
        s.ops->close(s.state);
        unlink(file);
        free(file);
    }
}
END_TEST

START_TEST(tokens_llmc_refusals)
{
    const uint32_t ids[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    char *file = llmc_file(20240520, 1, 8, ids, 8, 2);
    /* Truncated in the header, then in the ids. */
    ck_assert_int_eq(truncate(file, 1000), 0);
    expect_token_refusal(file, "",
        " is too short for llm.c's token file: 1000 bytes, the header "
        "alone is 1024");
    expect_token_refusal(llmc_file(20240520, 1, 8, ids, 7, 2), "",
        ": the header says 8 ids (16 bytes after it), the file has 14 bytes "
        "after it");
    expect_token_refusal(llmc_file(20240801, 7, 8, ids, 7, 4), "",
        ": the header says 8 ids (32 bytes after it), the file has 28 bytes "
        "after it");
    /* uint32 ids where the magic says uint16: twice the bytes. */
    expect_token_refusal(llmc_file(20240520, 1, 8, ids, 8, 4), "",
        ": the header says 8 ids (16 bytes after it), the file has 32 bytes "
        "after it");
    expect_token_refusal(llmc_file(20240520, 1, -3, ids, 8, 2), "",
        ": the header's count of ids is negative (-3)");
    /* Wrong versions, and a magic of neither. */
    expect_token_refusal(llmc_file(20240520, 7, 8, ids, 8, 2), "",
        ": llm.c's magic 20240520 comes with version 1 (uint16 ids, GPT-2), "
        "the header says version 7");
    expect_token_refusal(llmc_file(20240801, 1, 8, ids, 8, 4), "",
        ": llm.c's magic 20240801 comes with version 7 (uint32 ids, Llama "
        "3), the header says version 1");
    expect_token_refusal(llmc_file(20240522, 1, 8, ids, 8, 2), "",
        " is not a token file: it begins with neither llm.c's magic "
        "(20240520 or 20240801, int32) nor PPTOKEN1");
    /* Ids beyond the vocab key, or beyond int32. */
    expect_token_refusal(llmc_file(20240520, 1, 8, ids, 8, 2),
        "vocab = 7\n", ": id 7 (at byte 1038) is 7, not below vocab = 7");
    const uint32_t big[4] = {1, 2147483647u, 2147483648u, 3};
    expect_token_refusal(llmc_file(20240801, 7, 4, big, 4, 4), "",
        ": id 2 (at byte 1032) is 2147483648, not below 2147483648 (ids are "
        "int32)");
    expect_token_refusal(llmc_file(20240520, 1, 8, ids, 8, 2),
        "length = 8\n", " has 8 ids; length = 8 needs at least 9");
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("data_sources");
    TCase *data = tcase_create("data");
    tcase_add_checked_fixture(data, setup, teardown);
    tcase_add_test(data, synthetic_deterministic);
    tcase_add_test(data, mixture_shapes_and_seed);
    tcase_add_test(data, mixture_learnable);
    tcase_add_test(data, sequence_next_token);
    tcase_add_test(data, synthetic_refusals);
    tcase_add_test(data, text_windows);
    tcase_add_test(data, text_refusals);
    tcase_add_test(data, tokens_windows);
    tcase_add_test(data, tokens_refusals);
    tcase_add_test(data, tokens_llmc_windows);
    tcase_add_test(data, tokens_llmc_refusals);
    suite_add_tcase(s, data);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
