/* src/safetensors.h - the header of a safetensors file: writing it, and
 * reading it back with every check the format's specification asks for.
 *
 * The format: an 8-byte little-endian length N, N bytes of a JSON object
 * (padded at its end with spaces), then the data section. The JSON maps
 * each tensor's name to {"dtype", "shape", "data_offsets": [begin, end]}
 * (offsets into the data section), plus an optional "__metadata__" object
 * of strings. The tensors' byte ranges tile the data section exactly.
 *
 * This reads and writes headers only, not tensor data; its JSON parser
 * knows this one shape of document, nothing more.
 */
#ifndef PP_SRC_SAFETENSORS_H
#define PP_SRC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <pipette/error.h>

#define PP_ST_MAX_DIMS 8
typedef struct pp_st_tensor {
    char *name;
    char dtype[8];          /* "F32", "BF16", "I32", ... */
    int ndim;
    int64_t shape[PP_ST_MAX_DIMS];
    uint64_t begin, end;    /* byte offsets in the data section */
} pp_st_tensor;
typedef struct pp_st_meta {
    char *key, *value;
} pp_st_meta;
typedef struct pp_st_header {
    pp_st_tensor *tensor;   /* [ntensors], sorted by begin */
    int ntensors;
    pp_st_meta *meta;       /* [nmeta]: __metadata__, in file order */
    int nmeta;
    uint64_t data_offset;   /* where the data section starts in the file: 8 + N */
    uint64_t data_bytes;    /* its length */
} pp_st_header;

/* Bytes of one element of dtype, or 0 for a dtype this does not know. */
size_t pp_st_dtype_size(const char *dtype);
/* The file's first bytes for tensors t[0..n) (their begin/end already set,
 * contiguous from 0 in that order) and metadata meta[0..nmeta): the u64
 * length and the JSON, padded with spaces so the data starts at a multiple
 * of 8. *text is malloc'd, *len its bytes (8 + N). Names and values are
 * JSON-escaped. */
pp_status pp_st_header_text(const pp_st_tensor *t, int n,
                            const pp_st_meta *meta, int nmeta, char **text,
                            size_t *len, pp_error *err);
/* Reads and checks the header of the file f (at its start), whose size is
 * file_size bytes, by the rules above; path names the file in errors
 * (PP_ERR_IO: "PATH: not a safetensors file: ...", "PATH: tensor 'NAME': ..."). */
pp_status pp_st_read_header(FILE *f, const char *path, uint64_t file_size,
                            pp_st_header *out, pp_error *err);
/* The same from bytes in memory (the u64 and the JSON, at least 8 + N of them). */
pp_status pp_st_parse_header(const unsigned char *bytes, size_t len, const char *path,
                             uint64_t file_size, pp_st_header *out, pp_error *err);
void pp_st_header_free(pp_st_header *h);
/* The tensor named name, or NULL (fast for thousands of tensors: e.g. a
 * sorted index built by the reader and bsearch). The reader keeps that
 * index after tensor[], in its block: h must come from the reader. */
const pp_st_tensor *pp_st_find(const pp_st_header *h, const char *name);
/* The metadata value of key, or NULL. */
const char *pp_st_meta_get(const pp_st_header *h, const char *key);

#endif
