# Deliberately broken schedule plugins, each refused by the verifier with
# its own message (tests/schedule-refusals.sh). Never installed.
EXTRA_DIST += tests/schedules/fixed.h

check_LTLIBRARIES += tests/schedules/missing_task.la
tests_schedules_missing_task_la_SOURCES = tests/schedules/missing_task.c
tests_schedules_missing_task_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_schedules_missing_task_la_LIBADD = src/libpipette.la

check_LTLIBRARIES += tests/schedules/duplicate_task.la
tests_schedules_duplicate_task_la_SOURCES = tests/schedules/duplicate_task.c
tests_schedules_duplicate_task_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_schedules_duplicate_task_la_LIBADD = src/libpipette.la

check_LTLIBRARIES += tests/schedules/backward_first.la
tests_schedules_backward_first_la_SOURCES = tests/schedules/backward_first.c
tests_schedules_backward_first_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_schedules_backward_first_la_LIBADD = src/libpipette.la

check_LTLIBRARIES += tests/schedules/bw_before_bi.la
tests_schedules_bw_before_bi_la_SOURCES = tests/schedules/bw_before_bi.c
tests_schedules_bw_before_bi_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_schedules_bw_before_bi_la_LIBADD = src/libpipette.la

check_LTLIBRARIES += tests/schedules/two_ranks.la
tests_schedules_two_ranks_la_SOURCES = tests/schedules/two_ranks.c
tests_schedules_two_ranks_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_schedules_two_ranks_la_LIBADD = src/libpipette.la

check_LTLIBRARIES += tests/schedules/deadlock_order.la
tests_schedules_deadlock_order_la_SOURCES = tests/schedules/deadlock_order.c
tests_schedules_deadlock_order_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_schedules_deadlock_order_la_LIBADD = src/libpipette.la

check_LTLIBRARIES += tests/schedules/needs_multiple.la
tests_schedules_needs_multiple_la_SOURCES = tests/schedules/needs_multiple.c
tests_schedules_needs_multiple_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_schedules_needs_multiple_la_LIBADD = src/libpipette.la

check_LTLIBRARIES += tests/schedules/bad_placement.la
tests_schedules_bad_placement_la_SOURCES = tests/schedules/bad_placement.c
tests_schedules_bad_placement_la_LDFLAGS = $(TEST_PLUGIN_LDFLAGS) -no-undefined -Wl,--no-undefined
tests_schedules_bad_placement_la_LIBADD = src/libpipette.la
