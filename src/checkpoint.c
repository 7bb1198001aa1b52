/* src/checkpoint.c - checkpoints on disk: their files, their manifest,
 * finding the newest complete one. What goes in them is
 * runtime_checkpoint.c's. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "config_file.h"
#include "crc32c.h"

#define MANIFEST "MANIFEST"

/* A malloc'd printf. */
static char *format(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s) {
        va_start(ap, fmt);
        vsnprintf(s, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* --- the shape-relevant config --- */

/* A line of the config: its entries but `skip` as " key=value". */
static char *section_line(const char *head, const pp_section *s,
                          const char *skip)
{
    size_t len = strlen(head) + 1;
    for (size_t i = 0; i < s->nentries; i++)
        len += strlen(s->entries[i].key) + strlen(s->entries[i].value) + 2;
    char *line = malloc(len);
    if (!line)
        return NULL;
    char *at = line + sprintf(line, "%s", head);
    for (size_t i = 0; i < s->nentries; i++)
        if (!skip || strcmp(s->entries[i].key, skip) != 0)
            at += sprintf(at, " %s=%s", s->entries[i].key,
                          s->entries[i].value);
    return line;
}

pp_status pp_ckpt_model_config(const pp_model *m, char ***lines, int *n,
                               pp_error *err)
{
    *n = 0;
    *lines = calloc((size_t)m->nlayers + 1, sizeof **lines);
    if (!*lines)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    /* [model]'s input and its type; its name is only a name. */
    char in[160], shape[96];
    snprintf(in, sizeof in, "input %s %s",
             pp_shape_format(&m->input.shape, shape, sizeof shape),
             m->input.dtype == PP_I32 ? "int" : "float");
    (*lines)[(*n)++] = strdup(in);
    for (int l = 0; l < m->nlayers; l++) {
        char *head = format("layer %s", m->layers[l].name);
        (*lines)[(*n)++] = head ? section_line(head, m->layers[l].section,
                                               "stage") : NULL;
        free(head);
    }
    for (int i = 0; i < *n; i++)
        if (!(*lines)[i])
            return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    return PP_OK;
}

static void free_lines(char **lines, int n)
{
    for (int i = 0; lines && i < n; i++)
        free(lines[i]);
    free(lines);
}

pp_status pp_ckpt_check_config(const pp_ckpt *ck, const pp_model *m,
                               pp_error *err)
{
    char **mine;
    int n;
    if (pp_ckpt_model_config(m, &mine, &n, err)) {
        free_lines(mine, n);
        return err->code;
    }
    pp_status st = PP_OK;
    for (int i = 0; !st && i < (n > ck->nconfig ? n : ck->nconfig); i++) {
        const char *a = i < ck->nconfig ? ck->config[i] : NULL;
        const char *b = i < n ? mine[i] : NULL;
        if (a && b && strcmp(a, b) == 0)
            continue;
        st = pp_error_set(err, PP_ERR_IO, "%s is a checkpoint of another "
                          "model: it has '%s' where %s has '%s'", ck->dir,
                          a ? a : "(no more layers)", m->cfg->path,
                          b ? b : "(no more layers)");
    }
    free_lines(mine, n);
    return st;
}

/* --- the manifest --- */

static char *manifest_text(const pp_ckpt *ck)
{
    size_t cap = 512;
    for (int i = 0; i < ck->nconfig; i++)
        cap += strlen(ck->config[i]) + 8;
    for (int i = 0; i < ck->nfiles; i++)
        cap += strlen(ck->file[i].name) + 64;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    size_t at = (size_t)snprintf(s, cap,
        "pipette checkpoint %d\nstep %" PRId64 "\nsteps %" PRId64
        "\nsamples %" PRId64 "\nskipped %" PRId64 "\nseed %" PRId64
        "\noptimizer %s %d\n", PP_CKPT_VERSION, ck->step, ck->steps,
        ck->samples, ck->skipped, ck->seed, ck->optimizer,
        ck->state_per_param);
    for (int i = 0; i < ck->nconfig; i++)
        at += (size_t)snprintf(s + at, cap - at, "config %s\n",
                               ck->config[i]);
    for (int i = 0; i < ck->nfiles; i++)
        at += (size_t)snprintf(s + at, cap - at, "file %s %s %" PRIu64
                               " %08" PRIx32 "\n", ck->file[i].name,
                               ck->file[i].model ? "model" : "optimizer",
                               ck->file[i].bytes, ck->file[i].header_crc);
    snprintf(s + at, cap - at, "crc32c %08" PRIx32 "\n",
             pp_crc32c(0, s, at));
    return s;
}

/* Parses text (NUL-terminated) into ck; path names it in errors. */
static pp_status parse_manifest(char *text, const char *path, pp_ckpt *ck,
                                pp_error *err)
{
    char *crc = strstr(text, "crc32c ");
    while (crc && crc != text && crc[-1] != '\n')
        crc = strstr(crc + 1, "crc32c ");
    unsigned long want;
    if (!crc || sscanf(crc, "crc32c %lx", &want) != 1)
        return pp_error_set(err, PP_ERR_IO, "%s: the manifest is cut short "
                            "(it has no crc32c line)", path);
    if (pp_crc32c(0, text, (size_t)(crc - text)) != (uint32_t)want)
        return pp_error_set(err, PP_ERR_IO, "%s: the manifest is corrupt "
                            "(its CRC32C does not match)", path);
    *crc = '\0';
    int version = 0, got = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        char a[256], b[32];
        unsigned long long bytes;
        unsigned long hcrc;
        if (sscanf(line, "pipette checkpoint %d", &version) == 1) {
            if (version != PP_CKPT_VERSION)
                return pp_error_set(err, PP_ERR_IO, "%s: checkpoint version "
                                    "%d; this pipette reads version %d",
                                    path, version, PP_CKPT_VERSION);
            got |= 1;
        } else if (!version) {
            break;
        } else if (sscanf(line, "step %" SCNd64, &ck->step) == 1) {
            got |= 2;
        } else if (sscanf(line, "steps %" SCNd64, &ck->steps) == 1 ||
                   sscanf(line, "seed %" SCNd64, &ck->seed) == 1 ||
                   sscanf(line, "skipped %" SCNd64, &ck->skipped) == 1) {
        } else if (sscanf(line, "samples %" SCNd64, &ck->samples) == 1) {
            got |= 4;
        } else if (sscanf(line, "optimizer %255s %d", a,
                          &ck->state_per_param) == 2) {
            free(ck->optimizer);
            ck->optimizer = strdup(a);
        } else if (strncmp(line, "config ", 7) == 0) {
            char **grown = realloc(ck->config, (size_t)(ck->nconfig + 1) *
                                                   sizeof *grown);
            if (!grown)
                return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
            ck->config = grown;
            if (!(ck->config[ck->nconfig] = strdup(line + 7)))
                return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
            ck->nconfig++;
        } else if (sscanf(line, "file %255s %31s %llu %lx", a, b, &bytes,
                          &hcrc) == 4 && !strchr(a, '/') &&
                   strcmp(a, "..") != 0) {
            pp_ckpt_file *grown = realloc(ck->file, (size_t)(ck->nfiles + 1) *
                                                        sizeof *grown);
            if (!grown)
                return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
            ck->file = grown;
            ck->file[ck->nfiles] = (pp_ckpt_file){
                .name = strdup(a), .bytes = bytes,
                .header_crc = (uint32_t)hcrc,
                .model = strcmp(b, "model") == 0};
            if (!ck->file[ck->nfiles++].name)
                return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        } else {
            return pp_error_set(err, PP_ERR_IO, "%s: the manifest has a line "
                                "this pipette does not know: '%.60s'", path,
                                line);
        }
    }
    if (got != 7 || !ck->optimizer)
        return pp_error_set(err, PP_ERR_IO, "%s: not a pipette checkpoint "
                            "manifest", path);
    return PP_OK;
}

/* Reads dir/MANIFEST into ck (ck->dir = dir). */
static pp_status read_manifest(const char *dir, pp_ckpt *ck, pp_error *err)
{
    memset(ck, 0, sizeof *ck);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/" MANIFEST, dir);
    if (!(ck->dir = strdup(dir)))
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    FILE *f = fopen(path, "rb");
    if (!f)
        return pp_error_set(err, PP_ERR_IO, "%s: cannot read: %s", path,
                            strerror(errno));
    char *text = malloc(1 << 20);
    size_t n = text ? fread(text, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (!text)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    text[n] = '\0';
    pp_status st = n == (1 << 20) - 1
                       ? pp_error_set(err, PP_ERR_IO, "%s: the manifest is "
                                      "too long", path)
                       : parse_manifest(text, path, ck, err);
    free(text);
    return st;
}

static int64_t step_of(const char *name, int *partial);

static int is_dir(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int has_manifest(const char *dir)
{
    char path[PATH_MAX];
    return (size_t)snprintf(path, sizeof path, "%s/" MANIFEST, dir) <
               sizeof path && access(path, F_OK) == 0;
}

pp_status pp_ckpt_open(const char *path, pp_ckpt *ck, int *none,
                       pp_error *err)
{
    memset(ck, 0, sizeof *ck);
    *none = 0;
    if (has_manifest(path))
        return read_manifest(path, ck, err);
    DIR *d = opendir(path);
    if (!d) {
        *none = errno == ENOENT;
        return pp_error_set(err, PP_ERR_IO, "%s: no checkpoint: %s", path,
                            strerror(errno));
    }
    /* The newest with a whole manifest; a .partial one without is a
     * write that never finished. */
    char best[PATH_MAX] = "", bad[PATH_MAX] = "";
    int64_t best_step = -1, bad_step = -1;
    pp_error why;
    pp_error_clear(&why);
    int partial = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char sub[PATH_MAX];
        if (strncmp(e->d_name, "step-", 5) != 0 ||
            (size_t)snprintf(sub, sizeof sub, "%s/%s", path, e->d_name) >=
                sizeof sub || !is_dir(sub))
            continue;
        if (!has_manifest(sub)) {
            partial++;
            continue;
        }
        pp_ckpt one;
        pp_error e1;
        int partial_name;
        int64_t named = step_of(e->d_name, &partial_name);
        if (read_manifest(sub, &one, &e1)) {
            if (named > bad_step) {
                bad_step = named;
                snprintf(bad, sizeof bad, "%s", sub);
                why = e1;
            }
        } else if (one.step > best_step) {
            best_step = one.step;
            snprintf(best, sizeof best, "%s", sub);
        }
        pp_ckpt_close(&one);
    }
    closedir(d);
    /* A newer one that is not whole is said, not passed over. */
    if (bad[0] && bad_step >= best_step)
        return pp_error_set(err, PP_ERR_IO, "%s%s%s%s", why.msg,
                            best[0] ? "; the newest whole checkpoint is "
                                    : "", best, best[0] ? ": name it to use "
                                                          "it" : "");
    if (!best[0]) {
        *none = 1;
        return pp_error_set(err, PP_ERR_IO, "%s holds no complete checkpoint%s",
                            path, partial ? " (only one whose writing never "
                                            "finished)" : "");
    }
    return read_manifest(best, ck, err);
}

pp_status pp_ckpt_open_files(pp_ckpt *ck, pp_error *err)
{
    for (int i = 0; i < ck->nfiles; i++) {
        pp_ckpt_file *cf = &ck->file[i];
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", ck->dir, cf->name);
        struct stat sb;
        if (!(cf->f = fopen(path, "rb")) || fstat(fileno(cf->f), &sb) != 0)
            return pp_error_set(err, PP_ERR_IO, "%s: cannot read: %s", path,
                                strerror(errno));
        if ((uint64_t)sb.st_size != cf->bytes)
            return pp_error_set(err, PP_ERR_IO, "%s: %s: %llu bytes where "
                                "the manifest says %llu", path,
                                (uint64_t)sb.st_size < cf->bytes
                                    ? "cut short" : "longer than written",
                                (unsigned long long)sb.st_size,
                                (unsigned long long)cf->bytes);
        if (pp_st_read_header(cf->f, path, cf->bytes, &cf->h, err))
            return err->code;
        /* The header's bytes again, for their CRC. */
        size_t hb = (size_t)cf->h.data_offset;
        unsigned char *head = malloc(hb + 1);
        if (!head)
            return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        int ok = fseeko(cf->f, 0, SEEK_SET) == 0 &&
                 fread(head, 1, hb, cf->f) == hb;
        uint32_t crc = ok ? pp_crc32c(0, head, hb) : 0;
        free(head);
        if (!ok || crc != cf->header_crc)
            return pp_error_set(err, PP_ERR_IO, "%s: its header is corrupt "
                                "(its CRC32C is %08" PRIx32 ", the manifest "
                                "says %08" PRIx32 ")", path, crc,
                                cf->header_crc);
    }
    return PP_OK;
}

const pp_st_tensor *pp_ckpt_find(const pp_ckpt *ck, int model,
                                 const char *name, int *file)
{
    for (int i = 0; i < ck->nfiles; i++) {
        const pp_st_tensor *t = ck->file[i].model == model && ck->file[i].f
                                    ? pp_st_find(&ck->file[i].h, name)
                                    : NULL;
        if (t) {
            *file = i;
            return t;
        }
    }
    return NULL;
}

pp_status pp_ckpt_read(const pp_ckpt *ck, int file, const pp_st_tensor *t,
                       void *buf, pp_error *err)
{
    const pp_ckpt_file *cf = &ck->file[file];
    char key[320];
    snprintf(key, sizeof key, "crc32c.%s", t->name);
    const char *want = pp_st_meta_get(&cf->h, key);
    size_t n = (size_t)(t->end - t->begin);
    if (fseeko(cf->f, (off_t)(cf->h.data_offset + t->begin), SEEK_SET) != 0 ||
        fread(buf, 1, n, cf->f) != n)
        return pp_error_set(err, PP_ERR_IO, "%s/%s: tensor '%s': cannot "
                            "read: %s", ck->dir, cf->name, t->name,
                            feof(cf->f) ? "cut short" : strerror(errno));
    char got[16];
    snprintf(got, sizeof got, "%08" PRIx32, pp_crc32c(0, buf, n));
    if (!want)
        return pp_error_set(err, PP_ERR_IO, "%s/%s: tensor '%s' has no "
                            "CRC32C", ck->dir, cf->name, t->name);
    if (strcmp(got, want) != 0)
        return pp_error_set(err, PP_ERR_IO, "%s/%s: tensor '%s' is corrupt: "
                            "its CRC32C is %s, written as %s", ck->dir,
                            cf->name, t->name, got, want);
    return PP_OK;
}

void pp_ckpt_close(pp_ckpt *ck)
{
    for (int i = 0; i < ck->nfiles; i++) {
        free(ck->file[i].name);
        pp_st_header_free(&ck->file[i].h);
        if (ck->file[i].f)
            fclose(ck->file[i].f);
    }
    free(ck->file);
    free_lines(ck->config, ck->nconfig);
    free(ck->optimizer);
    free(ck->dir);
    memset(ck, 0, sizeof *ck);
}

/* --- writing --- */

/* n bytes to fd, through short writes and interruptions. */
static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n > (1u << 30) ? (1u << 30) : n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* The test hook's budget of bytes, or -1. */
static long long kill_after(void)
{
    const char *s = getenv("PIPETTE_TEST_CHECKPOINT_KILL");
    return s && *s ? atoll(s) : -1;
}

pp_status pp_ckpt_write_file(const char *path, const pp_ckpt_tensor *t,
                             int n, int64_t step, uint64_t *bytes,
                             uint32_t *header_crc, pp_error *err)
{
    pp_st_tensor *st = calloc((size_t)n + 1, sizeof *st);
    pp_st_meta *meta = calloc((size_t)n + 2, sizeof *meta);
    char (*crc)[12] = calloc((size_t)n + 1, sizeof *crc);
    char **keys = calloc((size_t)n + 1, sizeof *keys);
    char stepv[24];
    snprintf(stepv, sizeof stepv, "%" PRId64, step);
    pp_status rc = !st || !meta || !crc || !keys
                       ? pp_error_set(err, PP_ERR_NOMEM, "out of memory")
                       : PP_OK;
    uint64_t at = 0;
    int nmeta = 0;
    if (!rc) {
        meta[nmeta++] = (pp_st_meta){"format", "pt"};
        meta[nmeta++] = (pp_st_meta){"pipette.step", stepv};
    }
    for (int i = 0; !rc && i < n; i++) {
        st[i].name = t[i].name;
        strcpy(st[i].dtype, "F32");
        st[i].ndim = t[i].shape.ndim;
        for (int d = 0; d < t[i].shape.ndim; d++)
            st[i].shape[d] = t[i].shape.dim[d];
        size_t b = (size_t)pp_shape_elements(&t[i].shape) * sizeof(float);
        st[i].begin = at;
        st[i].end = at += b;
        snprintf(crc[i], sizeof crc[i], "%08" PRIx32,
                 pp_crc32c(0, t[i].data, b));
        if (!(keys[i] = format("crc32c.%s", t[i].name)))
            rc = pp_error_set(err, PP_ERR_NOMEM, "out of memory");
        meta[nmeta++] = (pp_st_meta){keys[i], crc[i]};
    }
    char *head = NULL;
    size_t hlen = 0;
    if (!rc)
        rc = pp_st_header_text(st, n, meta, nmeta, &head, &hlen, err);
    int fd = -1;
    if (!rc && (fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0666)) < 0)
        rc = pp_error_set(err, PP_ERR_IO, "%s: cannot write: %s", path,
                          strerror(errno));
    long long budget = kill_after();
    int ok = !rc && write_all(fd, head, hlen) == 0;
    for (int i = 0; ok && i < n; i++) {
        size_t b = (size_t)(st[i].end - st[i].begin);
        if (budget >= 0 && (long long)b >= budget) {
            write_all(fd, t[i].data, (size_t)budget);
            raise(SIGKILL);
        }
        budget -= budget >= 0 ? (long long)b : 0;
        ok = write_all(fd, t[i].data, b) == 0;
    }
    ok = ok && fsync(fd) == 0;
    if (fd >= 0 && close(fd) != 0)
        ok = 0;
    if (!rc && !ok)
        rc = pp_error_set(err, PP_ERR_IO, "%s: cannot write: %s", path,
                          strerror(errno));
    *bytes = hlen + at;
    *header_crc = head ? pp_crc32c(0, head, hlen) : 0;
    free(head);
    for (int i = 0; keys && i < n; i++)
        free(keys[i]);
    free(keys);
    free(crc);
    free(meta);
    free(st);
    return rc;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    int ok = fd >= 0 && fsync(fd) == 0;
    if (fd >= 0)
        close(fd);
    return ok ? 0 : -1;
}

/* Removes dir and the files in it (a checkpoint has no subdirectories). */
static int remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[PATH_MAX];
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
            (size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) <
                sizeof path)
            unlink(path);
    }
    closedir(d);
    return rmdir(dir);
}

pp_status pp_ckpt_begin(const char *root, int64_t step, int make,
                        char **dir, char **final, pp_error *err)
{
    *dir = format("%s/step-%08" PRId64 ".partial", root, step);
    *final = format("%s/step-%08" PRId64, root, step);
    if (!*dir || !*final)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    if (!make)
        return PP_OK;
    if (mkdir(root, 0777) != 0 && errno != EEXIST)
        return pp_error_set(err, PP_ERR_IO, "%s: cannot make the checkpoint "
                            "directory: %s", root, strerror(errno));
    if (!is_dir(root))
        return pp_error_set(err, PP_ERR_IO, "%s is not a directory: "
                            "[train] checkpoint names a directory", root);
    if (remove_dir(*dir) != 0 && errno != ENOENT)
        return pp_error_set(err, PP_ERR_IO, "%s: cannot remove the "
                            "unfinished checkpoint there: %s", *dir,
                            strerror(errno));
    if (mkdir(*dir, 0777) != 0)
        return pp_error_set(err, PP_ERR_IO, "%s: cannot make: %s", *dir,
                            strerror(errno));
    return PP_OK;
}

/* The step of a checkpoint directory's name (step-NNNNNNNN), or -1. */
static int64_t step_of(const char *name, int *partial)
{
    char *end;
    if (strncmp(name, "step-", 5) != 0)
        return -1;
    long long s = strtoll(name + 5, &end, 10);
    *partial = *end != '\0';
    return end == name + 5 ? -1 : s;
}

static int by_step_down(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Of the checkpoints up to the one just made, the newest `keep` stay;
 * unfinished older ones go. Newer ones (of a run this one went back from)
 * are left alone. */
static void prune(const char *root, int64_t made, int keep)
{
    DIR *d = opendir(root);
    if (!d)
        return;
    int64_t *steps = NULL;
    int n = 0, cap = 0, partial;
    struct dirent *e;
    while ((e = readdir(d))) {
        int64_t s = step_of(e->d_name, &partial);
        if (s < 0 || partial || s > made)
            continue;
        if (n == cap) {
            int64_t *grown = realloc(steps, (size_t)(cap = cap * 2 + 16) *
                                                sizeof *grown);
            if (!grown)
                break;
            steps = grown;
        }
        steps[n++] = s;
    }
    qsort(steps, (size_t)n, sizeof *steps, by_step_down);
    int64_t oldest = keep > 0 && n > keep ? steps[keep - 1] : INT64_MIN;
    rewinddir(d);
    while ((e = readdir(d))) {
        int64_t s = step_of(e->d_name, &partial);
        char path[PATH_MAX];
        if (s < 0 || (size_t)snprintf(path, sizeof path, "%s/%s", root,
                                      e->d_name) >= sizeof path)
            continue;
        if ((!partial && s < oldest) || (partial && s < made))
            remove_dir(path);
    }
    closedir(d);
    free(steps);
    fsync_dir(root);
}

pp_status pp_ckpt_commit(const pp_ckpt *ck, const char *root,
                         const char *final, int keep, pp_error *err)
{
    char *text = manifest_text(ck);
    if (!text)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    char path[PATH_MAX], tmp[PATH_MAX];
    snprintf(path, sizeof path, "%s/" MANIFEST, ck->dir);
    snprintf(tmp, sizeof tmp, "%s/" MANIFEST ".tmp", ck->dir);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    int ok = fd >= 0 && write_all(fd, text, strlen(text)) == 0 &&
             fsync(fd) == 0;
    if (fd >= 0 && close(fd) != 0)
        ok = 0;
    free(text);
    ok = ok && rename(tmp, path) == 0 && fsync_dir(ck->dir) == 0;
    if (!ok)
        return pp_error_set(err, PP_ERR_IO, "%s: cannot write: %s", path,
                            strerror(errno));
    /* Complete now (a .partial with a manifest is found too); then in
     * place. A checkpoint of the same step already there (a run resumed
     * from an earlier one) goes once the new one has its name. */
    char old[PATH_MAX];
    snprintf(old, sizeof old, "%s.old", final);
    if (is_dir(final) && (remove_dir(old), rename(final, old) != 0))
        return pp_error_set(err, PP_ERR_IO, "%s: cannot move aside: %s",
                            final, strerror(errno));
    if (rename(ck->dir, final) != 0 || fsync_dir(root) != 0)
        return pp_error_set(err, PP_ERR_IO, "%s: cannot rename to %s: %s",
                            ck->dir, final, strerror(errno));
    remove_dir(old);
    int partial;
    const char *slash = strrchr(final, '/');
    prune(root, step_of(slash ? slash + 1 : final, &partial), keep);
    return PP_OK;
}
