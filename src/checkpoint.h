/* src/checkpoint.h - checkpoints on disk.
 *
 * A checkpoint is a directory, DIR/step-NNNNNNNN, holding:
 *   model.safetensors      the parameters (FP32), one tensor per named
 *                          parameter: LAYER.PARAM (a shared one once, by
 *                          its owner's name);
 *   optimizer.safetensors  their optimizer state: LAYER.PARAM.state.J, the
 *                          J-th of the optimizer's state_per_param planes;
 *   MANIFEST               written last: what makes the checkpoint whole.
 * Across processes each process that writes stages writes its own pair
 * (model-QQQQQ.safetensors, optimizer-QQQQQ.safetensors). Each
 * safetensors file keeps a CRC32C per tensor in its __metadata__
 * ("crc32c.NAME"); the manifest keeps each file's size and its header's
 * CRC32C, the step, the data position, the seed, the optimizer and the
 * shape-relevant config, and a CRC32C of itself.
 *
 * A checkpoint is written in DIR/step-NNNNNNNN.partial, its manifest
 * last, then renamed into place, so a complete one is never touched
 * before the new one is complete, and a run killed while writing leaves
 * only a .partial directory, which resuming ignores.
 */
#ifndef PP_SRC_CHECKPOINT_H
#define PP_SRC_CHECKPOINT_H

#include <stdint.h>
#include <stdio.h>

#include <pipette/error.h>

#include "model.h"
#include "safetensors.h"

#define PP_CKPT_VERSION 1

typedef struct pp_ckpt_file {
    char *name;             /* in the checkpoint's directory */
    uint64_t bytes;         /* its size, as the manifest says */
    uint32_t header_crc;    /* its header's CRC32C, as the manifest says */
    int model;              /* parameters (1) or optimizer state (0) */
    pp_st_header h;         /* read by pp_ckpt_open_files */
    FILE *f;
} pp_ckpt_file;

typedef struct pp_ckpt {
    char *dir;              /* the checkpoint: DIR/step-NNNNNNNN */
    int64_t step;           /* steps made */
    int64_t steps;          /* of the run that wrote it */
    int64_t samples;        /* samples read: where the data goes on */
    int64_t skipped;        /* of the steps, those whose update was
                               skipped (on_nonfinite = skip): the
                               optimizer's step count leaves them out */
    int64_t seed;
    char *optimizer;
    int state_per_param;
    char **config;          /* [nconfig] the shape-relevant config, one
                               line per layer */
    int nconfig;
    pp_ckpt_file *file;     /* [nfiles] */
    int nfiles;
} pp_ckpt;

/* The shape-relevant config of m as the manifest keeps it: "input ..."
 * then one "layer NAME key=value ..." line per layer (every key but
 * stage). *lines malloc'd, each line too. */
pp_status pp_ckpt_model_config(const pp_model *m, char ***lines, int *n,
                               pp_error *err);
/* Compares the checkpoint's shape-relevant config with m's, naming the
 * first line that differs. */
pp_status pp_ckpt_check_config(const pp_ckpt *ck, const pp_model *m,
                               pp_error *err);

/* The checkpoint at path: a checkpoint directory itself, or the newest
 * complete one in path. PP_ERR_IO when there is none (*none set when path
 * holds no checkpoint at all, complete or not: a directory that does not
 * exist, or none begun). */
pp_status pp_ckpt_open(const char *path, pp_ckpt *ck, int *none,
                       pp_error *err);
/* Opens its files and reads their headers, checking each file's size and
 * header CRC against the manifest. */
pp_status pp_ckpt_open_files(pp_ckpt *ck, pp_error *err);
/* The tensor called name in the model (1) or optimizer (0) files, or
 * NULL; *file its file. */
const pp_st_tensor *pp_ckpt_find(const pp_ckpt *ck, int model,
                                 const char *name, int *file);
/* Reads tensor t of file `file` into buf (t->end - t->begin bytes),
 * checking its CRC32C. */
pp_status pp_ckpt_read(const pp_ckpt *ck, int file, const pp_st_tensor *t,
                       void *buf, pp_error *err);
void pp_ckpt_close(pp_ckpt *ck);

/* A tensor to write: FP32, its name, shape and values. */
typedef struct pp_ckpt_tensor {
    char *name;
    pp_shape shape;
    const float *data;
} pp_ckpt_tensor;

/* Writes t[0..n) as the safetensors file path (created; fsynced), with
 * their CRC32Cs in its metadata; *bytes its size, *header_crc its
 * header's CRC32C. */
pp_status pp_ckpt_write_file(const char *path, const pp_ckpt_tensor *t,
                             int n, int64_t step, uint64_t *bytes,
                             uint32_t *header_crc, pp_error *err);
/* Writes ck's MANIFEST into ck->dir (the .partial directory), then
 * renames that directory to final, so the checkpoint is complete; then
 * removes all but the newest `keep` complete checkpoints of root (0:
 * keep every one), and older unfinished ones. */
pp_status pp_ckpt_commit(const pp_ckpt *ck, const char *root,
                         const char *final, int keep, pp_error *err);
/* The names of step's checkpoint in root, *dir (the .partial one) and
 * *final, malloc'd; with make, root (if need be) and an empty *dir. */
pp_status pp_ckpt_begin(const char *root, int64_t step, int make,
                        char **dir, char **final, pp_error *err);

/* A test hook: PIPETTE_TEST_CHECKPOINT_KILL=N kills the process with
 * SIGKILL once N bytes of tensors are written (a crash mid-write). */

#endif
