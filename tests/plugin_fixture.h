/* tests/plugin_fixture.h - what the optimizer and data source tests
 * (test_optimizers, test_data_sources) share: a Check fixture holding the
 * registry (the build tree's plugins) and the one config a test parses
 * its section from, temporary files, and the check of a refusal's
 * message with the INI file's path in front.
 *
 * Test-only, and not a test itself: every helper asserts with Check. The
 * fixture is the caller's, one per program, opened by its setup and closed
 * by its teardown. */
#ifndef TESTS_PLUGIN_FIXTURE_H
#define TESTS_PLUGIN_FIXTURE_H

#include <stdio.h>

#include <check.h>

#include <pipette/pipette.h>

#include "config_file.h"
#include "registry.h"

typedef struct fixture {
    pp_registry *reg;
    pp_config *cfg;      /* the test's one config, freed by fixture_close */
    char ini_path[512];  /* the last section's INI file, already removed */
} fixture;

/* The registry, without the user's PIPETTE_PLUGIN_PATH. */
void fixture_open(fixture *fx);
void fixture_close(fixture *fx);

const pp_plugin_desc *fixture_plugin(fixture *fx, pp_plugin_kind kind,
                                     const char *name);

/* A fresh temporary file holding size bytes; returns its malloc'd path. */
char *write_tmp(const void *data, size_t size);

/* Parses text (replacing fx->cfg) and validates its first [kind] section
 * against core and the plugin's keys. The INI file is removed at once; its
 * path stays in fx->ini_path for the expected messages. */
pp_section *fixture_section(fixture *fx, const char *text, const char *kind,
                            const pp_key *core, const pp_plugin_desc *p);

/* "LINE: message" -> "INI_PATH:LINE: message", a macro so that a failure
 * names the test's line. */
#define EXPECT_MSG(fx, err, ...)                                            \
    do {                                                                    \
        char rest_[2048], want_[4096];                                      \
        snprintf(rest_, sizeof rest_, __VA_ARGS__);                         \
        snprintf(want_, sizeof want_, "%s:%s", (fx)->ini_path, rest_);      \
        ck_assert_int_eq((err).code, PP_ERR_CONFIG);                        \
        ck_assert_str_eq((err).msg, want_);                                 \
    } while (0)

#endif
