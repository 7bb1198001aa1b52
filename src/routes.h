/* src/routes.h - which transport carries the messages of each direction
 * between two ranks, decided from the model file alone (so `pipette
 * check` reports and shows it on a machine without the devices).
 *
 *   cpu and cuda (either way)  local, through the GPU rank's host staging
 *   cpu and cpu                local, or peer when named
 *   one GPU                    peer (NCCL refuses two ranks of one
 *                              communicator on one GPU), or local if named
 *   two GPUs                   nccl under auto when the plugin is there
 *                              and the receiver takes the messages in the
 *                              order they are sent (NCCL matches in order;
 *                              zb-v's V does not), else peer; local, peer
 *                              or nccl if named
 *
 * Only directions that carry messages in the lowered programs are routed.
 */
#ifndef PP_SRC_ROUTES_H
#define PP_SRC_ROUTES_H

#include <stdio.h>

#include "model.h"

enum { PP_VIA_LOCAL, PP_VIA_PEER, PP_VIA_NCCL, PP_VIA_COUNT,
       PP_VIA_NONE = 255 };

/* "local", "peer", "nccl": the transport plugin's name. */
const char *pp_via_name(int via);

/* The transport between ranks on devices a and b under the [pipeline]
 * transport key `want`; nccl_ok: auto may take nccl (the plugin is there
 * and the pair's messages arrive in send order). */
int pp_route_choose(const pp_device_spec *a, const pp_device_spec *b,
                    const char *want, int nccl_ok);

/* Fills route[src * nranks + dst] (PP_VIA_NONE where nothing is sent) for
 * a model whose plan is built. A named transport that cannot carry the
 * routes it is given, or carries none, is a config error at its key. */
pp_status pp_routes_plan(const pp_model *m, unsigned char *route,
                         pp_error *err);

/* "  transport: local 0->1 1->0; peer 1->2 2->1\n", or nothing for one
 * rank. */
void pp_routes_print(const pp_model *m, const unsigned char *route,
                     FILE *out);

#endif
