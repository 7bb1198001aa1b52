/* src/routes.h - which transport carries the messages of each direction
 * between two ranks, decided from the model file alone (so `pipette
 * check` reports and shows it on a machine without the devices).
 *
 * Nothing here knows a transport by name: each direction is routed by
 * what the transport plugins found on the search path advertise and what
 * the two ranks' devices are, by the rule in pipette/transport.h (under
 * auto, one that moves the ranks' memory as it is before one that stages
 * it through host memory, then the lowest cost, then the first name). A
 * named transport carries every direction it can; the others are routed
 * as under auto.
 *
 * Only directions that carry messages in the lowered programs are routed.
 */
#ifndef PP_SRC_ROUTES_H
#define PP_SRC_ROUTES_H

#include <stdio.h>

#include <pipette/transport.h>

#include "model.h"

#define PP_ROUTE_NONE 255 /* a direction that carries no message */

/* The transports a model's directions go through. One allocation. */
typedef struct pp_routes {
    int n;                   /* transports used */
    const pp_plugin **via;   /* [n], in the order of the first direction
                                (src * nranks + dst) each carries */
    unsigned char *pair;     /* [src * nranks + dst]: an index into via,
                                or PP_ROUTE_NONE */
} pp_routes;

/* A direction between two ranks, as routing sees it. */
typedef struct pp_link {
    const pp_device_spec *src, *dst; /* resolved */
    int same_process;
    int same_node;  /* two ranks of one device index are on one device */
    int in_order;   /* the receiver takes its messages in send order */
} pp_link;

/* How a transport can carry a direction. */
enum {
    PP_FIT_NONE = 0,
    PP_FIT_STAGED,  /* its host half, a device rank's messages staged
                       through host memory */
    PP_FIT_AS_IS    /* moving both ranks' memory as it is */
};

/* Whether the runtime uses tr's stream-ordered half (else its host
 * half). */
int pp_transport_streamed(const pp_transport_ops *tr);

/* A PP_FIT_* for tr and l, order aside (a transport that keeps the send
 * order carries a direction only where l->in_order). */
int pp_route_fit(const pp_transport_ops *tr, const pp_link *l);

/* The transport that carries l: named, where it can, else auto's choice
 * among the n in tr (named NULL: auto). NULL when none can. A named
 * transport is taken whatever l's order: the caller refuses that. */
const pp_plugin *pp_route_pick(const pp_plugin *const *tr, size_t n,
                               const pp_plugin *named, const pp_link *l);

/* m->route for a model whose plan is built (left NULL where a device did
 * not resolve: that was reported). A named transport that is not there,
 * that carries none of the routes, or that would take a direction whose
 * receiver does not keep its order, is a config error at its key. */
pp_status pp_routes_plan(pp_model *m, pp_error *err);

/* "  transport: local 0->1 1->0; peer 1->2 2->1\n", or nothing for one
 * rank. */
void pp_routes_print(const pp_model *m, FILE *out);

#endif
