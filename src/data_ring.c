/* src/data_ring.c - a GPU rank's data through page-locked buffers (see
 * data_ring.h). */
#include <string.h>

#include "data_ring.h"

pp_status pp_data_ring_open(pp_data_ring *r, const pp_device_ops *dev,
                            const pp_device_rank *dr, const pp_data_ops *data,
                            const void *state, int n, size_t bytes,
                            size_t bf16_inputs, pp_error *err)
{
    *r = (pp_data_ring){.dev = dev, .dr = dr, .data = data, .state = state,
                        .n = n, .bf16_inputs = bf16_inputs, .bytes = bytes,
                        .first = {-1, -1}};
    for (int i = 0; i < 2; i++)
        if (dev->host_alloc(bytes, (void **)&r->buf[i], err) ||
            dev->event_create(dr, 0, &r->done[i], err))
            return err->code;
    return PP_OK;
}

void pp_floats_to_bf16(void *buf, size_t n)
{
    unsigned char *p = buf;
    for (size_t i = 0; i < n; i++) {
        float f;
        memcpy(&f, p + i * sizeof f, sizeof f);
        pp_bf16 h = pp_f32_to_bf16(f);
        memcpy(p + i * sizeof h, &h, sizeof h);
    }
}

void pp_data_ring_close(pp_data_ring *r)
{
    for (int i = 0; i < 2; i++) {
        if (r->done[i])
            r->dev->event_destroy(r->dr, r->done[i]);
        if (r->buf[i])
            r->dev->host_release(r->buf[i]);
    }
    memset(r, 0, sizeof *r);
}

/* Fills the next buffer from the source, once the copy that last read it
 * has run; returns its index in *out. */
static pp_status fill(pp_data_ring *r, int64_t first, int what, int *out,
                      pp_error *err)
{
    int i = r->next;
    r->next ^= 1;
    r->first[i] = -1;
    if (r->copied[i] && r->dev->event_sync(r->done[i], err))
        return err->code;
    r->copied[i] = 0;
    void *into = r->buf[i];
    if (r->data->read(r->state, first, r->n,
                      what == PP_RING_INPUT ? into : NULL,
                      what == PP_RING_TARGET ? into : NULL, err))
        return err->code;
    if (what == PP_RING_INPUT)
        pp_floats_to_bf16(into, r->bf16_inputs);
    *out = i;
    return PP_OK;
}

pp_status pp_data_ring_prefetch(pp_data_ring *r, int64_t first, int what,
                                pp_error *err)
{
    int i;
    if (fill(r, first, what, &i, err))
        return err->code;
    r->first[i] = first;
    r->what[i] = what;
    return PP_OK;
}

pp_status pp_data_ring_read(pp_data_ring *r, int64_t first, int what,
                            void *to, size_t bytes, pp_error *err)
{
    int i = -1;
    for (int k = 0; k < 2; k++)
        if (r->first[k] == first && r->what[k] == what)
            i = k;
    if (i < 0 && fill(r, first, what, &i, err))
        return err->code;
    r->first[i] = -1;
    if (r->dev->copy_async(r->dr, to, r->buf[i], bytes,
                           PP_COPY_HOST_TO_DEVICE, err) ||
        r->dev->event_record(r->dr, r->done[i], err))
        return err->code;
    r->copied[i] = 1;
    return PP_OK;
}
