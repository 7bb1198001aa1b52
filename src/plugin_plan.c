/* src/plugin_plan.c - the arrays of layer, optimizer and schedule plans
 * (a layer's parameters, a plugin's arguments), grown by the plugin's
 * plan() and owned by the core. */
#include <stdlib.h>
#include <string.h>

#include "plugin_plan.h"

struct pp_layer_store {
    pp_param_decl *params;
    int cap;
    void *args;
};

static struct pp_layer_store *store_of(pp_layer_plan *plan, pp_error *err)
{
    if (!plan->store_ && !(plan->store_ = calloc(1, sizeof *plan->store_)))
        pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    return plan->store_;
}

pp_status pp_layer_param(pp_layer_plan *plan, const char *name,
                         const pp_shape *shape, pp_init init, float scale,
                         unsigned flags, pp_error *err)
{
    struct pp_layer_store *s = store_of(plan, err);
    if (!s)
        return err->code;
    if (plan->nparams == s->cap) {
        int cap = s->cap ? 2 * s->cap : 4;
        pp_param_decl *grown = realloc(s->params, (size_t)cap * sizeof *grown);
        if (!grown)
            return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        s->params = grown;
        s->cap = cap;
    }
    s->params[plan->nparams++] = (pp_param_decl){name, *shape, init, scale,
                                                 flags};
    plan->params = s->params;
    return PP_OK;
}

/* A copy of size bytes at args in *slot (replacing what was there),
 * which *out and *out_size then describe. */
static pp_status copy_args(void **slot, const void **out, size_t *out_size,
                           const void *args, size_t size, pp_error *err)
{
    void *copy = malloc(size ? size : 1);
    if (!copy)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    memcpy(copy, args, size);
    free(*slot);
    *slot = copy;
    *out = copy;
    *out_size = size;
    return PP_OK;
}

pp_status pp_layer_args(pp_layer_plan *plan, const void *args, size_t size,
                        pp_error *err)
{
    struct pp_layer_store *s = store_of(plan, err);
    if (!s)
        return err->code;
    return copy_args(&s->args, &plan->args, &plan->args_size, args, size,
                     err);
}

pp_status pp_optimizer_args(pp_optimizer_plan *plan, const void *args,
                            size_t size, pp_error *err)
{
    return copy_args(&plan->store_, &plan->args, &plan->args_size, args,
                     size, err);
}

pp_status pp_schedule_args(pp_schedule_plan *plan, const void *args,
                           size_t size, pp_error *err)
{
    return copy_args(&plan->store_, &plan->args, &plan->args_size, args,
                     size, err);
}

void pp_schedule_plan_release(pp_schedule_plan *plan)
{
    free(plan->store_);
    memset(plan, 0, sizeof *plan);
}

void pp_optimizer_plan_release(pp_optimizer_plan *plan)
{
    free(plan->store_);
    memset(plan, 0, sizeof *plan);
}

void pp_layer_plan_release(pp_layer_plan *plan)
{
    if (plan->store_) {
        free(plan->store_->params);
        free(plan->store_->args);
        free(plan->store_);
    }
    memset(plan, 0, sizeof *plan);
}

int64_t pp_layer_plan_params(const pp_layer_plan *plan)
{
    int64_t n = 0;
    for (int i = 0; i < plan->nparams; i++)
        n += pp_shape_elements(&plan->params[i].shape);
    return n;
}
