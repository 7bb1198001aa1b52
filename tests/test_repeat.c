/* tests/test_repeat.c - Check suite for [repeat] groups (src/repeat.c):
 * the copies' names, references and line numbers; a group makes the model
 * its copies written out by hand would; a mistake in a template is said
 * once, a copy's own mistake for that copy. The messages of groups that
 * are wrong are in tests/check (repeat_*.ini).
 */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"

/* Writes text to a fresh file; returns its path (to free and unlink). */
static char *write_tmp(const char *text)
{
    const char *dir = getenv("TMPDIR");
    char *path = malloc(4096);
    ck_assert_ptr_nonnull(path);
    snprintf(path, 4096, "%s/pp-repeat-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t len = strlen(text);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

/* Loads and expands text, which must expand. */
static pp_config *expanded(const char *text)
{
    char *path = write_tmp(text);
    pp_config *cfg;
    pp_error err;
    pp_error_clear(&err);
    ck_assert_msg(pp_config_load(path, &cfg, &err) == PP_OK, "%s", err.msg);
    ck_assert_msg(pp_config_expand(cfg, &err) == PP_OK, "%s", err.msg);
    unlink(path);
    free(path);
    return cfg;
}

/* Line numbers:      1 */
static const char group_text[] =
    "[model]\n"                                   /* 1 */
    "input = 8\n"
    "input_type = int\n"
    "[layer embed]\n"                             /* 4 */
    "type = embedding\nvocab = 16\ndim = 12\n"
    "[repeat h]\n"                                /* 8 */
    "count = 2\n"
    "[layer h.ln]\n"                              /* 10 */
    "type = layernorm\n"
    "[layer h.fc]\n"                              /* 12 */
    "type = linear\nunits = 12\n"
    "[layer h.tie]\n"                             /* 15 */
    "type = linear\nunits = 12\n"
    "share = weight:h.fc.weight\n"                /* 18 */
    "[layer h.res]\n"                             /* 19 */
    "type = add\n"
    "inputs = h.tie,h\n"                          /* 21 */
    "[layer head]\n"                              /* 22 */
    "type = linear\nunits = 16\nbias = false\n"
    "share = weight:embed.weight\n"
    "inputs = h\n"                                /* 27 */
    "[layer loss]\n"
    "type = softmax_xent\n";

/* The same model, written out. */
static const char by_hand_text[] =
    "[model]\ninput = 8\ninput_type = int\n"
    "[layer embed]\ntype = embedding\nvocab = 16\ndim = 12\n"
    "[layer h.0.ln]\ntype = layernorm\n"
    "[layer h.0.fc]\ntype = linear\nunits = 12\n"
    "[layer h.0.tie]\ntype = linear\nunits = 12\n"
    "share = weight:h.0.fc.weight\n"
    "[layer h.0.res]\ntype = add\ninputs = h.0.tie, embed\n"
    "[layer h.1.ln]\ntype = layernorm\n"
    "[layer h.1.fc]\ntype = linear\nunits = 12\n"
    "[layer h.1.tie]\ntype = linear\nunits = 12\n"
    "share = weight:h.1.fc.weight\n"
    "[layer h.1.res]\ntype = add\ninputs = h.1.tie, h.0.res\n"
    "[layer head]\ntype = linear\nunits = 16\nbias = false\n"
    "share = weight:embed.weight\n"
    "[layer loss]\ntype = softmax_xent\n";

START_TEST(test_expand)
{
    pp_config *cfg = expanded(group_text);
    static const struct {
        const char *name;
        int line, copy;
        const char *key, *value; /* NULL: no inputs or share */
        int value_line;
    } want[] = {
        {"embed", 4, 0, NULL, NULL, 0},
        {"h.0.ln", 10, 0, NULL, NULL, 0},
        {"h.0.fc", 12, 0, NULL, NULL, 0},
        {"h.0.tie", 15, 0, "share", "weight:h.0.fc.weight", 18},
        {"h.0.res", 19, 0, "inputs", "h.0.tie, embed", 21},
        {"h.1.ln", 10, 1, NULL, NULL, 0},
        {"h.1.fc", 12, 1, NULL, NULL, 0},
        {"h.1.tie", 15, 1, "share", "weight:h.1.fc.weight", 18},
        {"h.1.res", 19, 1, "inputs", "h.1.tie, h.0.res", 21},
        {"head", 22, 0, "inputs", "h.1.res", 27},
        {"loss", 28, 0, NULL, NULL, 0},
    };
    size_t n = sizeof want / sizeof want[0];
    ck_assert_uint_eq(cfg->nsections, n + 1);
    ck_assert_str_eq(cfg->sections[0]->kind, "model");
    for (size_t i = 0; i < n; i++) {
        const pp_section *s = cfg->sections[i + 1];
        ck_assert_str_eq(s->kind, "layer");
        ck_assert_str_eq(s->name, want[i].name);
        ck_assert_int_eq(s->line, want[i].line);
        ck_assert_str_eq(s->file, cfg->path);
        bool copy = strncmp(want[i].name, "h.", 2) == 0;
        if (copy) {
            ck_assert_str_eq(s->repeat, "h");
            ck_assert_int_eq(s->copy, want[i].copy);
        } else {
            ck_assert_ptr_null(s->repeat);
        }
        /* The keys the plugin reads are copied as written. */
        const pp_entry *type = pp_section_entry(s, "type");
        ck_assert_ptr_nonnull(type);
        if (!want[i].key)
            continue;
        const pp_entry *e = pp_section_entry(s, want[i].key);
        ck_assert_ptr_nonnull(e);
        ck_assert_str_eq(e->value, want[i].value);
        ck_assert_int_eq(e->line, want[i].value_line);
    }
    const pp_entry *units = pp_section_entry(cfg->sections[7], "units");
    ck_assert_str_eq(units->value, "12");
    ck_assert_int_eq(units->line, 14);
    pp_config_free(cfg);
}
END_TEST

/* Copy 0 takes what the model starts with when nothing comes before the
 * group; a first layer without inputs takes the previous copy's last;
 * h after the group, and in the next group, is the last copy's last. */
START_TEST(test_entering)
{
    pp_config *cfg = expanded(
        "[repeat a]\ncount = 3\n"
        "[layer a.x]\ntype = t\n"
        "[layer a.y]\ntype = t\ninputs = a, a.x\n"
        "[repeat b]\ncount = 1\n"
        "[layer b.z]\ntype = t\ninputs = a, b\nshare = w:a.w,v:b.v,u:c0.u\n"
        "[layer c]\ntype = t\ninputs = b, a.2.x, a.0.y\n");
    static const char *const want[][2] = {
        {"a.0.x", NULL}, {"a.0.y", "input, a.0.x"},
        {"a.1.x", NULL}, {"a.1.y", "a.0.y, a.1.x"},
        {"a.2.x", NULL}, {"a.2.y", "a.1.y, a.2.x"},
        {"b.0.z", "a.2.y, a.2.y"}, {"c", "b.0.z, a.2.x, a.0.y"},
    };
    ck_assert_uint_eq(cfg->nsections, 8);
    for (size_t i = 0; i < 8; i++) {
        const pp_section *s = cfg->sections[i];
        ck_assert_str_eq(s->name, want[i][0]);
        const pp_entry *e = pp_section_entry(s, "inputs");
        if (want[i][1])
            ck_assert_str_eq(e->value, want[i][1]);
        else
            ck_assert_ptr_null(e);
    }
    ck_assert_str_eq(pp_section_entry(cfg->sections[6], "share")->value,
                     "w:a.2.y.w, v:a.2.y.v, u:c0.u");
    pp_config_free(cfg);
}
END_TEST

/* A group that is wrong leaves the file as read. */
START_TEST(test_refused_unchanged)
{
    char *path = write_tmp("[layer x]\ntype = t\n[repeat h]\ncount = 2\n"
                           "[layer h.a]\ntype = t\ninputs = h.b\n");
    pp_config *cfg;
    pp_error err;
    pp_error_clear(&err);
    ck_assert_int_eq(pp_config_load(path, &cfg, &err), PP_OK);
    ck_assert_int_eq(pp_config_expand(cfg, &err), PP_ERR_CONFIG);
    char want[4200];
    snprintf(want, sizeof want, "%s:7: [layer h.a] inputs: 'h.b' is not a "
             "layer of [repeat h] (line 3), whose layers are h.a", path);
    ck_assert_str_eq(err.msg, want);
    ck_assert_uint_eq(cfg->nsections, 3);
    ck_assert_str_eq(cfg->sections[1]->kind, "repeat");
    ck_assert_str_eq(cfg->sections[2]->name, "h.a");
    ck_assert_str_eq(pp_section_entry(cfg->sections[2], "inputs")->value,
                     "h.b");
    pp_config_free(cfg);
    unlink(path);
    free(path);
}
END_TEST

static pp_model *load_model(const char *text, pp_error *err)
{
    char *path = write_tmp(text);
    pp_model *m = NULL;
    pp_error_clear(err);
    pp_model_load(path, &m, err);
    unlink(path);
    free(path);
    return m;
}

/* The group's model is the written-out one: the same layers, plugins,
 * inputs, shares, parameters and shapes. */
START_TEST(test_same_model)
{
    pp_error err;
    pp_model *a = load_model(group_text, &err);
    ck_assert_msg(a, "%s", err.msg);
    pp_model *b = load_model(by_hand_text, &err);
    ck_assert_msg(b, "%s", err.msg);
    ck_assert_int_eq(a->nlayers, 11);
    ck_assert_int_eq(a->nlayers, b->nlayers);
    int shared = 0;
    for (int i = 0; i < a->nlayers; i++) {
        const pp_model_layer *x = &a->layers[i], *y = &b->layers[i];
        ck_assert_str_eq(x->name, y->name);
        ck_assert_str_eq(x->plugin->desc->name, y->plugin->desc->name);
        ck_assert_int_eq(x->nin, y->nin);
        for (int k = 0; k < x->nin; k++)
            ck_assert_int_eq(x->input[k], y->input[k]);
        ck_assert_int_eq(x->plan.nparams, y->plan.nparams);
        for (int p = 0; p < x->plan.nparams; p++) {
            ck_assert_int_eq(x->owner[p].layer, y->owner[p].layer);
            ck_assert_int_eq(x->owner[p].param, y->owner[p].param);
            shared += x->owner[p].layer != i;
            ck_assert_int_eq(pp_shape_elements(&x->plan.params[p].shape),
                             pp_shape_elements(&y->plan.params[p].shape));
        }
        ck_assert_int_eq(pp_shape_elements(&x->plan.out.shape),
                         pp_shape_elements(&y->plan.out.shape));
        ck_assert_int_eq(x->plan.is_loss, y->plan.is_loss);
    }
    ck_assert_int_eq(shared, 3); /* h.0.tie, h.1.tie, head */
    ck_assert_str_eq(a->tensors[a->layers[4].input[1]].name, "embed");
    ck_assert_str_eq(a->tensors[a->layers[8].input[1]].name, "h.0.res");
    pp_model_free(a);
    pp_model_free(b);
}
END_TEST

/* A mistake in a template is said once, at the template's line, for the
 * first copy; every copy is still refused. */
START_TEST(test_template_mistake_once)
{
    pp_error err;
    char text[sizeof group_text + 16];
    /* units = 12 of h.fc (line 14) becomes units = 0. */
    const char *at = strstr(group_text, "[layer h.fc]\ntype = linear\nunits = 12");
    ck_assert_ptr_nonnull(at);
    size_t cut = (size_t)(at - group_text) + strlen("[layer h.fc]\ntype = "
                                                    "linear\nunits = ");
    snprintf(text, sizeof text, "%.*s0%s", (int)cut, group_text,
             group_text + cut + 2);
    pp_model *m = load_model(text, &err);
    ck_assert_ptr_null(m);
    ck_assert_int_eq(err.code, PP_ERR_CONFIG);
    ck_assert_uint_eq(err.count, 1);
    ck_assert_ptr_nonnull(strstr(err.msg, ":14: [layer h.0.fc] units: "));
}
END_TEST

/* What a copy says about what entered it differs from copy 0's, and from
 * copy 1 on the same again: copies 0 and 1 are said, not 2 and 3. */
START_TEST(test_copy_mistakes)
{
    pp_config *cfg = expanded("[layer x]\ntype = t\n[repeat h]\ncount = 4\n"
                              "[layer h.a]\ntype = t\n[layer h.b]\ntype = t\n");
    pp_error err;
    pp_error_clear(&err);
    const char *entering = "x";
    char prev[64];
    for (size_t i = 1; i < cfg->nsections; i += 2) {
        const pp_section *a = cfg->sections[i], *b = cfg->sections[i + 1];
        pp_section_error(a, "type", &err, "takes %s", entering);
        pp_section_error(a, NULL, &err, "no good");
        snprintf(prev, sizeof prev, "%s", b->name);
        entering = prev;
    }
    /* Only NAME.N. as a whole name is a copy number. */
    pp_section_error(cfg->sections[2], NULL, &err, "see h.0.b");
    pp_section_error(cfg->sections[8], NULL, &err, "see gh.3.b");
    char want[4096];
    const char *p = cfg->path;
    snprintf(want, sizeof want,
             "%s:6: [layer h.0.a] type: takes x\n"
             "%s:5: [layer h.0.a] no good\n"
             "%s:6: [layer h.1.a] type: takes h.0.b\n"
             "%s:7: [layer h.0.b] see h.0.b\n"
             "%s:7: [layer h.3.b] see gh.3.b", p, p, p, p, p);
    ck_assert_str_eq(err.msg, want);
    ck_assert_uint_eq(err.count, 5);
    pp_config_free(cfg);
}
END_TEST

static Suite *repeat_suite(void)
{
    Suite *s = suite_create("repeat");
    TCase *t = tcase_create("expand");
    tcase_add_test(t, test_expand);
    tcase_add_test(t, test_entering);
    tcase_add_test(t, test_refused_unchanged);
    tcase_add_test(t, test_copy_mistakes);
    suite_add_tcase(s, t);
    TCase *m = tcase_create("model");
    tcase_set_timeout(m, 30);
    tcase_add_test(m, test_same_model);
    tcase_add_test(m, test_template_mistake_once);
    suite_add_tcase(s, m);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(repeat_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
