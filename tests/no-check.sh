#!/bin/sh
# Runs instead of the Check suites when configure found no Check.
echo "Check (the unit test framework) was not found by configure:" >&2
echo "install it (scripts/install-deps.sh does) and re-run configure." >&2
exit 1
