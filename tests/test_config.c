/* tests/test_config.c - Check suite for the config file layer
 * (src/config_file.c), the key validator and getters (src/config_keys.c)
 * and the "did you mean" hint.
 *
 * Each case writes its INI text to a fresh temporary file, so the paths in
 * the messages differ from run to run: expected messages are written as
 * "LINE: message" and the file's path is put in front here. The schema is
 * made up for these tests; the model's own keys are tested by `pipette
 * check`.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pipette/tensor.h>

#include "config_file.h"

#define NO_MAX 0x1p63

static const pp_key layer_core[] = {
    {"type", PP_KEY_STRING, PP_KEY_REQUIRED, PP_NO_RANGE, NULL, NULL,
     "layer plugin name"},
    {"stage", PP_KEY_INT, 0, 0, NO_MAX, NULL, NULL, NULL},
    {0}};

static const pp_key layer_plugin[] = {
    {"units", PP_KEY_INT, PP_KEY_REQUIRED, 1, 1048576, NULL, NULL,
     "output features"},
    {"bias", PP_KEY_BOOL, 0, PP_NO_RANGE, NULL, "true", NULL},
    {"act", PP_KEY_ENUM, 0, PP_NO_RANGE, "relu|gelu|none", "none", NULL},
    {"kernel", PP_KEY_SHAPE, 0, PP_NO_RANGE, NULL, "3x3", NULL},
    {"rate", PP_KEY_FLOAT, PP_KEY_MIN_OPEN, 0, 1, NULL, "0.5", NULL},
    {"label", PP_KEY_STRING, PP_KEY_REQUIRED, PP_NO_RANGE, NULL, NULL, NULL},
    {"stage", PP_KEY_STRING, PP_KEY_REQUIRED, PP_NO_RANGE, NULL, NULL,
     "shadowed by the core's stage"},
    {"broken", PP_KEY_INT, 0, 1, 10, NULL, "0", NULL},
    {"nodefault", PP_KEY_INT, 0, PP_NO_RANGE, NULL, NULL, NULL},
    {0}};

static const pp_key train_core[] = {
    {"batch", PP_KEY_INT, PP_KEY_REQUIRED, 1, 1048576, NULL, NULL, NULL},
    {"lr", PP_KEY_FLOAT, PP_KEY_MIN_OPEN, 0, HUGE_VAL, NULL, "0.01", NULL},
    {"seed", PP_KEY_INT, 0, PP_NO_RANGE, NULL, "1", NULL},
    {"steps", PP_KEY_INT, 0, 1, NO_MAX, NULL, "100", NULL},
    {"warmup", PP_KEY_INT, 0, -NO_MAX, 5, NULL, NULL, NULL},
    {0}};

/* ---- helpers ---------------------------------------------------------- */

static char *write_tmp(const char *text)
{
    const char *dir = getenv("TMPDIR");
    char *path = malloc(4096);
    ck_assert_ptr_nonnull(path);
    snprintf(path, 4096, "%s/pp-config-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t len = strlen(text);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

/* Loads text; the file is removed again at once. */
static pp_status load(const char *text, pp_config **cfg, pp_error *err,
                      char *path, size_t size)
{
    char *tmp = write_tmp(text);
    snprintf(path, size, "%s", tmp);
    pp_error_clear(err);
    pp_status st = pp_config_load(tmp, cfg, err);
    unlink(tmp);
    free(tmp);
    return st;
}

/* "3: message\n5: other" -> "PATH:3: message\nPATH:5: other" */
static void with_path(const char *path, const char *lines, char *out,
                      size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (const char *p = lines; *p && used < size;) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        used += (size_t)snprintf(out + used, size - used, "%s%s:%.*s",
                                 used ? "\n" : "", path, n, p);
        p += n + (nl != NULL);
    }
}

static void expect_load_errors(const char *text, const char *lines)
{
    pp_config *cfg = (pp_config *)1;
    pp_error err;
    char path[4096], want[PP_ERROR_MAX];
    ck_assert_int_eq(load(text, &cfg, &err, path, sizeof path), PP_ERR_CONFIG);
    ck_assert_ptr_null(cfg);
    with_path(path, lines, want, sizeof want);
    ck_assert_str_eq(err.msg, want);
}

/* Loads text (which must load), validates every section against the test
 * schema and compares the messages. */
static void expect_check_errors(const char *text, const char *lines)
{
    pp_config *cfg;
    pp_error err;
    char path[4096], want[PP_ERROR_MAX];
    ck_assert_int_eq(load(text, &cfg, &err, path, sizeof path), PP_OK);
    pp_status st = PP_OK;
    for (size_t i = 0; i < cfg->nsections; i++) {
        pp_section *s = cfg->sections[i];
        bool layer = strcmp(s->kind, "layer") == 0;
        if (pp_section_validate(s, layer ? layer_core : train_core,
                                layer ? layer_plugin : NULL, &err) != PP_OK)
            st = PP_ERR_CONFIG;
    }
    pp_config_free(cfg);
    ck_assert_int_eq(st, *lines ? PP_ERR_CONFIG : PP_OK);
    with_path(path, lines, want, sizeof want);
    ck_assert_str_eq(err.msg, want);
}

/* ---- the file layer ---------------------------------------------------- */

START_TEST(test_happy_path)
{
    pp_config *cfg;
    pp_error err;
    char path[4096];
    const char *text =
        "\xEF\xBB\xBF; comment\r\n"
        "# another\r\n"
        "[model]\r\n"
        "name = mlp ; inline comment\r\n"
        "\r\n"
        "  [layer fc1]  ; comment after a header\n"
        "    type = dense\n"
        "\tunits: 128\n"
        "note = a;b # not a comment = still value\n"
        "[ layer   out.2-b ]\n"
        "type=dense\n"
        "[train];x\n"
        "batch = 32\n";
    ck_assert_int_eq(load(text, &cfg, &err, path, sizeof path), PP_OK);
    ck_assert_str_eq(err.msg, "");
    ck_assert_str_eq(cfg->path, path);
    ck_assert_uint_eq(cfg->nsections, 4);

    const char *kinds[] = {"model", "layer", "layer", "train"};
    const char *names[] = {"", "fc1", "out.2-b", ""};
    const int lines[] = {3, 6, 10, 12};
    for (size_t i = 0; i < 4; i++) {
        ck_assert_str_eq(pp_section_kind(cfg->sections[i]), kinds[i]);
        ck_assert_str_eq(pp_section_name(cfg->sections[i]), names[i]);
        ck_assert_int_eq(cfg->sections[i]->line, lines[i]);
        ck_assert_str_eq(cfg->sections[i]->file, path);
    }
    const pp_entry *e = pp_section_entry(cfg->sections[0], "name");
    ck_assert_str_eq(e->value, "mlp");
    ck_assert_int_eq(e->line, 4);
    pp_section *fc1 = cfg->sections[1];
    ck_assert_uint_eq(fc1->nentries, 3);
    ck_assert_str_eq(pp_section_entry(fc1, "type")->value, "dense");
    ck_assert_int_eq(pp_section_entry(fc1, "type")->line, 7);
    ck_assert_str_eq(pp_section_entry(fc1, "units")->value, "128");
    ck_assert_int_eq(pp_section_entry(fc1, "units")->line, 8);
    ck_assert_str_eq(pp_section_entry(fc1, "note")->value,
                     "a;b # not a comment = still value");
    ck_assert_ptr_null(pp_section_entry(fc1, "missing"));
    ck_assert_ptr_eq(pp_config_section(cfg, "layer"), fc1);
    ck_assert_ptr_eq(pp_config_section(cfg, "train"), cfg->sections[3]);
    ck_assert_ptr_null(pp_config_section(cfg, "data"));
    ck_assert_int_eq(pp_section_entry(cfg->sections[3], "batch")->line, 13);
    pp_config_free(cfg);
}
END_TEST

START_TEST(test_empty_file)
{
    pp_config *cfg;
    pp_error err;
    char path[4096];
    ck_assert_int_eq(load("", &cfg, &err, path, sizeof path), PP_OK);
    ck_assert_uint_eq(cfg->nsections, 0);
    pp_config_free(cfg);
}
END_TEST

/* inih's buffer is 200 bytes on Debian: 198 characters, '\n' and '\0'. */
START_TEST(test_line_length)
{
    char text[1024], value[512];
    memset(value, 'v', sizeof value);
    value[198 - 4] = '\0'; /* "k = " + 194 = 198 characters */
    snprintf(text, sizeof text, "[train]\nk = %s\nj = 1\n", value);
    pp_config *cfg;
    pp_error err;
    char path[4096];
    ck_assert_int_eq(load(text, &cfg, &err, path, sizeof path), PP_OK);
    ck_assert_uint_eq(strlen(pp_section_entry(cfg->sections[0], "k")->value),
                      194);
    ck_assert_int_eq(pp_section_entry(cfg->sections[0], "j")->line, 3);
    pp_config_free(cfg);

    /* One more: refused whole, and nothing of it leaks into a next line. */
    snprintf(text, sizeof text, "[train]\nk = %sv\nj = 1\nj = 2\n", value);
    expect_load_errors(text, "2: line is 199 characters long; the longest "
                             "allowed is 198\n"
                             "4: [train] j: duplicate key (first at line 3)");
    /* Indentation counts, and an over-long header drops its keys. */
    snprintf(text, sizeof text, "[train]\n     [layer %s]\nk = 1\nk = 2\n",
             value);
    expect_load_errors(text, "2: line is 207 characters long; the longest "
                             "allowed is 198");
}
END_TEST

START_TEST(test_nul_byte)
{
    char text[] = "[train]\nk = a_b\n";
    text[13] = '\0';
    pp_config *cfg;
    pp_error err;
    char want[4096];
    char *tmp = write_tmp("");
    FILE *f = fopen(tmp, "w");
    ck_assert_uint_eq(fwrite(text, 1, sizeof text - 1, f), sizeof text - 1);
    fclose(f);
    pp_error_clear(&err);
    ck_assert_int_eq(pp_config_load(tmp, &cfg, &err), PP_ERR_CONFIG);
    snprintf(want, sizeof want, "%s:2: line contains a NUL byte", tmp);
    ck_assert_str_eq(err.msg, want);
    unlink(tmp);
    free(tmp);
}
END_TEST

START_TEST(test_cannot_open)
{
    pp_config *cfg = (pp_config *)1;
    pp_error err;
    pp_error_clear(&err);
    ck_assert_int_eq(pp_config_load("/nonexistent/x.ini", &cfg, &err),
                     PP_ERR_IO);
    ck_assert_ptr_null(cfg);
    ck_assert_str_eq(err.msg, "/nonexistent/x.ini: cannot open: No such file "
                              "or directory");
}
END_TEST

/* Only a regular file is read, and no more than 64 MiB of it: a FIFO is
 * refused at once (opened without waiting for a writer), a device such
 * as /dev/zero without reading it. */
START_TEST(test_not_regular)
{
    pp_config *cfg = (pp_config *)1;
    pp_error err;
    pp_error_clear(&err);
    ck_assert_int_eq(pp_config_load("/", &cfg, &err), PP_ERR_IO);
    ck_assert_ptr_null(cfg);
    ck_assert_str_eq(err.msg, "/: is a directory; a model file must be a "
                              "regular file");
    pp_error_clear(&err);
    ck_assert_int_eq(pp_config_load("/dev/zero", &cfg, &err), PP_ERR_IO);
    ck_assert_str_eq(err.msg, "/dev/zero: is a character device; a model "
                              "file must be a regular file");
    char *fifo = write_tmp("");
    unlink(fifo);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    pp_error_clear(&err);
    ck_assert_int_eq(pp_config_load(fifo, &cfg, &err), PP_ERR_IO);
    char want[4200];
    snprintf(want, sizeof want, "%s: is a FIFO; a model file must be a "
             "regular file", fifo);
    ck_assert_str_eq(err.msg, want);
    unlink(fifo);
    /* One byte over the bound (a sparse file: nothing is written). */
    char *big = write_tmp("");
    ck_assert_int_eq(truncate(big, PP_MODEL_FILE_MAX + 1), 0);
    pp_error_clear(&err);
    ck_assert_int_eq(pp_config_load(big, &cfg, &err), PP_ERR_IO);
    snprintf(want, sizeof want, "%s: is 67108865 bytes; a model file is at "
             "most 64 MiB (a [repeat] group writes out copies of layers: a "
             "file needs no more)", big);
    ck_assert_str_eq(err.msg, want);
    unlink(big);
    free(fifo);
    free(big);
}
END_TEST

static const struct {
    const char *text, *errors;
} bad_files[] = {
    {"[train]\nbatch = 1\n[train]\n",
     "3: duplicate section [train] (first at line 1)"},
    {"[layer a]\n[layer b]\n\n[layer a]\n",
     "4: duplicate section [layer a] (first at line 1)"},
    {"[layer]\n[layer]\n", "1: section [layer] needs a name, as in [layer fc1]\n"
                           "2: section [layer] needs a name, as in [layer fc1]"},
    {"[layer fc 1]\n[layer f/c]\n",
     "1: invalid layer name 'fc 1': use letters, digits, '_', '.' and '-'\n"
     "2: invalid layer name 'f/c': use letters, digits, '_', '.' and '-'"},
    {"[trian]\n", "1: unknown section [trian]; did you mean [train]?"},
    {"[Model]\n", "1: unknown section [Model]; did you mean [model]?"},
    {"[layr fc1]\n", "1: unknown section [layr fc1]; did you mean [layer fc1]?"},
    {"[lyer]\n", "1: unknown section [lyer]; did you mean [layer NAME]?"},
    {"[trainn x]\n", "1: unknown section [trainn x]; did you mean [train]?"},
    {"[optimizer]\n", "1: unknown section [optimizer]; sections are [model], "
                      "[layer NAME], [repeat NAME], [pipeline], [parallel], [train] and "
                      "[data]"},
    {"[rpeat h]\n", "1: unknown section [rpeat h]; did you mean [repeat h]?"},
    {"[repeat]\n", "1: section [repeat] needs a name, as in [repeat h]"},
    {"[repeat h]\n[repeat h/2]\n[repeat h]\n",
     "2: invalid repeat name 'h/2': use letters, digits, '_', '.' and '-'\n"
     "3: duplicate section [repeat h] (first at line 1)"},
    {"[train\nbatch = 1\nbatch = 2\n",
     "1: section header '[train' has no closing ']'"},
    {"[]\nx = 1\n", "1: empty section header '[]'"},
    {"[train] # no\nbatch = 1\nbatch = 1\n",
     "1: unexpected text after ']': '# no'\n"
     "3: [train] batch: duplicate key (first at line 2)"},
    {"[train x]\n[train]\n", "1: section [train] takes no name, got 'x'\n"
                             "2: duplicate section [train] (first at line 1)"},
    {"a = 1\nb = 2\n[train]\n",
     "1: key 'a' comes before any [section] header"},
    {"[train]\nbatch = 1\n\n; c\nbatch = 2\n",
     "5: [train] batch: duplicate key (first at line 2)"},
    {"[trian]\nx = 1\nx = 2\n",
     "1: unknown section [trian]; did you mean [train]?\n"
     "3: [trian] x: duplicate key (first at line 2)"},
    {"[layer a]\nunits =\nact = ; comment\n",
     "2: [layer a] units: expected a value\n3: [layer a] act: expected a value"},
    {"[train]\nBatch = 1\nbatch size = 2\n",
     "2: [train] Batch: invalid key name; keys are lower-case letters, digits "
     "and '_'\n"
     "3: [train] batch size: invalid key name; keys are lower-case letters, "
     "digits and '_'"},
    {"[train]\n= 1\n  : 2\n", "2: missing key name before '='\n"
                              "3: missing key name before ':'"},
    {"[train]\nbatch\n", "2: expected 'key = value', a [section] header or a "
                         "comment, got 'batch'"},
    {"[train]\n  batch\n", "2: expected 'key = value', a [section] header or "
                           "a comment, got 'batch'"},
    {"[train]\nfoo ; = 1\n", "2: expected 'key = value', a [section] header "
                             "or a comment, got 'foo ; = 1'"},
    {"[train]\nlog = a\n  b   \n\n\tc\n[data]\n  d\n",
     "3: this indented line looks like a continuation of 'log' (line 2); "
     "multi-line values are not supported\n"
     "5: this indented line looks like a continuation of 'log' (line 2); "
     "multi-line values are not supported\n"
     "7: expected 'key = value', a [section] header or a comment, got 'd'"},
    /* Every error of the file, in one pass, each at its own line. */
    {"x = 1\n[model]\n[trian]\n[model]\na = \n[layer]\nb\n",
     "1: key 'x' comes before any [section] header\n"
     "3: unknown section [trian]; did you mean [train]?\n"
     "4: duplicate section [model] (first at line 2)\n"
     "5: [model] a: expected a value\n"
     "6: section [layer] needs a name, as in [layer fc1]\n"
     "7: expected 'key = value', a [section] header or a comment, got 'b'"},
};

START_TEST(test_bad_file)
{
    expect_load_errors(bad_files[_i].text, bad_files[_i].errors);
}
END_TEST

/* ---- validation --------------------------------------------------------- */

static const struct {
    const char *text, *errors;
} bad_values[] = {
    {"[layer a]\ntype = d\nunits = 1\nlabel = x\nstage = 0\n", ""},
    {"[layer a]\n", "1: [layer a] missing required key 'type' (layer plugin "
                    "name)\n"
                    "1: [layer a] missing required key 'units' (output "
                    "features)\n"
                    "1: [layer a] missing required key 'label'"},
    {"[train]\nbatch = 1\nbach = 2\nstpes = 3\nfoo = 4\n",
     "3: [train] bach: unknown key; did you mean 'batch'?\n"
     "4: [train] stpes: unknown key; did you mean 'steps'?\n"
     "5: [train] foo: unknown key; known keys are batch, lr, seed, steps, "
     "warmup"},
    {"[train]\nbatch = 12abc\n",
     "2: [train] batch: expected an integer from 1 to 1048576, got '12abc'"},
    {"[train]\nbatch = 1e3\n",
     "2: [train] batch: expected an integer from 1 to 1048576, got '1e3'"},
    {"[train]\nbatch = 0\n",
     "2: [train] batch: expected an integer from 1 to 1048576, got '0'"},
    {"[train]\nbatch = 1048577\n",
     "2: [train] batch: expected an integer from 1 to 1048576, got '1048577'"},
    {"[train]\nbatch = 99999999999999999999\n",
     "2: [train] batch: expected an integer from 1 to 1048576, got "
     "'99999999999999999999'"},
    {"[train]\nbatch = 1\nsteps = 0\nseed = x\nwarmup = 6\nlr = 0\n",
     "3: [train] steps: expected an integer of at least 1, got '0'\n"
     "4: [train] seed: expected an integer, got 'x'\n"
     "5: [train] warmup: expected an integer of at most 5, got '6'\n"
     "6: [train] lr: expected a number greater than 0, got '0'"},
    {"[train]\nbatch = 1\nlr = nan\n",
     "3: [train] lr: expected a number greater than 0, got 'nan'"},
    {"[train]\nbatch = 1\nlr = inf\n",
     "3: [train] lr: expected a number greater than 0, got 'inf'"},
    {"[train]\nbatch = 1\nlr = 0x1p3\n",
     "3: [train] lr: expected a number greater than 0, got '0x1p3'"},
    {"[train]\nbatch = 1\nlr = 1e999\n",
     "3: [train] lr: expected a number greater than 0, got '1e999'"},
    {"[layer a]\ntype = d\nunits = 1\nlabel = x\nrate = 1.5\nbias = maybe\n"
     "act = relu6\nkernel = 3x0\nstage = last\n",
     "5: [layer a] rate: expected a number greater than 0 and at most 1, got "
     "'1.5'\n"
     "6: [layer a] bias: expected true or false (or yes/no, on/off, 1/0), got "
     "'maybe'\n"
     "7: [layer a] act: expected one of relu, gelu, none, got 'relu6'; did "
     "you mean 'relu'?\n"
     "8: [layer a] kernel: expected a shape such as 784 or 3x32x32 (at most 8 "
     "dimensions, each at least 1), got '3x0'\n"
     "9: [layer a] stage: expected an integer of at least 0, got 'last'"},
    {"[layer a]\ntype = d\nunits = 1\nlabel = x\nact = sigmoid\n",
     "5: [layer a] act: expected one of relu, gelu, none, got 'sigmoid'"},
};

START_TEST(test_bad_values)
{
    expect_check_errors(bad_values[_i].text, bad_values[_i].errors);
}
END_TEST

/* A section of the test schema, validated; freed by the caller via cfg. */
static pp_section *layer_section(const char *text, pp_config **cfg)
{
    pp_error err;
    char path[4096];
    ck_assert_int_eq(load(text, cfg, &err, path, sizeof path), PP_OK);
    pp_section *s = (*cfg)->sections[0];
    ck_assert_int_eq(pp_section_validate(s, layer_core, layer_plugin, &err),
                     PP_OK);
    return s;
}

START_TEST(test_getters)
{
    pp_config *cfg;
    pp_section *s = layer_section("[layer fc1]\ntype = dense\nunits = 64\n"
                                  "label = x\nbias = off\nact = gelu\n"
                                  "stage = 2\n", &cfg);
    pp_error err;
    pp_error_clear(&err);
    int64_t i;
    double f;
    bool b;
    const char *str;
    pp_shape shape;
    ck_assert_int_eq(pp_section_int(s, "units", &i, &err), PP_OK);
    ck_assert_int_eq(i, 64);
    ck_assert_int_eq(pp_section_int(s, "stage", &i, &err), PP_OK);
    ck_assert_int_eq(i, 2);
    ck_assert_int_eq(pp_section_bool(s, "bias", &b, &err), PP_OK);
    ck_assert(!b);
    ck_assert_int_eq(pp_section_string(s, "act", &str, &err), PP_OK);
    ck_assert_str_eq(str, "gelu");
    ck_assert_int_eq(pp_section_string(s, "type", &str, &err), PP_OK);
    ck_assert_str_eq(str, "dense");
    /* Defaults. */
    ck_assert_int_eq(pp_section_float(s, "rate", &f, &err), PP_OK);
    ck_assert_double_eq(f, 0.5);
    ck_assert_int_eq(pp_section_shape(s, "kernel", &shape, &err), PP_OK);
    ck_assert_int_eq(shape.ndim, 2);
    ck_assert_int_eq(shape.dim[0] * shape.dim[1], 9);
    ck_assert(pp_section_has(s, "units"));
    ck_assert(!pp_section_has(s, "kernel"));
    ck_assert_str_eq(err.msg, "");

    /* The plugin's bugs. */
    ck_assert_int_eq(pp_section_int(s, "width", &i, &err), PP_ERR_PLUGIN);
    ck_assert_str_eq(err.msg, "plugin asked for key 'width' which [layer "
                              "fc1] does not declare");
    pp_error_clear(&err);
    ck_assert_int_eq(pp_section_int(s, "nodefault", &i, &err), PP_ERR_PLUGIN);
    ck_assert_str_eq(err.msg, "plugin asked for key 'nodefault' of [layer "
                              "fc1], which has no value and no default");
    pp_error_clear(&err);
    ck_assert_int_eq(pp_section_float(s, "units", &f, &err), PP_ERR_PLUGIN);
    ck_assert_str_eq(err.msg, "plugin asked for key 'units' of [layer fc1] "
                              "as a number, but it is declared as an integer");
    pp_error_clear(&err);
    ck_assert_int_eq(pp_section_int(s, "broken", &i, &err), PP_ERR_PLUGIN);
    ck_assert_str_eq(err.msg, "plugin's default for key 'broken' of [layer "
                              "fc1] is invalid: expected an integer from 1 "
                              "to 10, got '0'");
    pp_config_free(cfg);
}
END_TEST

START_TEST(test_section_error)
{
    pp_config *cfg;
    pp_error err;
    char path[4096], want[PP_ERROR_MAX];
    ck_assert_int_eq(load("\n[layer fc1]\ntype = d\n\nunits = 3\n[train]\n",
                          &cfg, &err, path, sizeof path), PP_OK);
    pp_section *fc1 = cfg->sections[0], *train = cfg->sections[1];
    ck_assert_int_eq(pp_section_error(fc1, "units", &err, "%d is odd", 3),
                     PP_ERR_CONFIG);
    pp_section_error(fc1, "bias", &err, "absent key");
    pp_section_error(fc1, NULL, &err, "no key");
    pp_section_error(train, "lr", &err, "unnamed");
    ck_assert_int_eq(err.code, PP_ERR_CONFIG);
    ck_assert_uint_eq(err.count, 4);
    with_path(path, "5: [layer fc1] units: 3 is odd\n"
                    "2: [layer fc1] bias: absent key\n"
                    "2: [layer fc1] no key\n"
                    "6: [train] lr: unnamed", want, sizeof want);
    ck_assert_str_eq(err.msg, want);
    pp_config_free(cfg);
}
END_TEST

/* ---- parse helpers and hints -------------------------------------------- */

START_TEST(test_parse_int)
{
    static const struct { const char *text; int64_t value; } good[] = {
        {"0", 0}, {"-0", 0}, {"+5", 5}, {"007", 7}, {"-12", -12},
        {"9223372036854775807", INT64_MAX},
        {"-9223372036854775808", INT64_MIN}};
    static const char *const bad[] = {
        "", "-", "+", " 5", "5 ", "0x10", "1e3", "1.0", "12abc", "--1",
        "9223372036854775808", "-9223372036854775809"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        int64_t v = 42;
        ck_assert_int_eq(pp_parse_int(good[i].text, &v), 0);
        ck_assert_int_eq(v, good[i].value);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t v = 42;
        ck_assert_msg(pp_parse_int(bad[i], &v) != 0, "accepted '%s'", bad[i]);
        ck_assert_int_eq(v, 42);
    }
}
END_TEST

START_TEST(test_parse_float)
{
    static const struct { const char *text; double value; } good[] = {
        {"1", 1}, {"-2.5", -2.5}, {"1e-3", 1e-3}, {".5", .5}, {"5.", 5},
        {"+1E2", 100}, {"-0", 0}, {"1e-400", 0}};
    static const char *const bad[] = {
        "", "nan", "NaN", "inf", "-infinity", "1e999", "0x1p3", " 1", "1 ",
        "1e", "e1", ".", "1.2.3", "1,5", "--1"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        double v = 42;
        ck_assert_int_eq(pp_parse_float(good[i].text, &v), 0);
        ck_assert_double_eq_tol(v, good[i].value, 1e-300);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double v = 42;
        ck_assert_msg(pp_parse_float(bad[i], &v) != 0, "accepted '%s'",
                      bad[i]);
    }
}
END_TEST

START_TEST(test_parse_bool)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    static const char *const bad[] = {"", "True", "YES", "2", "y", "onn"};
    bool b;
    for (size_t i = 0; i < 4; i++) {
        ck_assert_int_eq(pp_parse_bool(yes[i], &b), 0);
        ck_assert(b);
        ck_assert_int_eq(pp_parse_bool(no[i], &b), 0);
        ck_assert(!b);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(pp_parse_bool(bad[i], &b) != 0, "accepted '%s'", bad[i]);
}
END_TEST

START_TEST(test_parse_shape)
{
    pp_shape s;
    char buf[64];
    ck_assert_int_eq(pp_parse_shape("784", &s), 0);
    ck_assert_int_eq(s.ndim, 1);
    ck_assert_int_eq(s.dim[0], 784);
    ck_assert_int_eq(pp_parse_shape("3x32x32", &s), 0);
    ck_assert_str_eq(pp_shape_format(&s, buf, sizeof buf), "3x32x32");
    ck_assert_int_eq(pp_parse_shape("1x1x1x1x1x1x1x1", &s), 0);
    ck_assert_int_eq(s.ndim, PP_MAX_DIMS);
    static const char *const bad[] = {
        "", "0", "3x0", "x3", "3x", "3xx3", "3X3", "-3", "+3", " 3", "3 x 3",
        "1x1x1x1x1x1x1x1x1", "2.5", "4294967296x4294967296"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(pp_parse_shape(bad[i], &s) != 0, "accepted '%s'",
                      bad[i]);
    /* A shape whose elements overflow is told from one that is no shape. */
    ck_assert_int_eq(pp_parse_shape("4294967296x4294967296", &s), -2);
    ck_assert_int_eq(pp_parse_shape("3x", &s), -1);
    /* Sizes past 64 bits say the most they can, never a wrapped one. */
    pp_tensor_desc huge = {PP_F32, {2, {4294967296, 4294967296}}};
    ck_assert_int_eq(pp_shape_elements(&huge.shape), INT64_MAX);
    ck_assert_uint_eq(pp_tensor_bytes(&huge), SIZE_MAX);
    huge.shape = (pp_shape){1, {(int64_t)1 << 62}};
    ck_assert_uint_eq(pp_tensor_bytes(&huge), SIZE_MAX);
}
END_TEST

START_TEST(test_did_you_mean)
{
    static const char *const kinds[] = {"model", "layer", "pipeline", "train",
                                        "data"};
    static const char *const keys[] = {"batch_size", "seed", "steps", "type",
                                       "units", "ab", "ac"};
    ck_assert_str_eq(pp_did_you_mean("trian", kinds, 5), "train");
    ck_assert_str_eq(pp_did_you_mean("pipline", kinds, 5), "pipeline");
    ck_assert_str_eq(pp_did_you_mean("batchsize", keys, 7), "batch_size");
    ck_assert_str_eq(pp_did_you_mean("tpye", keys, 7), "type");
    ck_assert_str_eq(pp_did_you_mean("unit", keys, 7), "units");
    ck_assert_str_eq(pp_did_you_mean("aa", keys, 7), "ab"); /* tie: first */
    ck_assert_ptr_null(pp_did_you_mean("lr", keys, 7));
    ck_assert_ptr_null(pp_did_you_mean("x", (const char *const[]){"y"}, 1));
    ck_assert_ptr_null(pp_did_you_mean("", kinds, 5));
    ck_assert_ptr_null(pp_did_you_mean("optimizer", kinds, 5));
    ck_assert_ptr_null(pp_did_you_mean("trian", kinds, 0));
    char longword[80];
    memset(longword, 'a', sizeof longword - 1);
    longword[sizeof longword - 1] = '\0';
    ck_assert_ptr_null(pp_did_you_mean(longword, kinds, 5));
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *file = tcase_create("file");
    tcase_add_test(file, test_happy_path);
    tcase_add_test(file, test_empty_file);
    tcase_add_test(file, test_line_length);
    tcase_add_test(file, test_nul_byte);
    tcase_add_test(file, test_cannot_open);
    tcase_add_test(file, test_not_regular);
    tcase_add_loop_test(file, test_bad_file, 0,
                        sizeof bad_files / sizeof bad_files[0]);
    suite_add_tcase(s, file);
    TCase *keys = tcase_create("keys");
    tcase_add_loop_test(keys, test_bad_values, 0,
                        sizeof bad_values / sizeof bad_values[0]);
    tcase_add_test(keys, test_getters);
    tcase_add_test(keys, test_section_error);
    suite_add_tcase(s, keys);
    TCase *parse = tcase_create("parse");
    tcase_add_test(parse, test_parse_int);
    tcase_add_test(parse, test_parse_float);
    tcase_add_test(parse, test_parse_bool);
    tcase_add_test(parse, test_parse_shape);
    tcase_add_test(parse, test_did_you_mean);
    suite_add_tcase(s, parse);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
