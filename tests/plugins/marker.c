/* tests/plugins/marker.c - a layer plugin (the identity) whose
 * constructor appends its name to the file PP_TEST_MARKER names, before
 * any of pipette's checks can run: a test that finds the line knows the
 * file was opened. Built as evil/evil.so, for names that try to be paths,
 * and as model/linear.so, which poses as linear (its units key is
 * taken and ignored), for a model folder's own plugins. */
#include <stdio.h>
#include <stdlib.h>

#include "broken.h"

__attribute__((constructor)) static void mark(void)
{
    const char *path = getenv("PP_TEST_MARKER");
    FILE *f = path ? fopen(path, "a") : NULL;
    if (f) {
        fprintf(f, "%s\n", MARKER_NAME);
        fclose(f);
    }
}

static const pp_key keys[] = {
    {"units", PP_KEY_INT, 0, 1, 1 << 24, NULL, NULL, "ignored"},
    {0},
};

PP_PLUGIN(PP_KIND_LAYER, MARKER_NAME,
          "identity that marks PP_TEST_MARKER when opened (tests)", keys,
          &identity_ops);
