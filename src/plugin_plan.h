/* src/plugin_plan.h - the core's side of the plans that layer, optimizer
 * and schedule plugins fill: the arrays pp_layer_param() and the *_args()
 * functions grow are the core's, freed here. */
#ifndef PP_SRC_PLUGIN_PLAN_H
#define PP_SRC_PLUGIN_PLAN_H

#include <pipette/layer.h>
#include <pipette/optimizer.h>
#include <pipette/schedule.h>

/* Free what the plan's arrays hold and zero the plan. */
void pp_layer_plan_release(pp_layer_plan *plan);
void pp_optimizer_plan_release(pp_optimizer_plan *plan);
void pp_schedule_plan_release(pp_schedule_plan *plan);

#endif
