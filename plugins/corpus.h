/* plugins/corpus.h - what the text and tokens data sources share: a file
 * read whole at open, and the window that sample i takes from it.
 *
 * Sample i is `length` tokens starting at a position hashed from (seed, i),
 * its target the same window moved on by one; every start with a full
 * target after it is equally likely. Windows are drawn, not walked: there
 * are no epochs, and two samples may overlap.
 */
#ifndef PP_PLUGINS_CORPUS_H
#define PP_PLUGINS_CORPUS_H

#include <stddef.h>
#include <stdint.h>

#include <pipette/pipette.h>

#include "counter_rng.h"

/* Reads the whole file that string key `key` of cfg names (a relative path
 * is taken from the model file's directory) into a malloc'd buffer. A file
 * that cannot be opened or read is PP_ERR_CONFIG at that key, with the
 * system's reason; so is one that is not a regular file (a FIFO, a
 * device, a directory), or larger than the machine's memory. */
pp_status corpus_load(const pp_section *cfg, const char *key,
                      unsigned char **data, size_t *size, pp_error *err);

/* The first token of sample i's input, for count tokens in all
 * (count > length). */
static inline int64_t corpus_window(uint64_t seed, int64_t i, int64_t count,
                                    int64_t length)
{
    return (int64_t)(pp_rng_u64(seed, 1, (uint64_t)i, 0) %
                     (uint64_t)(count - length));
}

#endif
