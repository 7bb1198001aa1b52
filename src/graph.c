/* src/graph.c - the model as a graph of named tensors.
 *
 * Tensor 0 is [model] input; tensor i + 1 is layer i's output, named after
 * the layer. A layer takes the tensors its `inputs` key names (default:
 * the previous layer's output), each made above it in the file, so the
 * file's order is an order to compute them in and the graph has no
 * cycles. A layer may use another's parameter (`share = weight:embed.
 * weight`): the owner declares and initialises it, every user gets its
 * gradient. Once the layers are cut into stages, the tensors that cross a
 * cut are that cut's set: they travel to the next stage beside each other,
 * and a tensor that skips stages passes through the ones between.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"

/* The index of the layer named name, or -1. */
static int layer_named(const pp_model *m, const char *name)
{
    for (int i = 0; i < m->nlayers; i++)
        if (strcmp(m->layers[i].name, name) == 0)
            return i;
    return -1;
}

/* The tensors a layer before `upto` may take, for "did you mean". */
static const char *closest_tensor(const pp_model *m, int upto,
                                  const char *name)
{
    const char **names = malloc((size_t)(upto + 1) * sizeof *names);
    if (!names)
        return NULL;
    names[0] = "input";
    for (int i = 0; i < upto; i++)
        names[i + 1] = m->layers[i].name;
    const char *best = pp_did_you_mean(name, names, (size_t)upto + 1);
    free(names);
    return best;
}

/* The tensor id of `name` as an input of layer `user`, or -1 after saying
 * why it cannot be. */
static int resolve(pp_model *m, int user, const char *name, pp_error *err)
{
    const pp_model_layer *l = &m->layers[user];
    if (strcmp(name, "input") == 0)
        return 0;
    int i = layer_named(m, name);
    if (i == user) {
        pp_section_error(l->section, "inputs", err,
            "a layer cannot take its own output (that would be a cycle)");
        return -1;
    }
    if (i > user) {
        pp_section_error(l->section, "inputs", err,
            "'%s' is made later, by [layer %s] at line %d: a layer takes "
            "only tensors made above it in the file, which keeps the model "
            "free of cycles", name, name, m->layers[i].section->line);
        return -1;
    }
    if (i < 0) {
        const char *hint = closest_tensor(m, user, name);
        if (hint)
            pp_section_error(l->section, "inputs", err,
                "no tensor named '%s'; did you mean '%s'?", name, hint);
        else
            pp_section_error(l->section, "inputs", err,
                "no tensor named '%s' (a tensor is named after the layer "
                "that makes it, or is input, the model's input)", name);
        return -1;
    }
    return i + 1;
}

int pp_graph_inputs(pp_model *m, int i, pp_error *err)
{
    pp_model_layer *l = &m->layers[i];
    const pp_entry *e = pp_section_entry(l->section, "inputs");
    /* A chain needs no inputs key: the previous layer's output. */
    char *copy = strdup(e ? e->value : i ? m->layers[i - 1].name : "input");
    int cap = 1;
    for (const char *p = copy; p && *p; p++)
        cap += *p == ',';
    l->input = calloc((size_t)cap, sizeof *l->input);
    l->in = calloc((size_t)cap, sizeof *l->in);
    if (!copy || !l->input || !l->in) {
        free(copy);
        pp_error_add(err, PP_ERR_NOMEM, "out of memory");
        return 0;
    }
    int ok = 1;
    char *rest = copy, *name;
    while ((name = pp_list_next(&rest))) {
        if (!*name) {
            pp_section_error(l->section, "inputs", err,
                "expected tensor names separated by commas, got '%s'",
                e->value);
            ok = 0;
            break;
        }
        int id = resolve(m, i, name, err);
        for (int k = 0; id >= 0 && k < l->nin; k++)
            if (l->input[k] == id) {
                pp_section_error(l->section, "inputs", err,
                    "'%s' is named twice", name);
                id = -1;
            }
        if (id < 0)
            ok = 0;
        else
            l->input[l->nin++] = id;
    }
    free(copy);
    return ok;
}

/* ---- after planning ---------------------------------------------------- */

/* Whether layer i has planned (its inputs resolved, their shapes known,
 * its plugin's plan accepted them). */
static int planned(const pp_model *m, int i)
{
    return m->layers[i].plan.is_loss || m->tensors[i + 1].desc.dtype != 0;
}

/* One loss, and it ends the model. Returns 0 after reporting a second. */
static int check_losses(pp_model *m, pp_error *err)
{
    int first = -1, ok = 1;
    for (int i = 0; i < m->nlayers; i++) {
        const pp_model_layer *l = &m->layers[i];
        if (!l->plugin || !l->plan.is_loss)
            continue;
        if (first < 0) {
            first = i;
            continue;
        }
        pp_section_error(l->section, "type", err,
            "a second loss: [layer %s] at line %d is already the model's "
            "loss, and a model has one", m->layers[first].name,
            m->layers[first].section->line);
        ok = 0;
    }
    return ok;
}

/* Every output but the last layer's (the model's: the loss, to train) is
 * taken by a later layer. */
static void check_used(pp_model *m, pp_error *err)
{
    unsigned char *used = calloc((size_t)m->nlayers + 1, 1);
    if (!used) {
        pp_error_add(err, PP_ERR_NOMEM, "out of memory");
        return;
    }
    for (int i = 0; i < m->nlayers; i++)
        for (int k = 0; k < m->layers[i].nin; k++)
            used[m->layers[i].input[k]] = 1;
    for (int i = 0; i + 1 < m->nlayers; i++)
        if (!used[i + 1])
            pp_section_error(m->layers[i].section, NULL, err,
                "no layer takes this layer's output: only the last layer "
                "(the loss) may end the model (name it in a later layer's "
                "inputs, or remove this layer)");
    free(used);
}

/* The parameter `name` of layer i, or -1. */
static int param_named(const pp_model_layer *l, const char *name)
{
    for (int p = 0; p < l->plan.nparams; p++)
        if (strcmp(l->plan.params[p].name, name) == 0)
            return p;
    return -1;
}

/* "weight, bias" into buf, or "none". */
static const char *param_list(const pp_model_layer *l, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int p = 0; p < l->plan.nparams && used < size; p++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s",
                                 p ? ", " : "", l->plan.params[p].name);
    return l->plan.nparams ? buf : "none";
}

/* One "PARAM:LAYER.PARAM" of layer i's share key; 1 when it resolved. */
static int share_one(pp_model *m, int i, char *item, pp_error *err)
{
    pp_model_layer *l = &m->layers[i];
    const pp_section *s = l->section;
    char *colon = strchr(item, ':');
    char *dot = colon ? strrchr(colon + 1, '.') : NULL;
    if (!colon || !dot || colon == item || dot == colon + 1 || !dot[1]) {
        pp_section_error(s, "share", err,
            "expected PARAM:LAYER.PARAM, e.g. weight:embed.weight, got '%s'",
            item);
        return 0;
    }
    *colon = *dot = '\0';
    const char *mine = item, *layer = colon + 1, *theirs = dot + 1;
    char list[256];
    int p = param_named(l, mine);
    if (p < 0) {
        const char **names = malloc((size_t)(l->plan.nparams + 1) *
                                    sizeof *names);
        for (int k = 0; names && k < l->plan.nparams; k++)
            names[k] = l->plan.params[k].name;
        const char *hint = names ? pp_did_you_mean(
                                       mine, names, (size_t)l->plan.nparams)
                                 : NULL;
        free(names);
        pp_section_error(s, "share", err,
            "this layer has no parameter '%s' (%s declares %s)%s%s%s", mine,
            l->plugin->desc->name, param_list(l, list, sizeof list),
            hint ? "; did you mean '" : "", hint ? hint : "",
            hint ? "'?" : "");
        return 0;
    }
    int o = layer_named(m, layer);
    if (o < 0 || o >= i) {
        const char *hint = o < 0 ? closest_tensor(m, i, layer) : NULL;
        if (o == i)
            pp_section_error(s, "share", err,
                "a layer cannot share its own parameter");
        else if (o > i)
            pp_section_error(s, "share", err,
                "[layer %s] comes later (line %d): share a parameter of a "
                "layer above this one", layer, m->layers[o].section->line);
        else if (strcmp(layer, "input") == 0)
            pp_section_error(s, "share", err,
                "input is the model's input, not a layer: it has no "
                "parameters");
        else
            pp_section_error(s, "share", err,
                "no layer named '%s'%s%s%s", layer,
                hint ? "; did you mean '" : "", hint ? hint : "",
                hint ? "'?" : "");
        return 0;
    }
    const pp_model_layer *ol = &m->layers[o];
    if (!planned(m, o))
        return 0; /* its own errors are reported */
    int op = param_named(ol, theirs);
    if (op < 0) {
        pp_section_error(s, "share", err,
            "[layer %s] has no parameter '%s' (it declares %s)", layer,
            theirs, param_list(ol, list, sizeof list));
        return 0;
    }
    const pp_shape *a = &l->plan.params[p].shape, *b = &ol->plan.params[op].shape;
    if (a->ndim != b->ndim ||
        memcmp(a->dim, b->dim, (size_t)a->ndim * sizeof *a->dim) != 0) {
        char sa[64], sb[64];
        pp_section_error(s, "share", err,
            "%s is %s here but %s.%s is %s: a shared parameter has one "
            "shape", mine, pp_shape_format(a, sa, sizeof sa), layer, theirs,
            pp_shape_format(b, sb, sizeof sb));
        return 0;
    }
    if (l->owner[p].layer != i) {
        pp_section_error(s, "share", err, "%s is shared twice", mine);
        return 0;
    }
    /* The owner's own owner: sharing a shared parameter shares the one
     * it is. */
    l->owner[p] = ol->owner[op];
    return 1;
}

static void resolve_shares(pp_model *m, int i, pp_error *err)
{
    pp_model_layer *l = &m->layers[i];
    l->owner = calloc((size_t)l->plan.nparams + 1, sizeof *l->owner);
    if (!l->owner) {
        pp_error_add(err, PP_ERR_NOMEM, "out of memory");
        return;
    }
    for (int p = 0; p < l->plan.nparams; p++)
        l->owner[p] = (pp_param_ref){i, p};
    const pp_entry *e = pp_section_entry(l->section, "share");
    if (!e)
        return;
    char *copy = strdup(e->value);
    if (!copy) {
        pp_error_add(err, PP_ERR_NOMEM, "out of memory");
        return;
    }
    char *rest = copy, *item;
    while ((item = pp_list_next(&rest)))
        share_one(m, i, item, err);
    free(copy);
}

/* The kernels this layer needs in this model, on every device it has
 * kernels for: a backward_weight for its parameters, and a
 * backward_input when an input has a gradient (without it every layer
 * before it would silently stop learning). */
static void check_kernels(const pp_model *m, int i, pp_error *err)
{
    const pp_model_layer *l = &m->layers[i];
    const pp_layer_ops *ops = l->plugin->ops;
    const pp_layer_kernels *k[2] = {ops->cpu, ops->cuda};
    const char *half[2] = {"CPU", "CUDA"};
    const char *name = l->plugin->desc->name;
    for (int h = 0; h < 2; h++) {
        if (!k[h])
            continue;
        if (l->plan.nparams > 0 && !k[h]->backward_weight) {
            pp_section_error(l->section, "type", err,
                "%s declares parameters, but its %s kernels have no "
                "backward_weight: they would never learn", name, half[h]);
            return;
        }
        for (int j = 0; j < l->nin && !k[h]->backward_input; j++)
            if (m->tensors[l->input[j]].grad) {
                pp_section_error(l->section, "type", err,
                    "%s's %s kernels have no backward_input, but its input "
                    "'%s' has a gradient: every layer before it would stop "
                    "learning", name, half[h], m->tensors[l->input[j]].name);
                return;
            }
    }
}

void pp_graph_check(pp_model *m, pp_error *err)
{
    int clean = err->count == 0;
    int losses_ok = check_losses(m, err);
    for (int i = 0; i < m->nlayers; i++)
        if (planned(m, i))
            resolve_shares(m, i, err);
    /* An unused output says something only when nothing else is wrong:
     * a layer whose inputs did not resolve leaves its inputs unused. */
    if (clean && losses_ok && err->count == 0)
        check_used(m, err);
    /* A tensor has a gradient when it is a float that depends on a
     * parameter: made by a layer that has one, or from one that has a
     * gradient. */
    for (int i = 0; i < m->nlayers; i++) {
        const pp_model_layer *l = &m->layers[i];
        int grad = l->plan.nparams > 0;
        for (int k = 0; k < l->nin; k++)
            grad |= m->tensors[l->input[k]].grad;
        m->tensors[i + 1].grad = grad && l->plan.out.dtype != PP_I32 &&
                                 !l->plan.is_loss;
    }
    for (int i = 0; i < m->nlayers; i++)
        if (planned(m, i))
            check_kernels(m, i, err);
}

/* ---- after partitioning ------------------------------------------------ */

pp_status pp_graph_cut(pp_model *m, pp_error *err)
{
    int S = m->stages, T = m->nlayers + 1;
    for (int s = 0; s < S; s++)
        for (int i = m->first[s]; i < m->first[s + 1]; i++)
            m->layers[i].stage = s;
    for (int t = 0; t < T; t++) {
        m->tensors[t].stage = t ? m->layers[t - 1].stage : -1;
        m->tensors[t].last_stage = -1;
    }
    for (int i = 0; i < m->nlayers; i++)
        for (int k = 0; k < m->layers[i].nin; k++) {
            pp_model_tensor *x = &m->tensors[m->layers[i].input[k]];
            if (m->layers[i].stage > x->last_stage)
                x->last_stage = m->layers[i].stage;
        }
    m->cut = calloc((size_t)S + 1, sizeof *m->cut);
    if (!m->cut)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    /* Tensor t crosses into stage s when a stage before s makes it (the
     * input: "stage -1") and s or a later stage takes it. */
    for (int s = 0; s <= S; s++) {
        pp_cut *c = &m->cut[s];
        c->tensor = calloc((size_t)T, sizeof *c->tensor);
        if (!c->tensor)
            return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        for (int t = 0; t < T; t++) {
            const pp_model_tensor *x = &m->tensors[t];
            if (x->stage >= s || x->last_stage < s)
                continue;
            c->tensor[c->n++] = t;
            size_t bytes = pp_tensor_bytes(&x->desc);
            c->bytes += bytes;
            c->grad_bytes += x->grad ? bytes : 0;
        }
    }
    return PP_OK;
}

void pp_graph_free(pp_model *m)
{
    for (int i = 0; m->layers && i < m->nlayers; i++) {
        free(m->layers[i].input);
        free(m->layers[i].in);
        free(m->layers[i].owner);
    }
    for (int s = 0; m->cut && s <= m->stages; s++)
        free(m->cut[s].tensor);
    free(m->cut);
    free(m->summed);
    free(m->tensors);
    free(m->first);
}
