# tests/timeline.mk - the schedule renderers (included from tests/local.mk).
#
# test_timeline: the text grid, Chrome trace, SVG and JSON summary of
#   hand-built simulations; python3 and xmllint check the JSON and the SVG
#   where installed, its own checks in C run everywhere.
if HAVE_CHECK
check_PROGRAMS += tests/test_timeline
TESTS += tests/test_timeline
tests_test_timeline_SOURCES = tests/test_timeline.c
tests_test_timeline_CFLAGS = $(TEST_CFLAGS)
tests_test_timeline_LDADD = $(TEST_LIBS)
endif
