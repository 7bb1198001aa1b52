/* pipette/pipette.h - everything a plugin author includes. */
#ifndef PIPETTE_PIPETTE_H
#define PIPETTE_PIPETTE_H

#include <pipette/error.h>
#include <pipette/config.h>
#include <pipette/plugin.h>
#include <pipette/device.h>
#include <pipette/tensor.h>
#include <pipette/bf16.h>
#include <pipette/layer.h>
#include <pipette/schedule.h>
#include <pipette/optimizer.h>
#include <pipette/data.h>
#include <pipette/job.h>
#include <pipette/transport.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library's version, e.g. "0.2.0". */
const char *pp_version(void);

#ifdef __cplusplus
}
#endif

#endif
