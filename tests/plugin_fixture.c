/* tests/plugin_fixture.c - the optimizer and data source tests' shared
 * fixture: plugins from the build tree through the registry, and sections
 * parsed from small INI files, as the core would. See plugin_fixture.h.
 *
 * Not the core's key tables: each test restates the few core keys of its
 * own section.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugin_fixture.h"

void fixture_open(fixture *fx)
{
    pp_error err;
    memset(fx, 0, sizeof *fx);
    unsetenv("PIPETTE_PLUGIN_PATH");
    ck_assert_int_eq(pp_registry_create(NULL, &fx->reg, &err), PP_OK);
}

void fixture_close(fixture *fx)
{
    pp_config_free(fx->cfg);
    fx->cfg = NULL;
    pp_registry_free(fx->reg);
}

const pp_plugin_desc *fixture_plugin(fixture *fx, pp_plugin_kind kind,
                                     const char *name)
{
    const pp_plugin *p;
    pp_error err;
    pp_error_clear(&err);
    pp_status st = pp_registry_find(fx->reg, kind, name, &p, &err);
    ck_assert_msg(st == PP_OK, "%s", err.msg);
    return p->desc;
}

char *write_tmp(const void *data, size_t size)
{
    const char *dir = getenv("TMPDIR");
    char *path = malloc(512);
    ck_assert_ptr_nonnull(path);
    snprintf(path, 512, "%s/pp-optdata-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, data, size), (ssize_t)size);
    close(fd);
    return path;
}

pp_section *fixture_section(fixture *fx, const char *text, const char *kind,
                            const pp_key *core, const pp_plugin_desc *p)
{
    char *tmp = write_tmp(text, strlen(text));
    snprintf(fx->ini_path, sizeof fx->ini_path, "%s", tmp);
    pp_error err;
    pp_error_clear(&err);
    pp_config_free(fx->cfg);
    pp_status st = pp_config_load(tmp, &fx->cfg, &err);
    unlink(tmp);
    free(tmp);
    ck_assert_msg(st == PP_OK, "%s", err.msg);
    pp_section *s = pp_config_section(fx->cfg, kind);
    ck_assert_ptr_nonnull(s);
    st = pp_section_validate(s, core, p->keys, &err);
    ck_assert_msg(st == PP_OK, "%s", err.msg);
    return s;
}
