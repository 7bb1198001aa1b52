#!/bin/sh
# tests/mpi.sh - the MPI plugins (mpi-job, mpi) in real processes:
# tests/mpi_probe's checks under mpirun (3 processes, 2 ranks each),
# detect without mpirun, and a job that loses a process to kill -9
# ending as a whole, soon, with no process left behind. Skipped (77)
# without MPI or mpirun; PIPETTE_REQUIRE_MPI=1 makes that a failure.
. "${srcdir:-.}/tests/lib.sh"

needs_mpi
mpirun="$mpirun -np 3"
probe=$PP_BUILDDIR/tests/mpi_probe

# Not under a launcher: detect says so, and initialises nothing.
run env -u OMPI_COMM_WORLD_SIZE -u PMI_SIZE -u PMIX_RANK -u SLURM_STEP_ID \
    "$probe" detect
expect_status 0 "detect without mpirun"
expect_out "^detect 0$" "detect without mpirun"

# Everything the probe checks, in 3 processes (60 s at most).
run timeout 60 $mpirun "$probe" run
expect_status 0 "the probe under mpirun"
expect_out "^mpi_probe: ok \(3 processes, 6 ranks\)$" "the probe under mpirun"

# A process killed while every rank waits in recv (for 120 s): mpirun
# must end the others and fail within 30 s. Each process writes its pid
# to $dir/ready.P once it waits; $dir is on every process's command line,
# which is how none may be left.
dir=$tmp/wait
mkdir "$dir"
$mpirun "$probe" wait "$dir" >"$tmp/out" 2>"$tmp/err" &
job=$!
i=0
while [ "$(ls "$dir" | grep -c '^ready\.[0-9]*$')" -lt 3 ] && [ $i -lt 300 ] &&
    kill -0 $job 2>/dev/null; do
    sleep 0.1
    i=$((i + 1))
done
if [ -f "$dir/ready.1" ]; then
    kill -9 "$(cat "$dir/ready.1")"
    i=0
    while kill -0 $job 2>/dev/null && [ $i -lt 300 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 $job 2>/dev/null; then
        fail "mpirun still runs 30 s after process 1 was killed"
        kill -9 $job
    fi
else
    fail "the probe's processes did not all start waiting within 30 s"
    kill -9 $job 2>/dev/null
fi
wait $job
status=$?
[ $status -ne 0 ] || fail "mpirun exited 0 after process 1 was killed"
# The pids of processes whose command line names $dir.
left() {
    ps -eo pid=,args= | awk -v d="$dir" 'index($0, d) && !/awk/ { print $1 }'
}
i=0
while [ -n "$(left)" ] && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
done
pids=$(left)
if [ -n "$pids" ]; then
    fail "processes left after mpirun ended: $(ps -o pid=,args= -p "$(echo $pids | tr ' ' ,)")"
    kill -9 $pids 2>/dev/null
fi

finish
