#!/bin/sh
# tests/mpi-train.sh - pipette train with its ranks in MPI processes: 2
# replicas of a 2-rank pipeline as 4 processes, and as 2 processes of 2
# threads, reach the parameters of the same job as threads of one
# process, bit for bit, and one pipeline's loss; process 0 alone prints
# the plan, the log and writes the trace (with every rank) and the
# checkpoint; a job started with the wrong number of processes says so
# once; a process that hangs or is killed ends the job within the
# message timeout, naming the rank and its host, with no process left.
# Skipped (77) without MPI or mpirun; PIPETTE_REQUIRE_MPI=1 makes that a
# failure.
. "${srcdir:-.}/tests/lib.sh"
examples="${srcdir:-.}/examples"

needs_mpi

# mlp.ini's pipeline of 2 ranks, twice: 4 micro-batches of 32 samples a
# replica, 10 steps; $2 more [parallel] lines.
model() { # model FILE [PARALLEL-LINES]
    sed -e 's/^microbatches = 8/microbatches = 4/' -e 's/^steps = 200/steps = 10/' \
        -e 's/^log_every = 20/log_every = 5/' \
        -e "s|^\[train\]|[train]\ncheckpoint = $1.ckpt\ncheckpoint_every = 5|" "$examples/mlp.ini" >"$1"
    printf '[parallel]\ndata = 2\n%b' "${2:-}" >>"$1"
}
loss_at() { awk -v s="$1" '$1 == "step" && $2 == s { print $4 }' "$tmp/out"; }
# A checkpoint's tensors and their CRC32Cs, whichever process wrote them.
tensors() { "$PIPETTE" checkpoint "$1" | awk '$6 == "crc32c" { print $1, $7 }' | sort; }

model "$tmp/threads.ini"
run timeout 120 "$PIPETTE" train "$tmp/threads.ini"
expect_status 0 "4 ranks as threads"
threads_loss=$(loss_at 10)

model "$tmp/procs.ini"
run timeout 120 $mpirun -np 4 "$PIPETTE" train --trace "$tmp/procs.json" "$tmp/procs.ini"
expect_status 0 "4 ranks as 4 processes"
expect_out "^  4 processes of 1 rank each, on 1 node$" "the plan says how the ranks are placed"
expect_out "^       3        3  [^ ]+ +cpu +1  1$" "rank 3 in process 3: replica 1's stage 1"
expect_out "^  transport: mpi 0->1 0->2 1->0 1->3 2->0 2->3 3->1 3->2$" "mpi carries every direction between processes"
[ "$(grep -c '^plan:' "$tmp/out")" -eq 1 ] || fail "the plan is printed $(grep -c '^plan:' "$tmp/out") times"
[ "$(grep -Ec '^step +10 ' "$tmp/out")" -eq 1 ] || fail "step 10 is logged other than once"
[ "$(loss_at 10)" = "$threads_loss" ] ||
    fail "processes: loss $(loss_at 10) at step 10, threads $threads_loss"
[ -n "$(tensors "$tmp/threads.ini.ckpt")" ] &&
[ "$(tensors "$tmp/procs.ini.ckpt")" = "$(tensors "$tmp/threads.ini.ckpt")" ] ||
    fail "4 processes' parameters differ from 4 threads'"
# The replicas share the writing: stage 0 from replica 0 (rank 0, in
# process 0), stage 1 from replica 1 (rank 3, in process 3).
[ "$(cd "$tmp/procs.ini.ckpt/step-00000010" && echo *.safetensors)" = "model-00000.safetensors model-00003.safetensors optimizer-00000.safetensors optimizer-00003.safetensors" ] ||
    fail "the processes' parts: $(ls "$tmp/procs.ini.ckpt/step-00000010")"
# Resumed in processes from the threads' checkpoint of step 5 to step 10:
# the same parameters.
mkdir "$tmp/resume.ckpt"
cp -r "$tmp/threads.ini.ckpt/step-00000005" "$tmp/resume.ckpt/"
run timeout 120 $mpirun -np 4 "$PIPETTE" train --resume "$tmp/resume.ckpt" "$tmp/procs.ini"
expect_status 0 "threads' checkpoint resumed in 4 processes"
expect_out "^  resumed from $tmp/resume\.ckpt/step-00000005: 5 steps made" "the resumed checkpoint said"
[ "$(tensors "$tmp/procs.ini.ckpt")" = "$(tensors "$tmp/threads.ini.ckpt")" ] ||
    fail "resumed in processes: parameters differ from the threads' run"
for r in 0 1 2 3; do
    grep -q "\"name\":\"rank $r\"" "$tmp/procs.json" ||
        fail "the trace has no track of rank $r"
    grep -q "\"cat\":\"F\",\"ph\":\"X\",\"pid\":0,\"tid\":$r," "$tmp/procs.json" ||
        fail "the trace has no forward of rank $r"
done

model "$tmp/pairs.ini" "ranks_per_process = 2\n"
run timeout 120 $mpirun -np 2 "$PIPETTE" train "$tmp/pairs.ini"
expect_status 0 "4 ranks as 2 processes of 2 threads"
expect_out "^  transport: local 0->1 1->0 2->3 3->2; mpi 0->2 1->3 2->0 3->1$" "local within a process, mpi between"
[ "$(tensors "$tmp/pairs.ini.ckpt")" = "$(tensors "$tmp/threads.ini.ckpt")" ] ||
    fail "2 processes of 2 threads: parameters differ from 4 threads'"

# eval from that checkpoint in processes: the threads' mean loss.
run timeout 60 "$PIPETTE" eval -q --checkpoint "$tmp/threads.ini.ckpt" --batches 2 "$tmp/threads.ini"
threads_eval=$(cat "$tmp/out")
run timeout 60 $mpirun -np 4 "$PIPETTE" eval -q --checkpoint "$tmp/threads.ini.ckpt" --batches 2 "$tmp/threads.ini"
expect_status 0 "eval in 4 processes"
[ -n "$threads_eval" ] && [ "$(cat "$tmp/out")" = "$threads_eval" ] ||
    fail "eval in processes: '$(cat "$tmp/out")', threads '$threads_eval'"

# One pipeline of 8 micro-batches takes the same samples: the same loss.
sed -e 's/^steps = 200/steps = 10/' -e 's/^log_every = 20/log_every = 5/' \
    "$examples/mlp.ini" >"$tmp/one.ini"
run timeout 120 "$PIPETTE" train "$tmp/one.ini"
[ "$(loss_at 10)" = "$threads_loss" ] ||
    fail "one pipeline: loss $(loss_at 10) at step 10, 2 replicas $threads_loss"

# pipette check sees the job as mpirun -np 2 would start it.
run "$PIPETTE" check --processes 2 "$tmp/pairs.ini"
expect_status 0 "check --processes 2"
expect_out "^  processes: 2 of 2 ranks each \(rank r in process r / 2\)$" "check shows the processes"
expect_out "^  transport: local 0->1 1->0 2->3 3->2; mpi 0->2 1->3 2->0 3->1$" "check routes between processes"

# The wrong number of processes: one message, exit 2, nothing trained.
run timeout 60 $mpirun -np 3 "$PIPETTE" train "$tmp/pairs.ini"
expect_status 2 "3 processes for 2"
expect_err "ranks_per_process: 3 processes were started, but the job has 4 ranks \(2 replicas x 2\) and 2 per process: start 2 processes \(mpirun -np 2\)" "the wrong number of processes"
[ "$(grep -c 'processes were started' "$tmp/err")" -eq 1 ] ||
    fail "the wrong number of processes is said $(grep -c 'processes were started' "$tmp/err") times"
expect_no_out "3 processes for 2"

# Processes of a run of $1 that are pipette (not mpirun or a shell).
ranks_of() {
    ps -eo pid=,comm=,args= | awk -v f="$1" \
        'index($0, f) && ($2 == "pipette" || $2 == "lt-pipette") { print $1 }'
}
# Waits until a run of $1 has its 4 processes, at most 30 s.
started() {
    i=0
    while [ "$(ranks_of "$1" | wc -l)" -lt 4 ] && [ $i -lt 300 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    sleep 1 # past the first steps
}
# Waits for the mpirun of $1 (pid $2) to end, at most $3 s; then none of
# its processes may be left.
ends_within() {
    i=0
    while kill -0 "$2" 2>/dev/null && [ $i -lt $(($3 * 10)) ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$2" 2>/dev/null; then
        fail "mpirun of $1 still runs $3 s on"
        kill -9 "$2"
    fi
    wait "$2"
    status=$?
    sleep 0.5
    left=$(ranks_of "$1")
    if [ -n "$left" ]; then
        fail "processes left after mpirun of $1 ended: $left"
        kill -9 $left 2>/dev/null
    fi
}

# A process that hangs (stopped): the others wait 2 s for its messages,
# then one names the rank, its process and host, and the job ends.
model "$tmp/hang.ini"
sed -i 's/^steps = 10$/steps = 1000000/' "$tmp/hang.ini"
$mpirun -np 4 "$PIPETTE" train -q --timeout 2 "$tmp/hang.ini" >"$tmp/out" 2>"$tmp/err" &
job=$!
started "$tmp/hang.ini"
victim=$(ranks_of "$tmp/hang.ini" | sed -n 2p)
kill -STOP "$victim"
ends_within "$tmp/hang.ini" $job 30
kill -CONT "$victim" 2>/dev/null
[ "$status" -ne 0 ] || fail "a hung process: mpirun exited 0"
# (Stopped after its last send, the hung one is waited for at the step's
# end, where no one knows which it is.)
expect_err "^pipette: rank [0-9] \(process [0-9] on [^)]+\), step [0-9]+.*(waited [0-9]+ ms for a message from rank [0-9].*|the step's end: mpi-job: waited [0-9]+ ms .*)may have died or hung" "a hung process is named"

# SIGTERM to mpirun, which passes it on: every process ends the same
# step, process 0 writes the checkpoint and says so once.
model "$tmp/term.ini"
sed -i 's/^steps = 10$/steps = 1000000/' "$tmp/term.ini"
$mpirun -np 4 "$PIPETTE" train -q "$tmp/term.ini" >"$tmp/out" 2>"$tmp/err" &
job=$!
started "$tmp/term.ini"
kill -TERM $job
ends_within "$tmp/term.ini" $job 30
[ "$status" -ne 0 ] || fail "SIGTERM: mpirun exited 0"
[ "$(grep -c '^pipette: stopped by SIGTERM after step [0-9]* of 1000000' "$tmp/err")" -eq 1 ] ||
    fail "SIGTERM across processes: said $(grep -c 'stopped by' "$tmp/err") times"
"$PIPETTE" checkpoint "$tmp/term.ini.ckpt" >/dev/null 2>&1 ||
    fail "SIGTERM across processes: no whole checkpoint"

# A step that is not finite (an lr of 1e30 blows step 2 up): every
# process finds it before its update, and where: process 0 alone says it
# once, naming the rank of the layer and its process, and every process
# exits 1 (no abort). In 4 processes, and in 2 of 2 threads.
printf '[model]\ninput = 6\n[layer hidden]\ntype = linear\nunits = 16\n[layer act]\ntype = relu\n[layer out]\ntype = linear\nunits = 3\n[layer loss]\ntype = softmax_xent\n[data]\nsource = synthetic\ntask = mixture\nclasses = 3\nfeatures = 6\n[train]\nbatch = 24\nsteps = 5\nlr = 1e30\nseed = 7\n[pipeline]\ndevices = cpu*2\nmicrobatches = 2\n[parallel]\ndata = 2\n' >"$tmp/nan.ini"
for per in 1 2; do
    sed "s/^data = 2$/data = 2\nranks_per_process = $per/" "$tmp/nan.ini" >"$tmp/nan$per.ini"
    run timeout 120 $mpirun -np $((4 / per)) "$PIPETTE" train -q "$tmp/nan$per.ini"
    expect_status 1 "a step not finite in $((4 / per)) processes"
    expect_err "^pipette: rank 2 \(process $((2 / per)) on [^)]+\), step 2, F0\.1: the loss is nan: training diverged at layer out, the first whose output is not finite \(try a smaller lr\)$" "a step not finite in $((4 / per)) processes: the layer, its rank and process"
    [ "$(grep -c 'training diverged' "$tmp/err")" -eq 1 ] ||
        fail "a step not finite in $((4 / per)) processes: said $(grep -c 'training diverged' "$tmp/err") times"
    expect_no_out "a step not finite in processes"
done

# A process killed: the job ends at once, none left.
model "$tmp/kill.ini"
sed -i 's/^steps = 10$/steps = 1000000/' "$tmp/kill.ini"
$mpirun -np 4 "$PIPETTE" train -q --timeout 60 "$tmp/kill.ini" >"$tmp/out" 2>"$tmp/err" &
job=$!
started "$tmp/kill.ini"
kill -9 "$(ranks_of "$tmp/kill.ini" | sed -n 3p)"
ends_within "$tmp/kill.ini" $job 30
[ "$status" -ne 0 ] || fail "a killed process: mpirun exited 0"

finish
