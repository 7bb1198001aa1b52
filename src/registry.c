/* src/registry.c - the plugin search path, dlopen, and the descriptor
 * checks. The registry is the one piece of long-lived state a process has;
 * it is an object (no globals), created by whoever needs plugins. */
#define _GNU_SOURCE /* dladdr, RTLD_NODELETE */
#include <config.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config_file.h"
#include "registry.h"

struct pp_registry {
    char **dirs;
    size_t ndirs;
    char **ignored;      /* directories not searched (pp_registry_ignore) */
    size_t nignored;
    char *ignored_why;
    pp_plugin **plugins; /* every plugin accepted so far */
    size_t nplugins;
};

/* Plugins built into libpipette, found by name before any file. */
static const pp_plugin_desc *(*const builtins[])(void) = {
    pp_device_cpu_plugin,
};

#define BUILTIN_PATH "built into libpipette"

static pp_status remember(pp_registry *reg, const char *path,
                          const pp_plugin_desc *d, const pp_plugin **out,
                          pp_error *err);

const char *pp_kind_dir(uint32_t kind)
{
    switch (kind) {
    case PP_KIND_LAYER: return "layers";
    case PP_KIND_SCHEDULE: return "schedules";
    default: return "plugins";
    }
}

/* Appends dir (len bytes) to the list *dirs, *n long. */
static pp_status add_dir(char ***dirs, size_t *n, const char *dir,
                         size_t len, pp_error *err)
{
    if (len == 0)
        return PP_OK;
    char **grown = realloc(*dirs, (*n + 1) * sizeof *grown);
    if (!grown)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    *dirs = grown;
    if (!(grown[*n] = strndup(dir, len)))
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    (*n)++;
    return PP_OK;
}

/* A ':'-separated list; `what` names it in the refusal of a relative
 * directory, which would find other plugins in another directory.
 * Empty entries are skipped (never the current directory). */
static pp_status add_path_list(char ***dirs, size_t *n, const char *list,
                               const char *what, pp_error *err)
{
    while (list && *list) {
        const char *colon = strchr(list, ':');
        size_t len = colon ? (size_t)(colon - list) : strlen(list);
        if (len && list[0] != '/')
            return pp_error_set(err, PP_ERR_USAGE,
                "%s: '%.*s' is a relative directory: plugins are searched "
                "only in absolute ones (one relative to wherever pipette "
                "runs could load other code there)", what, (int)len, list);
        pp_status st = add_dir(dirs, n, list, len, err);
        if (st)
            return st;
        list = colon ? colon + 1 : NULL;
    }
    return PP_OK;
}

/* Whether the libpipette running now is the one in the build tree: only
 * then are the build tree's plugins on the path, so an installed pipette
 * never loads a stale build. */
static int running_from_build_tree(void)
{
    Dl_info info;
    if (!dladdr((void *)&pp_registry_create, &info) || !info.dli_fname)
        return 0;
    char self[PATH_MAX], build[PATH_MAX];
    if (!realpath(info.dli_fname, self) ||
        !realpath(PP_BUILDDIR "/src/.libs", build))
        return 0;
    char *slash = strrchr(self, '/');
    if (!slash)
        return 0;
    *slash = '\0';
    return strcmp(self, build) == 0;
}

pp_status pp_registry_create(const char *plugin_path, pp_registry **out,
                             pp_error *err)
{
    *out = NULL;
    pp_registry *reg = calloc(1, sizeof *reg);
    if (!reg)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    pp_status st = add_path_list(&reg->dirs, &reg->ndirs, plugin_path,
                                 "plugin_path", err);
    if (!st)
        st = add_path_list(&reg->dirs, &reg->ndirs,
                           getenv("PIPETTE_PLUGIN_PATH"),
                           "PIPETTE_PLUGIN_PATH", err);
    if (!st && running_from_build_tree()) {
        static const char *const tree[] = {"layers", "schedules", "plugins"};
        for (size_t i = 0; !st && i < sizeof tree / sizeof *tree; i++) {
            char dir[PATH_MAX];
            int n = snprintf(dir, sizeof dir, "%s/%s/.libs", PP_BUILDDIR,
                             tree[i]);
            st = add_dir(&reg->dirs, &reg->ndirs, dir, (size_t)n, err);
        }
    }
    if (!st)
        st = add_dir(&reg->dirs, &reg->ndirs, PP_PKGLIBDIR,
                     strlen(PP_PKGLIBDIR), err);
    const pp_plugin *ignore;
    for (size_t i = 0; !st && i < sizeof builtins / sizeof *builtins; i++)
        st = remember(reg, BUILTIN_PATH, builtins[i](), &ignore, err);
    if (st) {
        pp_registry_free(reg);
        return st;
    }
    *out = reg;
    return PP_OK;
}

pp_status pp_registry_ignore(pp_registry *reg, const char *dirs,
                             const char *why, pp_error *err)
{
    free(reg->ignored_why);
    if (!(reg->ignored_why = strdup(why)))
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    return add_path_list(&reg->ignored, &reg->nignored, dirs, "plugin_path",
                         err);
}

void pp_registry_free(pp_registry *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->ndirs; i++)
        free(reg->dirs[i]);
    free(reg->dirs);
    for (size_t i = 0; i < reg->nignored; i++)
        free(reg->ignored[i]);
    free(reg->ignored);
    free(reg->ignored_why);
    /* The handles stay open (RTLD_NODELETE): see registry.h. */
    for (size_t i = 0; i < reg->nplugins; i++) {
        free(reg->plugins[i]->path);
        free(reg->plugins[i]->ops_copy);
        free(reg->plugins[i]);
    }
    free(reg->plugins);
    free(reg);
}

size_t pp_registry_dirs(const pp_registry *reg, const char *const **dirs)
{
    *dirs = (const char *const *)reg->dirs;
    return reg->ndirs;
}

/* The file's name without directory and ".so". */
static void stem_of(const char *path, char *stem, size_t size)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t len = strlen(base);
    if (len > 3 && strcmp(base + len - 3, ".so") == 0)
        len -= 3;
    if (len >= size)
        len = size - 1;
    memcpy(stem, base, len);
    stem[len] = '\0';
}

pp_status pp_plugin_check(const pp_plugin_desc *d, const char *path,
                          uint32_t want_kind, const char *want_name,
                          pp_error *err)
{
    if (d->magic != PP_PLUGIN_MAGIC)
        return pp_error_set(err, PP_ERR_PLUGIN,
            "%s: bad magic 0x%08x in '%s' (expected 0x%08x): not a pipette "
            "plugin, or built against a corrupt header",
            path, (unsigned)d->magic, PP_PLUGIN_SYMBOL, PP_PLUGIN_MAGIC);
    if (d->abi_major != PP_ABI_MAJOR)
        return pp_error_set(err, PP_ERR_PLUGIN,
            "%s: built for plugin ABI %u.%u, this pipette has ABI %d.%d "
            "(major versions differ): rebuild the plugin against pipette %s%s",
            path, d->abi_major, d->abi_minor, PP_ABI_MAJOR, PP_ABI_MINOR,
            PACKAGE_VERSION, d->abi_major < PP_ABI_MAJOR
                ? " (pipette/plugin.h says what changed since)" : "");
    if (d->abi_minor > PP_ABI_MINOR)
        return pp_error_set(err, PP_ERR_PLUGIN,
            "%s: built for plugin ABI %u.%u, newer than this pipette's %d.%d: "
            "upgrade pipette or rebuild the plugin against it",
            path, d->abi_major, d->abi_minor, PP_ABI_MAJOR, PP_ABI_MINOR);
    if (d->size != sizeof(pp_plugin_desc))
        return pp_error_set(err, PP_ERR_PLUGIN,
            "%s: descriptor is %u bytes, expected %zu for ABI %d.%d: declare "
            "it with PP_PLUGIN()",
            path, (unsigned)d->size, sizeof(pp_plugin_desc), PP_ABI_MAJOR,
            PP_ABI_MINOR);
    const char *kind = pp_plugin_kind_name(d->kind);
    if (!kind)
        return pp_error_set(err, PP_ERR_PLUGIN,
            "%s: unknown plugin kind %u (this pipette knows 1 to %d)", path,
            (unsigned)d->kind, PP_KIND_COUNT_ - 1);
    if (want_kind && d->kind != want_kind)
        return pp_error_set(err, PP_ERR_PLUGIN,
            "%s: is a %s plugin, expected a %s plugin", path, kind,
            pp_plugin_kind_name(want_kind));
    if (!d->name || !d->name[0])
        return pp_error_set(err, PP_ERR_PLUGIN,
            "%s: %s plugin has an empty name", path, kind);
    /* pp_registry_find asks for the name it made the file's from. */
    char stem[256];
    stem_of(path, stem, sizeof stem);
    if (want_name && strcmp(want_name, d->name) != 0 &&
        strcmp(want_name, stem) != 0)
        return pp_error_set(err, PP_ERR_PLUGIN,
            "%s: %s plugin is named '%s', not '%s' as asked", path, kind,
            d->name, want_name);
    if (strcmp(stem, d->name) != 0)
        return pp_error_set(err, PP_ERR_PLUGIN,
            "%s: %s plugin is named '%s' but its file is '%s.so': name the "
            "file after the plugin (%s.so)",
            path, kind, d->name, stem, d->name);
    if (!d->ops)
        return pp_error_set(err, PP_ERR_PLUGIN,
            "%s: %s plugin '%s' has no function table", path, kind, d->name);
    void *copy;
    const void *table = pp_host_table(d, &copy);
    pp_status st = table ? pp_check_table(d, table, path, err)
                         : pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    free(copy);
    return st;
}

static const pp_plugin *find_loaded(const pp_registry *reg, uint32_t kind,
                                    const char *name)
{
    for (size_t i = 0; i < reg->nplugins; i++)
        if (reg->plugins[i]->desc->kind == kind &&
            strcmp(reg->plugins[i]->desc->name, name) == 0)
            return reg->plugins[i];
    return NULL;
}

static const pp_plugin *find_loaded_path(const pp_registry *reg,
                                         const char *path)
{
    for (size_t i = 0; i < reg->nplugins; i++)
        if (strcmp(reg->plugins[i]->path, path) == 0)
            return reg->plugins[i];
    return NULL;
}

/* Opens path, the file of plugin `name` (NULL: the one its file name
 * says), and checks it, without adding it to the registry. */
static pp_status open_plugin(const char *path, uint32_t kind,
                             const char *name, const pp_plugin_desc **desc,
                             pp_error *err)
{
    char stem[256];
    stem_of(path, stem, sizeof stem);
    char *real;
    if (pp_plugin_name_check(name ? name : stem, err)) {
        pp_error_prefix(err, "%s", path);
        return err->code = PP_ERR_PLUGIN;
    }
    if (pp_plugin_file_check(path, &real, err))
        return err->code;
    void *handle = dlopen(real, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    free(real);
    if (!handle) {
        const char *why = dlerror();
        return pp_error_set(err, PP_ERR_PLUGIN,
            "%s: cannot load: %s (a library it needs may be missing or not "
            "on LD_LIBRARY_PATH: try 'ldd %s')",
            path, why ? why : "unknown dlopen error", path);
    }
    const pp_plugin_desc *d = dlsym(handle, PP_PLUGIN_SYMBOL);
    if (!d) {
        dlclose(handle);
        return pp_error_set(err, PP_ERR_PLUGIN,
            "%s: no '%s' symbol: not a pipette plugin (declare one with "
            "PP_PLUGIN() and export it)",
            path, PP_PLUGIN_SYMBOL);
    }
    pp_status st = pp_plugin_check(d, path, kind, name, err);
    if (st) {
        dlclose(handle);
        return st;
    }
    *desc = d;
    return PP_OK;
}

static pp_status remember(pp_registry *reg, const char *path,
                          const pp_plugin_desc *d, const pp_plugin **out,
                          pp_error *err)
{
    pp_plugin **list = realloc(reg->plugins,
                               (reg->nplugins + 1) * sizeof *list);
    if (!list)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    reg->plugins = list;
    pp_plugin *p = calloc(1, sizeof *p);
    char *copy = strdup(path);
    if (!p || !copy) {
        free(p);
        free(copy);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    p->desc = d;
    p->path = copy;
    if (!(p->ops = pp_host_table(d, &p->ops_copy))) {
        free(p);
        free(copy);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    reg->plugins[reg->nplugins++] = p;
    *out = p;
    return PP_OK;
}

/* pp_registry_load_file, for plugin `name` (NULL: its file's). */
static pp_status load_file(pp_registry *reg, const char *path, uint32_t kind,
                           const char *name, const pp_plugin **out,
                           pp_error *err)
{
    const pp_plugin *known = find_loaded_path(reg, path);
    if (known) {
        if (kind && known->desc->kind != kind)
            return pp_error_set(err, PP_ERR_PLUGIN,
                "%s: is a %s plugin, expected a %s plugin", path,
                pp_plugin_kind_name(known->desc->kind),
                pp_plugin_kind_name(kind));
        *out = known;
        return PP_OK;
    }
    const pp_plugin_desc *d;
    pp_status st = open_plugin(path, kind, name, &d, err);
    if (st)
        return st;
    const pp_plugin *twin = find_loaded(reg, d->kind, d->name);
    if (twin)
        return pp_error_set(err, PP_ERR_PLUGIN,
            "%s: duplicate %s plugin '%s': already loaded from %s",
            path, pp_plugin_kind_name(d->kind), d->name, twin->path);
    return remember(reg, path, d, out, err);
}

pp_status pp_registry_load_file(pp_registry *reg, const char *path,
                                uint32_t kind, const pp_plugin **out,
                                pp_error *err)
{
    return load_file(reg, path, kind, NULL, out, err);
}

static pp_status list_dir(const char *dir, char ***names, size_t *n,
                          pp_error *err);

static void free_names(char **names, size_t n)
{
    for (size_t k = 0; k < n; k++)
        free(names[k]);
    free(names);
}

/* Adds name to the list *all (*n long); 0 when memory ran out. */
static int add_name(char ***all, size_t *n, char *name)
{
    char **grown = name ? realloc(*all, (*n + 1) * sizeof *grown) : NULL;
    if (!grown) {
        free(name);
        return 0;
    }
    *all = grown;
    (*all)[(*n)++] = name;
    return 1;
}

/* The names a lookup of `kind` may find: the built-in plugins of that
 * kind, then each *.so of the kind's directory and of each search
 * directory itself, in search order (without ".so"; some may repeat).
 * Each is malloc'd, like the list. */
static pp_status kind_names(const pp_registry *reg, uint32_t kind,
                            char ***out, size_t *nout, pp_error *err)
{
    char **all = NULL;
    size_t nall = 0;
    int ok = 1;
    for (size_t i = 0; ok && i < sizeof builtins / sizeof *builtins; i++)
        if (builtins[i]()->kind == kind)
            ok = add_name(&all, &nall, strdup(builtins[i]()->name));
    for (size_t i = 0; ok && i < reg->ndirs; i++) {
        for (int flat = 0; ok && flat < 2; flat++) {
            char dir[PATH_MAX];
            snprintf(dir, sizeof dir, "%s%s%s", reg->dirs[i],
                     flat ? "" : "/", flat ? "" : pp_kind_dir(kind));
            char **names;
            size_t n;
            ok = list_dir(dir, &names, &n, err) == PP_OK;
            for (size_t k = 0; ok && k < n; k++) {
                names[k][strlen(names[k]) - 3] = '\0'; /* drop ".so" */
                ok = add_name(&all, &nall, names[k]);
                names[k] = NULL;
            }
            free_names(names, n); /* those taken are NULL */
        }
    }
    if (!ok) {
        free_names(all, nall);
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    }
    *out = all;
    *nout = nall;
    return PP_OK;
}

/* The name of a plugin on the path that is close to `name`, copied into
 * out ("" if none), for a "did you mean" in the not-found message. */
static void closest_name(const pp_registry *reg, uint32_t kind,
                         const char *name, char *out, size_t size)
{
    out[0] = '\0';
    char **all;
    size_t nall;
    pp_error ignore;
    pp_error_clear(&ignore);
    if (kind_names(reg, kind, &all, &nall, &ignore))
        return;
    const char *best = pp_did_you_mean(name, (const char *const *)all, nall);
    if (best)
        snprintf(out, size, "%s", best);
    free_names(all, nall);
}

static int is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The file of plugin `name` in one of dirs (n of them), by the rule of
 * registry.h, into path; 0 when none has one. */
static int locate_in(char *const *dirs, size_t n, uint32_t kind,
                     const char *name, char *path, size_t size)
{
    if (!pp_plugin_name_ok(name))
        return 0;
    for (size_t i = 0; i < n; i++) {
        /* (A path cut short would be another file.) */
        if ((size_t)snprintf(path, size, "%s/%s/%s.so", dirs[i],
                             pp_kind_dir(kind), name) < size &&
            is_file(path))
            return 1;
        if ((size_t)snprintf(path, size, "%s/%s.so", dirs[i], name) < size &&
            is_file(path))
            return 1;
    }
    return 0;
}

int pp_registry_locate(const pp_registry *reg, pp_plugin_kind kind,
                       const char *name, char *path, size_t size)
{
    return locate_in(reg->dirs, reg->ndirs, kind, name, path, size);
}

pp_status pp_registry_find(pp_registry *reg, pp_plugin_kind kind,
                           const char *name, const pp_plugin **out,
                           pp_error *err)
{
    char hint[256];
    if (pp_plugin_name_check(name, err)) {
        closest_name(reg, kind, name, hint, sizeof hint);
        size_t used = strlen(err->msg);
        if (hint[0])
            snprintf(err->msg + used, sizeof err->msg - used,
                     "; did you mean '%s'?", hint);
        return err->code;
    }
    const pp_plugin *known = find_loaded(reg, kind, name);
    if (known) {
        *out = known;
        return PP_OK;
    }
    char path[PATH_MAX];
    if (pp_registry_locate(reg, kind, name, path, sizeof path))
        return load_file(reg, path, kind, name, out, err);
    char searched[2048] = "";
    size_t used = 0;
    for (size_t i = 0; i < reg->ndirs && used < sizeof searched; i++)
        used += (size_t)snprintf(searched + used, sizeof searched - used,
                                 "%s%s", i ? ":" : "", reg->dirs[i]);
    if (locate_in(reg->ignored, reg->nignored, kind, name, path,
                  sizeof path))
        return pp_error_set(err, PP_ERR_PLUGIN,
            "no %s plugin named '%s' on the search path; %s is in %s",
            pp_plugin_kind_name(kind), name, path, reg->ignored_why);
    /* A name not found is the caller's mistake, a config error (exit
     * status 2, cmd.h); a file found but refused is a plugin error. */
    closest_name(reg, kind, name, hint, sizeof hint);
    if (hint[0])
        return pp_error_set(err, PP_ERR_CONFIG,
            "no %s plugin named '%s'; did you mean '%s'?",
            pp_plugin_kind_name(kind), name, hint);
    return pp_error_set(err, PP_ERR_CONFIG,
        "no %s plugin named '%s' (searched %s; 'pipette plugins' lists "
        "those found)",
        pp_plugin_kind_name(kind), name, searched);
}

pp_status pp_registry_all(pp_registry *reg, pp_plugin_kind kind,
                          const pp_plugin ***out, size_t *n, pp_error *err)
{
    char **names;
    size_t nnames;
    *out = NULL;
    *n = 0;
    if (kind_names(reg, kind, &names, &nnames, err))
        return err->code;
    const pp_plugin **list = malloc((nnames + 1) * sizeof *list);
    size_t count = 0;
    for (size_t i = 0; list && i < nnames; i++) {
        const pp_plugin *p;
        pp_error ignore;
        if (pp_registry_find(reg, kind, names[i], &p, &ignore))
            continue;
        size_t k = 0;
        while (k < count && list[k] != p)
            k++;
        if (k == count)
            list[count++] = p;
    }
    free_names(names, nnames);
    if (!list)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    *out = list;
    *n = count;
    return PP_OK;
}

static int has_so_suffix(const char *name)
{
    size_t len = strlen(name);
    return len > 3 && strcmp(name + len - 3, ".so") == 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The *.so files of one directory, sorted so listings are stable. */
static pp_status list_dir(const char *dir, char ***names, size_t *n,
                          pp_error *err)
{
    *names = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return PP_OK; /* absent directories are normal on a search path */
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!has_so_suffix(e->d_name))
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            char **grown = realloc(*names, cap * sizeof *grown);
            if (!grown)
                break;
            *names = grown;
        }
        if (!((*names)[*n] = strdup(e->d_name)))
            break;
        (*n)++;
    }
    int failed = errno == ENOMEM;
    closedir(d);
    if (failed)
        return pp_error_set(err, PP_ERR_NOMEM, "out of memory");
    if (*n > 1) /* an empty directory leaves names NULL */
        qsort(*names, *n, sizeof **names, compare_names);
    return PP_OK;
}

/* Whether path lies in search directory dir (directly or in a kind
 * subdirectory). */
static int in_search_dir(const char *path, const char *dir)
{
    size_t len = strlen(dir);
    if (strncmp(path, dir, len) != 0 || path[len] != '/')
        return 0;
    const char *slash = strchr(path + len + 1, '/');
    return !slash || !strchr(slash + 1, '/');
}

/* Two files of one search directory that claim the same plugin are
 * ambiguous, and refused; a file in a later directory is shadowed by the
 * earlier one, as on PATH. */
static void scan_one(pp_registry *reg, const char *dir, const char *path,
                     pp_scan_fn fn, void *user, size_t *refused)
{
    pp_scan_entry entry = {.path = path};
    pp_error why;
    pp_error_clear(&why);
    const pp_plugin_desc *d = NULL;
    const pp_plugin *known = find_loaded_path(reg, path);
    if (known) {
        entry.plugin = known;
    } else if (open_plugin(path, 0, NULL, &d, &why) == PP_OK) {
        const pp_plugin *first = find_loaded(reg, d->kind, d->name);
        pp_plugin shadowed = {.desc = d, .path = (char *)path};
        if (first && in_search_dir(first->path, dir)) {
            pp_error_set(&why, PP_ERR_PLUGIN,
                "%s: duplicate %s plugin '%s': %s declares it too; remove "
                "one of them",
                path, pp_plugin_kind_name(d->kind), d->name, first->path);
        } else if (first) {
            entry.plugin = &shadowed;
            entry.shadowed_by = first;
            fn(user, &entry);
            return;
        } else if (remember(reg, path, d, &entry.plugin, &why)) {
            entry.plugin = NULL;
        }
    }
    if (!entry.plugin) {
        entry.refusal = &why;
        (*refused)++;
    }
    fn(user, &entry);
}

pp_status pp_registry_scan(pp_registry *reg, pp_scan_fn fn, void *user,
                           size_t *refused, pp_error *err)
{
    *refused = 0;
    for (size_t i = 0; i < reg->nplugins; i++)
        if (strcmp(reg->plugins[i]->path, BUILTIN_PATH) == 0) {
            pp_scan_entry entry = {BUILTIN_PATH, reg->plugins[i], NULL,
                                   NULL};
            fn(user, &entry);
        }
    static const char *const sub[] = {"", "/layers", "/schedules", "/plugins"};
    for (size_t i = 0; i < reg->ndirs; i++) {
        for (size_t s = 0; s < sizeof sub / sizeof *sub; s++) {
            char dir[PATH_MAX];
            snprintf(dir, sizeof dir, "%s%s", reg->dirs[i], sub[s]);
            char **names;
            size_t n;
            pp_status st = list_dir(dir, &names, &n, err);
            if (st)
                return st;
            for (size_t k = 0; k < n; k++) {
                char path[PATH_MAX + 256]; /* dir + '/' + a d_name */
                snprintf(path, sizeof path, "%s/%s", dir, names[k]);
                scan_one(reg, reg->dirs[i], path, fn, user, refused);
                free(names[k]);
            }
            free(names);
        }
    }
    return PP_OK;
}
