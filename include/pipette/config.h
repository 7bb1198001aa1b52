/* pipette/config.h - config keys as plugins see them.
 *
 * A plugin lists the keys it reads as a pp_key table in its descriptor. The
 * core checks every section against the union of its own keys and the
 * plugin's before the plugin is called: unknown keys (with "did you mean"),
 * missing required keys, malformed or out-of-range values are reported as
 * "FILE:LINE: message" and the plugin never sees them. The plugin then reads
 * values with the typed getters below, and reports errors of its own about a
 * key's meaning with pp_section_error(), so that they look the same.
 */
#ifndef PIPETTE_CONFIG_H
#define PIPETTE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pipette/error.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum pp_key_type {
    PP_KEY_INT = 1, /* decimal integer, within [min, max] */
    PP_KEY_FLOAT,   /* decimal or exponent float, within [min, max] */
    PP_KEY_BOOL,    /* true/false, yes/no, on/off, 1/0 */
    PP_KEY_STRING,  /* any non-empty text */
    PP_KEY_ENUM,    /* one of `choices`, written "a|b|c" */
    PP_KEY_SHAPE    /* dimensions as "784" or "3x32x32", each >= 1 */
} pp_key_type;

enum {
    PP_KEY_REQUIRED = 1u << 0, /* the key must be present */
    PP_KEY_MIN_OPEN = 1u << 1  /* value must be > min rather than >= min */
};

typedef struct pp_key {
    const char *name;
    pp_key_type type;
    unsigned flags;          /* PP_KEY_REQUIRED, PP_KEY_MIN_OPEN */
    double min, max;         /* range for INT and FLOAT; ignored when min > max */
    const char *choices;     /* for ENUM: "a|b|c" */
    const char *def;         /* default as written in a config, or NULL */
    const char *help;        /* one line for docs and errors */
} pp_key;

/* The shortest way to write a table entry's range: no range. */
#define PP_NO_RANGE 1.0, 0.0

/* A shape is a value, copied freely, so its dimensions are held in it:
 * 8, as many as cuDNN's and TensorRT's tensors take. */
#define PP_MAX_DIMS 8

typedef struct pp_shape {
    int ndim;                  /* 0 for a scalar */
    int64_t dim[PP_MAX_DIMS];
} pp_shape;

/* One section of a config file, e.g. "[layer fc1]". Opaque. */
typedef struct pp_section pp_section;

/* Its kind ("layer", "train", ...) and its name ("fc1"; "" when none). */
const char *pp_section_kind(const pp_section *s);
const char *pp_section_name(const pp_section *s);

/* Typed getters. A key that is absent gives its table default; a key that
 * is neither present nor defaulted, or that the section's tables do not
 * declare, is an error (a bug in the plugin, reported as such). */
pp_status pp_section_int(const pp_section *s, const char *key, int64_t *out,
                         pp_error *err);
pp_status pp_section_float(const pp_section *s, const char *key, double *out,
                           pp_error *err);
pp_status pp_section_bool(const pp_section *s, const char *key, bool *out,
                          pp_error *err);
pp_status pp_section_string(const pp_section *s, const char *key,
                            const char **out, pp_error *err);
pp_status pp_section_shape(const pp_section *s, const char *key,
                           pp_shape *out, pp_error *err);

/* The path of the config file the section is in, as it was given: a
 * plugin resolves a relative file name from its directory, so a model and
 * its data can move together. */
const char *pp_section_file(const pp_section *s);

/* Joins the directory of the section's config file and a relative path
 * into buf (an absolute path is copied as it is); returns buf. */
const char *pp_section_resolve(const pp_section *s, const char *path,
                               char *buf, size_t size);

/* True when the key is written in the section (not only defaulted). */
bool pp_section_has(const pp_section *s, const char *key);

/* Adds "FILE:LINE: [kind name] key: message" to err, with the line of the
 * key (or of the section header when key is NULL or absent); returns
 * PP_ERR_CONFIG. */
pp_status pp_section_error(const pp_section *s, const char *key,
                           pp_error *err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes a shape as "3x32x32" ("scalar" for ndim 0) into buf. */
const char *pp_shape_format(const pp_shape *shape, char *buf, int size);

/* Number of elements (1 for a scalar); INT64_MAX where that does not fit
 * 64 bits (the core refuses a model with such a tensor). */
int64_t pp_shape_elements(const pp_shape *shape);

#ifdef __cplusplus
}
#endif

#endif
