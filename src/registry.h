/* src/registry.h - finding, opening and checking plugins.
 *
 * The search path, in order: the config's plugin_path, PIPETTE_PLUGIN_PATH,
 * the build tree (only when this libpipette is the build tree's, so an
 * installed pipette never picks up a stale build), then $(pkglibdir). In
 * each directory D a plugin NAME of a kind is looked up as D/KINDDIR/NAME.so,
 * then D/NAME.so (KINDDIR: layers, schedules, or plugins for the other
 * kinds). The first file found wins; a later one is shadowed, which is how a
 * user overrides an installed plugin. Plugins built into libpipette (the
 * cpu device) come before the path: a file cannot shadow them.
 *
 * Plugins are opened RTLD_NOW | RTLD_LOCAL and never unloaded: the CUDA
 * runtime registers exit handlers inside them.
 *
 * Nothing is opened that a model file or another user could choose: a
 * name is never a path (pp_plugin_name_ok), every directory on the path
 * is absolute, and a file is opened only when it is a regular file that
 * no one but you and root can change, in directories no one else can
 * change up to / (plugin_file.c), and a complete ELF object.
 */
#ifndef PP_CORE_REGISTRY_H
#define PP_CORE_REGISTRY_H

#include <stddef.h>

#include <pipette/error.h>
#include <pipette/plugin.h>

typedef struct pp_plugin {
    const pp_plugin_desc *desc;
    char *path;
    const void *ops;     /* the kind's table as this pipette reads it: the
                            plugin's own, or a copy sized for this ABI with
                            the fields its minor lacks NULL (use this, not
                            desc->ops) */
    void *ops_copy;      /* that copy, when there is one */
} pp_plugin;

typedef struct pp_registry pp_registry;

/* plugin_path: the config's ':'-separated directories, or NULL. A
 * relative directory there or in PIPETTE_PLUGIN_PATH is refused
 * (PP_ERR_USAGE). */
pp_status pp_registry_create(const char *plugin_path, pp_registry **out,
                             pp_error *err);

/* Directories (':'-separated, absolute) that are not searched, and why
 * not ("[model] plugin_path, which is ignored: ..."): a plugin not found
 * on the path that one of them holds is named, with why, in the
 * not-found message. Nothing in them is ever opened. */
pp_status pp_registry_ignore(pp_registry *reg, const char *dirs,
                             const char *why, pp_error *err);
void pp_registry_free(pp_registry *reg);

/* The search directories, in order. */
size_t pp_registry_dirs(const pp_registry *reg, const char *const **dirs);

/* The file that would provide plugin `name` of `kind`, by the rule above,
 * into path; 0 when no directory has one. Opens nothing. */
int pp_registry_locate(const pp_registry *reg, pp_plugin_kind kind,
                       const char *name, char *path, size_t size);

/* Finds, opens and checks the plugin `name` of `kind` (loading it once).
 * A name that is not a plugin name, or that no file has: PP_ERR_CONFIG;
 * a file refused: PP_ERR_PLUGIN. */
pp_status pp_registry_find(pp_registry *reg, pp_plugin_kind kind,
                           const char *name, const pp_plugin **out,
                           pp_error *err);

/* Every plugin of `kind` that pp_registry_find gives by name: the
 * built-in ones, and for each file name on the path the file find
 * picks, where it is a good plugin of that kind (the others are passed
 * over: asked for by name, find says why). *out is malloc'd, *n long,
 * in no particular order. */
pp_status pp_registry_all(pp_registry *reg, pp_plugin_kind kind,
                          const pp_plugin ***out, size_t *n, pp_error *err);

/* Opens and checks one file. kind 0 accepts any kind. */
pp_status pp_registry_load_file(pp_registry *reg, const char *path,
                                uint32_t kind, const pp_plugin **out,
                                pp_error *err);

/* One file seen by pp_registry_scan: plugin is set when it was accepted
 * (shadowed_by too, when an earlier file of the same kind and name wins);
 * otherwise refusal says why it was refused. */
typedef struct pp_scan_entry {
    const char *path;
    const pp_plugin *plugin;
    const pp_plugin *shadowed_by;
    const pp_error *refusal;
} pp_scan_entry;

typedef void (*pp_scan_fn)(void *user, const pp_scan_entry *entry);

/* The built-in plugins, then every *.so under the search path, in search
 * order; returns the number refused through *refused. */
pp_status pp_registry_scan(pp_registry *reg, pp_scan_fn fn, void *user,
                           size_t *refused, pp_error *err);

/* Checks a descriptor as the loader does, its table included (exposed
 * for tests): its name must be want_name, the name it was asked for
 * (NULL: its file's name without ".so"). */
pp_status pp_plugin_check(const pp_plugin_desc *desc, const char *path,
                          uint32_t want_kind, const char *want_name,
                          pp_error *err);

/* plugin_file.c: a plugin's name is 1 to PP_PLUGIN_NAME_MAX of
 * [a-z0-9_.-], begins with [a-z0-9] and has no "..": so NAME.so is a
 * file name, never a path. pp_plugin_name_check says so (PP_ERR_CONFIG)
 * for one that is not. */
#define PP_PLUGIN_NAME_MAX 64
int pp_plugin_name_ok(const char *name);
pp_status pp_plugin_name_check(const char *name, pp_error *err);

/* plugin_file.c: refuses, with the reason, a file that is not a regular
 * file (without opening it), that someone other than you and root owns
 * or may write, that lies in a directory (up to /) someone else owns or
 * may write (a sticky one, such as /tmp, may be writable above the
 * file's own directory; a group-writable one only by its owner's private
 * group), or whose ELF program headers lie past its end. *real: the
 * file's real path, to open (malloc'd). */
pp_status pp_plugin_file_check(const char *path, char **real,
                               pp_error *err);

/* plugin_tables.c: refuses a table (the host's view of desc's) that
 * leaves a required entry NULL; and that view: desc->ops itself, or a
 * copy in *copy (to free) sized for this ABI; NULL when memory ran out. */
pp_status pp_check_table(const pp_plugin_desc *desc, const void *table,
                         const char *path, pp_error *err);
const void *pp_host_table(const pp_plugin_desc *desc, void **copy);

/* The precisions a layer or optimizer runs (PP_PRECISION_BIT()s; a table
 * that says none runs fp32 and tf32); every one for other kinds. */
unsigned pp_plugin_precisions(const pp_plugin *plugin);
/* "fp32, tf32, bf16": a set of precisions. */
const char *pp_precisions_text(unsigned set, char *buf, size_t size);

/* "layers", "schedules" or "plugins". */
const char *pp_kind_dir(uint32_t kind);

/* device_cpu.c: the built-in cpu device's descriptor. */
const pp_plugin_desc *pp_device_cpu_plugin(void);

#endif
