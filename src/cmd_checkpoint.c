/* src/cmd_checkpoint.c - `pipette checkpoint DIR`: what a checkpoint
 * holds, and whether every byte of it is as written. */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "cmd.h"

static const char usage[] =
    "usage: pipette checkpoint DIR\n"
    "\n"
    "Describes the newest complete checkpoint in DIR (a [train] checkpoint\n"
    "directory), or DIR itself (DIR/step-N): its step, the data position,\n"
    "seed and optimizer, the layers it was made for, and each file and\n"
    "tensor with its size. Reads every tensor and checks its CRC32C.\n"
    "\n"
    "exit status: 0 whole, 1 a file or tensor that is not as written (each\n"
    "is named), 2 usage error or no checkpoint.\n";

#define usage_error(...) pp_cmd_usage_error("checkpoint", usage, __VA_ARGS__)

/* Reads and checks every tensor of file f: the number that are not as
 * written. */
static int verify_file(const pp_ckpt *ck, int f)
{
    const pp_ckpt_file *cf = &ck->file[f];
    size_t most = 0;
    for (int i = 0; i < cf->h.ntensors; i++)
        if (cf->h.tensor[i].end - cf->h.tensor[i].begin > most)
            most = (size_t)(cf->h.tensor[i].end - cf->h.tensor[i].begin);
    unsigned char *buf = malloc(most + 1);
    int bad = 0;
    for (int i = 0; i < cf->h.ntensors; i++) {
        const pp_st_tensor *t = &cf->h.tensor[i];
        char shape[160] = "";
        size_t at = 0;
        for (int d = 0; d < t->ndim && at < sizeof shape - 24; d++)
            at += (size_t)snprintf(shape + at, sizeof shape - at, "%s%lld",
                                   d ? "," : "", (long long)t->shape[d]);
        pp_error err;
        pp_error_clear(&err);
        int ok = buf && pp_ckpt_read(ck, f, t, buf, &err) == PP_OK;
        char key[320];
        snprintf(key, sizeof key, "crc32c.%s", t->name);
        const char *crc = pp_st_meta_get(&cf->h, key);
        printf("    %-32s %-4s [%s] %llu bytes, crc32c %s %s\n", t->name,
               t->dtype, shape, (unsigned long long)(t->end - t->begin),
               crc ? crc : "none", ok ? "ok" : "NOT AS WRITTEN");
        if (!ok) {
            fprintf(stderr, "pipette: %s\n", buf ? err.msg : "out of memory");
            bad++;
        }
    }
    free(buf);
    return bad;
}

int pp_cmd_checkpoint(int argc, char **argv)
{
    if (pp_cmd_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return PP_EXIT_OK;
    }
    if (argc < 2)
        return usage_error("no checkpoint directory given");
    if (argc > 2)
        return usage_error("unexpected argument '%s'", argv[2]);
    pp_ckpt ck;
    pp_error err;
    int none;
    if (pp_ckpt_open(argv[1], &ck, &none, &err)) {
        pp_ckpt_close(&ck);
        fprintf(stderr, "pipette: %s\n", err.msg);
        return none ? PP_EXIT_USAGE : PP_EXIT_FAILURE;
    }
    printf("checkpoint %s (version %d)\n", ck.dir, PP_CKPT_VERSION);
    printf("  step %" PRId64 " of a run of %" PRId64 "; the data at sample "
           "%" PRId64 "; seed %" PRId64 "\n", ck.step, ck.steps, ck.samples,
           ck.seed);
    if (ck.skipped)
        printf("  %" PRId64 " of the steps skipped (not finite)\n",
               ck.skipped);
    printf("  optimizer %s, %d state tensor%s per parameter\n", ck.optimizer,
           ck.state_per_param, ck.state_per_param == 1 ? "" : "s");
    printf("  made for %d layers:\n", ck.nconfig - 1);
    for (int i = 0; i < ck.nconfig; i++)
        printf("    %s\n", ck.config[i]);
    int bad = 0;
    pp_status st = pp_ckpt_open_files(&ck, &err);
    for (int f = 0; !st && f < ck.nfiles; f++) {
        printf("  %s: %" PRIu64 " bytes, %d tensors\n", ck.file[f].name,
               ck.file[f].bytes, ck.file[f].h.ntensors);
        bad += verify_file(&ck, f);
    }
    if (st) {
        fprintf(stderr, "pipette: %s\n", err.msg);
        bad++;
    } else if (!bad) {
        printf("  every tensor's CRC32C matches\n");
    }
    pp_ckpt_close(&ck);
    return bad ? PP_EXIT_FAILURE : PP_EXIT_OK;
}
