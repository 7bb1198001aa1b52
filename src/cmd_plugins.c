/* src/cmd_plugins.c - `pipette plugins`: every plugin on the search path,
 * and every file there that was refused, with the reason. */
#include <config.h>

#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "config_file.h"
#include "registry.h"

static const char usage[] =
    "usage: pipette plugins\n"
    "\n"
    "Lists every plugin found on the search path: kind, name, ABI, file,\n"
    "description and the keys a model file may give it (a layer's in its\n"
    "[layer] section, a schedule's in [pipeline], an optimizer's in [train],\n"
    "a data source's in [data]). A plugin shadowed by one of the same kind\n"
    "and name earlier on the path is marked so. Files that are not\n"
    "acceptable plugins are reported on stderr with the reason, and the\n"
    "exit status is then 1: those the loader refuses, and those it never\n"
    "opens (not a regular file, a truncated shared object, a file or a\n"
    "directory that another user could change; see pipette(1), PLUGINS).\n"
    "\n"
    "Search path: PIPETTE_PLUGIN_PATH (':'-separated absolute directories),\n"
    "the build tree when run from it, then " PP_PKGLIBDIR ".\n";

static void print_entry(void *user, const pp_scan_entry *e)
{
    (void)user;
    if (e->refusal) {
        fprintf(stderr, "pipette: refused %s\n", e->refusal->msg);
        return;
    }
    const pp_plugin_desc *d = e->plugin->desc;
    printf("%-10s %-16s %u.%-4u %s%s\n", pp_plugin_kind_name(d->kind),
           d->name, d->abi_major, d->abi_minor, e->path,
           e->shadowed_by ? " (shadowed)" : "");
    printf("%-10s %-16s %-6s %s\n", "", "", "",
           d->description ? d->description : "");
    /* (A shadowed file's table is not read: it never runs.) */
    if (!e->shadowed_by &&
        (d->kind == PP_KIND_LAYER || d->kind == PP_KIND_OPTIMIZER)) {
        char list[64];
        printf("%-10s %-16s %-6s   precisions: %s\n", "", "", "",
               pp_precisions_text(pp_plugin_precisions(e->plugin), list,
                                  sizeof list));
    }
    for (const pp_key *k = d->keys; k && k->name; k++) {
        char what[256];
        pp_key_describe(k, what, sizeof what);
        printf("%-10s %-16s %-6s   %s: %s%s%s\n", "", "", "", k->name, what,
               k->help ? "; " : "", k->help ? k->help : "");
    }
}

int pp_cmd_plugins(int argc, char **argv)
{
    if (pp_cmd_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return PP_EXIT_OK;
    }
    if (argc > 1) {
        fprintf(stderr, "pipette plugins: unexpected argument '%s'\n%s",
                argv[1], usage);
        return PP_EXIT_USAGE;
    }
    pp_error err;
    pp_error_clear(&err);
    pp_registry *reg;
    if (pp_registry_create(NULL, &reg, &err))
        return pp_cmd_fail(&err);
    printf("%-10s %-16s %-6s %s\n", "KIND", "NAME", "ABI", "FILE");
    size_t refused = 0;
    pp_status st = pp_registry_scan(reg, print_entry, NULL, &refused, &err);
    const char *const *dirs;
    size_t n = pp_registry_dirs(reg, &dirs);
    printf("\nsearch path:\n");
    for (size_t i = 0; i < n; i++)
        printf("  %s\n", dirs[i]);
    pp_registry_free(reg);
    if (st)
        return pp_cmd_fail(&err);
    return refused ? PP_EXIT_FAILURE : PP_EXIT_OK;
}
