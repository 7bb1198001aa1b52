#!/bin/sh
# bench/gpu.sh - pipette on one GPU, in four parts:
#
#   1. the `linear` layer's forward and backward (three GEMMs) beside bare
#      cuBLASLt on the same shapes, in fp32, tf32 and bf16
#      (bench/linear_gpu); targets: at least 95% of bare cuBLASLt in bf16
#      (issue 14), 90% in fp32 and tf32 (issue 5).
#   2. training steps of bench/gpu-mlp.ini and bench/gpu-char.ini with
#      `pipette train`, in each precision (PIPETTE_BENCH_PRECISIONS,
#      default "fp32 tf32 bf16"): one stage on cuda:0 (the whole batch;
#      in bf16 also 8 micro-batches), four stages on the same GPU
#      (cuda:0*4, 1F1B, 8 micro-batches; fp32 and bf16) with the
#      transport auto picks (peer), and in bf16 again through host memory
#      (local); beside PyTorch eager on the same model file in the same
#      precision (bench/torch_reference.py: autocast for bf16, TF32
#      matrix products for tf32), when PyTorch imports. Targets (issue
#      14; ratio = pipette step time / PyTorch step time): one stage at
#      most 1.0x PyTorch in fp32 and for the bf16 MLP, 0.9x for the bf16
#      character model; four stages within 5% of one stage in bf16, 10%
#      in fp32; tf32 is reported without a target.
#   3. moving a message on one GPU, 1 MiB to 1 GiB (bench/transfer_gpu):
#      the peer transport between two ranks, the nccl transport from a
#      rank to itself, and bare cudaMemcpyAsync, in GB/s.
#   4. GPT-2 small (examples/gpt2-124m.ini: bf16, T 1024, batch 16, random
#      tokens) in tokens/s: one stage (the whole batch) and four stages on
#      the same GPU (1F1B, 8 micro-batches), beside PyTorch eager with
#      F.scaled_dot_product_attention and torch.compile on the same shapes
#      (bench/gpt_torch.py), and one stage again with pipette's own
#      attention kernels instead of cuDNN's (no target: the comparison).
#      Targets (issue 15): one stage at least 1.0x
#      PyTorch eager's tokens/s and 0.8x torch.compile's; four stages
#      within 10% of one stage.
#
#   bench/gpu.sh [--smoke] [BUILD]        (default: this tree)
#
# --smoke runs every part at toy sizes (GEMMs of 128 x 96 x 64, the two
# models a few units wide, 1 + 2 steps, messages of 1 and 4 MiB): a check
# that the script, its programs and its parsing work, on a GPU or on the
# CUDA emulator (tests/bench-gpu.sh runs it in make check). Its numbers
# mean nothing. Without --smoke the script refuses the emulator, whose
# times would read like a slow GPU's.
#
# Run on a machine with an NVIDIA GPU, with cuDNN and NCCL on
# LD_LIBRARY_PATH. PYTHON picks the interpreter for the PyTorch reference
# (default /opt/torch/.venv/bin/python where it exists, else python3);
# PIPETTE_TORCH_LD_LIBRARY_PATH, when set (even empty), is the
# LD_LIBRARY_PATH it runs with, so that the CUDA libraries added for
# pipette do not replace the ones PyTorch was built with (scripts/
# device-run.sh sets it to the machine's own). PIPETTE_BENCH_PARTS picks
# parts (default "1 2 3 4"). Each command is limited to 300 s, and the
# whole runs in a few minutes on an H100 (the lent machines stop a
# command at 10). Prints the commit,
# the device, each part's results and a summary that names every part
# skipped and why. Exit status: 0 every selected part ran (targets may
# still be missed: see the summary), 1 a part failed, 77 nothing ran
# because no GPU answers.
set -eu

here=$(cd "$(dirname "$0")" && pwd -P)
top=$(cd "$here/.." && pwd -P)
smoke=0
if [ "${1:-}" = --smoke ]; then
    smoke=1
    shift
fi
case ${1:-} in
-*) set -- --usage ;;
esac
if [ $# -gt 1 ] || [ "${1:-}" = --usage ]; then
    echo "usage: bench/gpu.sh [--smoke] [BUILD]" >&2
    exit 2
fi
build=$(cd "${1:-$top}" && pwd) || {
    echo "bench/gpu.sh: no build tree at ${1:-$top}" >&2
    exit 2
}
pipette=$build/src/pipette
parts=${PIPETTE_BENCH_PARTS:-1 2 3 4}
torch_ld=${PIPETTE_TORCH_LD_LIBRARY_PATH-${LD_LIBRARY_PATH:-}}
if [ -z "${PYTHON:-}" ]; then
    if [ -x /opt/torch/.venv/bin/python ]; then
        PYTHON=/opt/torch/.venv/bin/python
    else
        PYTHON=python3
    fi
fi

# Sizes: the issue's, or toys for --smoke.
if [ "$smoke" -eq 1 ]; then
    linear_sizes="128x96x64"
    linear_iters=2
    corpus_bytes=65536
    transfer_mib="1 4"
else
    linear_sizes="8192x8192x8192 4096x4096x4096"
    linear_iters=20
    corpus_bytes=16777216
    transfer_mib=
fi

# Part 2's precisions, and their targets (issue 14): one stage's step
# time over PyTorch's in the same precision, per model ("-": none), and
# four stages' over one stage's.
precisions=${PIPETTE_BENCH_PRECISIONS:-fp32 tf32 bf16}
torch_max() { # torch_max MODEL PRECISION
    case $2-$1 in
    bf16-char) echo 0.90 ;;
    bf16-mlp | fp32-*) echo 1.00 ;;
    *) echo - ;;
    esac
}
stages_max() { # stages_max PRECISION
    case $1 in
    bf16) echo 1.05 ;;
    fp32) echo 1.10 ;;
    *) echo - ;;
    esac
}
# The runs of each precision: 1 one stage, whole batch; 2 one stage, 8
# micro-batches; 3 four stages, auto; 4 four stages, local.
variants_of() {
    case $1 in
    bf16) echo 1 2 3 4 ;;
    fp32) echo 1 3 ;;
    *) echo 1 ;;
    esac
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
summary=$work/summary
: >"$summary"
failed=0 # a part failed
ran=0    # a part measured something

note() { printf '  %s\n' "$*" >>"$summary"; }
fail() {
    echo "bench/gpu.sh: FAILED: $*" >&2
    note "FAILED: $*"
    failed=1
}
# The reason a program gave for exiting 77, from its last line.
why_skipped() { tail -n 1 "$1" | sed -e 's/^[a-z_]*: //' -e 's/: skipped$//'; }
selected() { case " $parts " in *" $1 "*) return 0 ;; esac; return 1; }

# Runs a command with a time limit where timeout(1) exists (exit 124 when
# it expires), so that a hung run fails instead of stalling the bench.
bounded() {
    if command -v timeout >/dev/null 2>&1; then
        timeout "$@"
    else
        shift
        "$@"
    fi
}

echo "== bench/gpu.sh$([ "$smoke" -eq 0 ] || echo ' --smoke'), $(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -n)"
[ "$smoke" -eq 0 ] || echo "toy sizes: this checks the script; its numbers mean nothing"
if [ "$(git -C "$top" rev-parse --show-toplevel 2>/dev/null)" = "$top" ]; then
    echo "commit: $(git -C "$top" rev-parse --short HEAD)$(
        git -C "$top" diff --quiet HEAD -- 2>/dev/null || echo ' (with uncommitted changes)')"
elif [ -s "$top/.commit" ]; then
    # A tree packed by scripts/device-pack.sh, without its .git.
    echo "commit: $(cat "$top/.commit")"
else
    echo "commit: unknown ($top is not a git checkout)"
fi
echo "build: $build"
if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=index,name,driver_version,memory.total,clocks.max.sm \
        --format=csv,noheader 2>&1 | sed 's/^/device: /' || true
else
    echo "device: nvidia-smi not found"
fi

# Whether pipette sees a GPU; the reason it does not in $gpu_why.
gpu_why=
if [ ! -x "$pipette" ]; then
    gpu_why="$pipette is missing (not built?)"
elif ! "$pipette" devices >"$work/devices" 2>&1; then
    gpu_why="pipette devices failed: $(tail -n 1 "$work/devices")"
elif ! grep -q '^GPU 0:' "$work/devices"; then
    gpu_why=$(grep '^GPUs:' "$work/devices" || echo "no GPU listed")
fi
sed 's/^/  /' "$work/devices" 2>/dev/null || true
if [ "$smoke" -eq 0 ] && grep -q '^GPU [0-9]*: pipette CUDA emulator' "$work/devices"; then
    echo "bench/gpu.sh: $build is built with the CUDA emulator" \
        "(--enable-cuda-emulator), whose times mean nothing; use --smoke" \
        "to check the script there, or a build without it on a GPU" >&2
    exit 2
fi

# ---------------------------------------------------------------- part 1
part1() {
    echo
    echo "== part 1: linear layer against bare cuBLASLt" \
        "(targets: bf16 >= 95%, fp32 and tf32 >= 90%)"
    bin=$build/bench/linear_gpu
    if [ ! -x "$bin" ]; then
        fail "part 1: $bin is missing (configure found no cuBLASLt?)"
        return 0
    fi
    p1=ok
    for size in $linear_sizes; do
        for precision in fp32 tf32 bf16; do
            rc=0
            # shellcheck disable=SC2046
            bounded 300 env PIPETTE_PRECISION=$precision "$bin" \
                $(echo "$size" | tr x ' ') "$linear_iters" \
                >"$work/p1" 2>&1 || rc=$?
            cat "$work/p1"
            if [ "$rc" -eq 77 ]; then
                note "part 1 skipped: $(why_skipped "$work/p1")"
                return 0
            elif [ "$rc" -ne 0 ]; then
                fail "part 1: linear_gpu $size ($precision) exited $rc"
                p1=failed
            fi
        done
    done
    [ "$p1" = failed ] || { note "part 1 ran"; ran=1; }
}

# ---------------------------------------------------------------- part 2
# --smoke's model files: the widths, windows and batches of the two
# templates cut down, the layers and their order kept.
shrink() { # shrink TEMPLATE
    sed -e 's/^units = 8192$/units = 32/' -e 's/^dim = 1024$/dim = 16/' \
        -e 's/^input = 256$/input = 16/' -e 's/^features = 256$/features = 16/' \
        -e 's/^length = 256$/length = 16/' -e 's/^batch = 8192$/batch = 64/' \
        -e 's/^batch = 128$/batch = 16/' "$1" >"$work/shrunk" || return 1
    big=$(grep -E '^(units|dim|input|features|length|batch) = ([0-9]{4,}|[3-9][0-9]{2})$' \
        "$work/shrunk" | head -n 1)
    if [ -n "$big" ]; then
        echo "bench/gpu.sh: --smoke does not know how to shrink '$big' in $1" >&2
        return 1
    fi
    cat "$work/shrunk"
}

# A variant of a model file: only its devices, microbatches and precision
# lines rewritten (each must be there exactly once), and shrunk for
# --smoke.
variant() { # variant TEMPLATE DEVICES MICROBATCHES TRANSPORT PRECISION
    for key in devices microbatches precision; do
        if [ "$(grep -c "^$key = " "$1")" != 1 ]; then
            echo "bench/gpu.sh: $1 must have one '$key = ' line" >&2
            return 1
        fi
    done
    if grep -q "^transport = " "$1"; then
        echo "bench/gpu.sh: $1 must leave transport to this script" >&2
        return 1
    fi
    template=$1
    if [ "$smoke" -eq 1 ]; then
        shrink "$1" >"$work/small.ini" || return 1
        template=$work/small.ini
    fi
    sed -e "s/^devices = .*/devices = $2/" \
        -e "s/^microbatches = .*/microbatches = $3\\ntransport = $4/" \
        -e "s/^precision = .*/precision = $5/" "$template"
}

# From a `pipette train` log: median step ms and samples/s, median
# bubble, parameters. Fails unless the plan shows the expected stages on
# cuda devices and exactly STEPS step lines follow the WARM skipped ones.
measure() { # measure LOG WARM STEPS STAGES
    awk -v warm="$2" -v want="$3" -v stages="$4" '
    function die(msg) { print "bench/gpu.sh: " FILENAME ": " msg > "/dev/stderr"; bad = 1; exit 1 }
    /^plan: / {
        plan = 1
        if (match($0, /\(batch [0-9]+\)/))
            batch = substr($0, RSTART + 7, RLENGTH - 8) + 0
        if (match($0, /, [0-9]+ stages?,/))
            got = substr($0, RSTART + 2, RLENGTH - 2) + 0
        if (match($0, / on [^ ]+, /))
            devs = substr($0, RSTART + 4, RLENGTH - 6)
    }
    $1 == "stage" && $3 == "on" && $4 == "rank" && $7 ~ /^parameters/ { params += $6 }
    $1 == "step" && $3 == "loss" && $6 == "samples/s" && $7 == "bubble" {
        if ($2 + 0 <= warm) next
        if (!($5 + 0 > 0)) die("step " $2 ": samples/s is " $5)
        n++
        ms[n] = 1000 * batch / ($5 + 0)
        bub[n] = $8 + 0
    }
    function median(a, k,    i, j, t) {
        for (i = 2; i <= k; i++)
            for (j = i; j > 1 && a[j - 1] > a[j]; j--) { t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
        return k % 2 ? a[(k + 1) / 2] : (a[k / 2] + a[k / 2 + 1]) / 2
    }
    END {
        if (bad) exit 1
        if (!plan || !batch) die("no plan line with the batch")
        if (got != stages) die("the plan has " got " stages, expected " stages)
        if (devs !~ /^cuda:/ || devs ~ /cpu/) die("the ranks are on " devs ", not on a GPU")
        if (n != want) die(n " step lines after step " warm ", expected " want)
        printf "%.3f %.1f %.1f %.0f\n", median(ms, n), 1000 * batch / median(ms, n), median(bub, n), params
    }' "$1"
}

part2() {
    echo
    echo "== part 2: training steps, pipette against PyTorch eager in each precision ($precisions)"
    if [ -n "$gpu_why" ]; then
        echo "skipped: $gpu_why"
        note "part 2 skipped: no GPU answers ($gpu_why)"
        return 0
    fi
    torch_why=
    torch_dev=cuda
    if ! torch_gpu=$(env LD_LIBRARY_PATH="$torch_ld" "$PYTHON" -c \
        'import torch; print(int(torch.cuda.is_available()))' 2>"$work/torch"); then
        torch_why="'$PYTHON -c \"import torch\"' failed: $(tail -n 1 "$work/torch")"
        echo "PyTorch reference skipped: $torch_why"
    elif [ "$smoke" -eq 1 ] && [ "$torch_gpu" != 1 ]; then
        # A check of the reference script, where PyTorch has no GPU (the
        # emulator's machines): its numbers mean nothing either way.
        torch_dev=cpu
        echo "PyTorch sees no GPU: --smoke runs its reference on the CPU"
    fi
    # The character model's corpus, beside its variants.
    head -c "$corpus_bytes" /dev/urandom >"$work/gpu-corpus.bin"
    rows=$work/rows
    : >"$rows"
    p2=ok
    for prec in $precisions; do
    for model in mlp char; do
        case $smoke$model in
        1*) warm=1 steps=2 ;;
        0mlp) warm=3 steps=10 ;;
        0char) warm=5 steps=20 ;;
        esac
        params1=
        # The last: four stages with their messages through host memory
        # (local) instead of device copies ordered by events (peer, which
        # auto picks on one GPU): what the stream-ordered path is worth.
        for v in $(variants_of "$prec"); do
            transport=auto
            case $v in
            1) stages=1 devices=cuda:0 mb=1 ;;
            2) stages=1 devices=cuda:0 mb=8 ;;
            3) stages=4 devices='cuda:0*4' mb=8 ;;
            4) stages=4 devices='cuda:0*4' mb=8 transport=local ;;
            esac
            ini=$work/gpu-$model-$prec-$stages-$mb-$transport.ini
            log=$work/gpu-$model-$prec-$stages-$mb-$transport.log
            variant "$here/gpu-$model.ini" "$devices" "$mb" "$transport" "$prec" >"$ini" || {
                fail "part 2: bench/gpu-$model.ini"
                p2=failed
                continue 2
            }
            echo "pipette train gpu-$model.ini, $prec, devices = $devices, microbatches = $mb, transport = $transport, $warm + $steps steps"
            rc=0
            bounded 300 "$pipette" train --steps $((warm + steps)) "$ini" \
                >"$log" 2>&1 || rc=$?
            sed 's/^/  | /' "$log"
            if [ "$rc" -ne 0 ]; then
                fail "part 2: pipette train gpu-$model ($prec, $devices, $mb micro-batches) exited $rc"
                p2=failed
                continue
            fi
            if ! r=$(measure "$log" "$warm" "$steps" "$stages"); then
                fail "part 2: gpu-$model ($prec, $devices, $mb micro-batches): unreadable log"
                p2=failed
                continue
            fi
            # shellcheck disable=SC2086
            set -- $r
            echo "  -> median step $1 ms, $2 samples/s, bubble $3%"
            [ -n "$params1" ] || params1=$4
            echo "$model $prec $stages $mb $1 $2 $3 $4 $transport" >>"$rows"
        done
        tms=-
        # PyTorch reads the precision from the same file: autocast for
        # bf16, TF32 matrix products for tf32.
        if [ -z "$torch_why" ]; then
            echo "PyTorch eager on gpu-$model.ini, $prec, $warm + $steps steps"
            rc=0
            tlog=$work/torch-$model-$prec
            bounded 300 env LD_LIBRARY_PATH="$torch_ld" \
                "$PYTHON" "$here/torch_reference.py" --device "$torch_dev" \
                --warmup "$warm" --steps "$steps" "$work/gpu-$model-$prec-1-1-auto.ini" \
                >"$tlog" 2>&1 || rc=$?
            sed 's/^/  | /' "$tlog"
            result=$(sed -n 's/^RESULT //p' "$tlog")
            tparams=$(echo "$result" | sed -n 's/.*params=\([0-9]*\).*/\1/p')
            tstep=$(echo "$result" | sed -n 's/.*step_ms=\([0-9.]*\).*/\1/p')
            if [ "$rc" -eq 77 ]; then
                note "part 2: PyTorch reference for gpu-$model ($prec) skipped: $(tail -n 1 "$tlog")"
            elif [ "$rc" -ne 0 ] || [ -z "$tstep" ]; then
                fail "part 2: torch_reference.py gpu-$model ($prec) exited $rc"
                p2=failed
            elif [ -n "$params1" ] && [ "$tparams" != "$params1" ]; then
                fail "part 2: gpu-$model has $params1 parameters in pipette, $tparams in PyTorch: not the same model"
                p2=failed
            else
                tms=$tstep
            fi
        fi
        echo "torch $model $prec $tms" >>"$rows"
    done
    done
    [ -z "$torch_why" ] || note "part 2: PyTorch reference skipped: $torch_why"

    echo
    echo "| model | precision | stages | micro-batches | transport | pipette step ms | samples/s | bubble | PyTorch step ms | ratio |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    awk '$1 == "torch" { t[$2 " " $3] = $4; next }
    { row[++n] = $0 }
    END {
        for (i = 1; i <= n; i++) {
            split(row[i], f, " ")
            k = f[1] " " f[2]
            tm = (k in t) ? t[k] : "-"
            printf "| %s | %s | %d | %d | %s | %.1f | %.1f | %.1f%% | %s | %s |\n", f[1], f[2], f[3],
                f[4], f[9], f[5], f[6], f[7], tm == "-" ? "-" : sprintf("%.1f", tm),
                tm == "-" ? "-" : sprintf("%.2fx", f[5] / tm)
        }
    }' "$rows"
    echo
    echo "ratio: pipette step time / PyTorch step time in the same precision (below 1: pipette is faster)"
    echo "targets:"
    # Each (model, precision) with its targets, for awk.
    for prec in $precisions; do
        for model in mlp char; do
            echo "target $model $prec $(torch_max "$model" "$prec") $(stages_max "$prec")"
        done
    done >>"$rows"
    if ! awk '
    $1 == "torch" { t[$2 " " $3] = $4; next }
    $1 == "target" { k = $2 " " $3; key[++n] = k; tmax[k] = $4; smax[k] = $5; next }
    $3 == 1 && $4 == 1 { one[$1 " " $2] = $5 }
    $3 == 4 && $9 == "auto" { four[$1 " " $2] = $5 }
    END {
        for (i = 1; i <= n; i++) {
            k = key[i]
            split(k, mp, " ")
            m = mp[1] " (" mp[2] ")"
            if (!(k in one)) {
                printf "  %s: one stage: not measured  FAILED\n", m
                continue
            }
            if (tmax[k] == "-")
                printf "  %s: one stage %.1f ms, PyTorch %s ms (no target)\n", m, one[k], t[k]
            else if (t[k] == "-")
                printf "  %s: one stage step time at most %.2fx PyTorch'"'"'s: no PyTorch number  SKIPPED\n", m, tmax[k]
            else
                printf "  %s: one stage step time at most %.2fx PyTorch'"'"'s: %.2fx  %s\n", m, tmax[k],
                    one[k] / t[k], (one[k] <= tmax[k] * t[k]) ? "PASS" : "MISS"
            if (smax[k] == "-")
                continue
            if (!(k in four))
                printf "  %s: four stages within %.0f%% of one stage: not measured  FAILED\n", m, 100 * (smax[k] - 1)
            else
                printf "  %s: four stages within %.0f%% of one stage: %.1f ms vs %.1f ms (%+.1f%%)  %s\n",
                    m, 100 * (smax[k] - 1), four[k], one[k], 100 * (four[k] / one[k] - 1),
                    (four[k] <= smax[k] * one[k]) ? "PASS" : "MISS"
        }
    }' "$rows" >"$work/targets.raw"; then
        fail "part 2: cannot compute the targets"
        p2=failed
    fi
    tee "$work/targets" <"$work/targets.raw"
    sed 's/^  /part 2 target: /' "$work/targets" >>"$summary.targets"
    if [ "$p2" = ok ]; then
        note "part 2 ran"
        ran=1
    fi
}

# ---------------------------------------------------------------- part 3
part3() {
    echo
    echo "== part 3: transfers on one GPU (peer, nccl, bare cudaMemcpyAsync)"
    bin=$build/bench/transfer_gpu
    if [ ! -x "$bin" ]; then
        fail "part 3: $bin is missing (configure found no CUDA?)"
        return 0
    fi
    rc=0
    # shellcheck disable=SC2086
    bounded 300 "$bin" $transfer_mib >"$work/p3" 2>&1 || rc=$?
    cat "$work/p3"
    if [ "$rc" -eq 77 ]; then
        note "part 3 skipped: $(why_skipped "$work/p3")"
        return 0
    fi
    sed -n 's/^transfer_gpu: \(transport .* skipped: .*\)/part 3: \1/p' \
        "$work/p3" | while IFS= read -r line; do note "$line"; done
    if [ "$rc" -ne 0 ]; then
        fail "part 3: transfer_gpu exited $rc"
    else
        note "part 3 ran"
        ran=1
    fi
}

# ---------------------------------------------------------------- part 4
# --smoke's GPT: two blocks of width 32 over 32 tokens of a 512-id vocab.
gpt_shrink() {
    sed -e 's/^count = 12$/count = 2/' -e 's/^input = 1024$/input = 32/' \
        -e 's/^length = 1024$/length = 32/' -e 's/^dim = 768$/dim = 32/' \
        -e 's/^units = 2304 /units = 96 /' -e 's/^units = 2304$/units = 96/' \
        -e 's/^units = 768$/units = 32/' -e 's/^units = 3072$/units = 128/' \
        -e 's/^heads = 12$/heads = 2/' -e 's/^vocab = 50257$/vocab = 512/' \
        -e 's/^units = 50257$/units = 512/' -e 's/^batch = 16$/batch = 8/' "$1"
}

part4() {
    echo
    echo "== part 4: GPT-2 small in bf16, pipette against PyTorch eager and torch.compile"
    if [ -n "$gpu_why" ]; then
        echo "skipped: $gpu_why"
        note "part 4 skipped: no GPU answers ($gpu_why)"
        return 0
    fi
    ini=$top/examples/gpt2-124m.ini
    tmpl=$work/gpt.ini
    if [ "$smoke" -eq 1 ]; then
        gpt_shrink "$ini" >"$tmpl"
        warm=1 steps=2 ntokens=20000 vocab=512
    else
        cp "$ini" "$tmpl"
        warm=3 steps=10 ntokens=4000000 vocab=50257
    fi
    get() { sed -n "s/^$1 = \([0-9]*\).*/\1/p" "$tmpl" | head -n 1; }
    T=$(get input) batch=$(get batch) layers=$(get count) dim=$(get dim)
    heads=$(get heads)
    if ! python3 "$top/scripts/random-tokens.py" --vocab "$vocab" \
        "$work/tokens.bin" "$ntokens" >"$work/p4tok" 2>&1; then
        fail "part 4: scripts/random-tokens.py: $(tail -n 1 "$work/p4tok")"
        return 0
    fi
    p4=ok
    rows=$work/p4rows
    : >"$rows"
    # 1: one stage; 4: four; 0: one stage with pipette's own attention
    # kernels instead of cuDNN's (kernels = pipette), for comparison.
    for v in 1 4 0; do
        kernels=auto stages=$v
        case $v in
        1) devices=cuda:0 mb=1 ;;
        4) devices='cuda:0*4' mb=8 ;;
        0) devices=cuda:0 mb=1 kernels=pipette stages=1 ;;
        esac
        run=$work/gpt-$v.ini
        sed -e "s|^devices = .*|devices = $devices|" \
            -e "s|^microbatches = .*|microbatches = $mb|" \
            -e "s|^\\[train\\]|[train]\\nlog_every = 1|" \
            -e "s|^type = attention|type = attention\\nkernels = $kernels|" \
            -e "s|^path = .*|path = $work/tokens.bin|" "$tmpl" >"$run"
        echo "pipette train gpt2-124m.ini, bf16, devices = $devices, microbatches = $mb, attention kernels = $kernels, $warm + $steps steps"
        log=$work/gpt-$v.log
        rc=0
        bounded 300 "$pipette" train --steps $((warm + steps)) "$run" \
            >"$log" 2>&1 || rc=$?
        sed 's/^/  | /' "$log"
        if [ "$rc" -ne 0 ]; then
            fail "part 4: pipette train gpt2-124m ($devices) exited $rc"
            p4=failed
            continue
        fi
        if ! r=$(measure "$log" "$warm" "$steps" "$stages"); then
            fail "part 4: gpt2-124m ($devices): unreadable log"
            p4=failed
            continue
        fi
        # shellcheck disable=SC2086
        set -- $r
        echo "  -> median step $1 ms, $(awk -v s="$2" -v t="$T" 'BEGIN { printf "%.0f", s * t }') tokens/s"
        echo "pipette $v $1 $2 $4" >>"$rows"
    done
    for mode in eager compile; do
        tlog=$work/gpt-torch-$mode
        flag=
        [ "$mode" = eager ] || flag=--compile
        echo "PyTorch $mode on the same GPT, $warm + $steps steps"
        rc=0
        # shellcheck disable=SC2086
        bounded 300 env LD_LIBRARY_PATH="$torch_ld" "$PYTHON" \
            "$here/gpt_torch.py" $flag --warmup "$warm" --steps "$steps" \
            --layers "$layers" --dim "$dim" --heads "$heads" --context "$T" \
            --vocab "$vocab" --batch "$batch" --precision bf16 \
            >"$tlog" 2>&1 || rc=$?
        sed 's/^/  | /' "$tlog"
        result=$(sed -n 's/^RESULT //p' "$tlog")
        tms=$(echo "$result" | sed -n 's/.*step_ms=\([0-9.]*\).*/\1/p')
        tparams=$(echo "$result" | sed -n 's/.*params=\([0-9]*\).*/\1/p')
        if [ "$rc" -eq 77 ]; then
            note "part 4: PyTorch $mode skipped: $(tail -n 1 "$tlog")"
        elif [ "$rc" -ne 0 ] || [ -z "$tms" ]; then
            fail "part 4: gpt_torch.py ($mode) exited $rc"
            p4=failed
        else
            echo "torch-$mode $tms $tparams" >>"$rows"
        fi
    done
    echo
    echo "| run | step ms | tokens/s | parameters |"
    echo "|---|---|---|---|"
    awk -v T="$T" -v B="$batch" '
    $1 == "pipette" && $2 == 0 { printf "| pipette, 1 stage, its own attention kernels | %.1f | %.0f | %s |\n", $3, $4 * T, $5 }
    $1 == "pipette" && $2 > 0 { printf "| pipette, %d stage%s | %.1f | %.0f | %s |\n", $2, ($2 > 1 ? "s" : ""), $3, $4 * T, $5 }
    $1 ~ /^torch-/ { printf "| PyTorch %s | %.1f | %.0f | %s |\n", substr($1, 7), $2, 1000 * B * T / $2, $3 }' "$rows"
    awk '
    $1 == "pipette" { ms[$2] = $3; params = $5 }
    $1 ~ /^torch-/ { t[substr($1, 7)] = $2; tp[substr($1, 7)] = $3 }
    END {
        if (!(1 in ms)) { print "  one stage: not measured  FAILED"; exit }
        for (m in tp) if (tp[m] != params)
            printf "  PyTorch %s has %s parameters, pipette %s: not the same model  FAILED\n", m, tp[m], params
        if ("eager" in t)
            printf "  one stage tokens/s at least 1.0x PyTorch eager: %.2fx  %s\n", t["eager"] / ms[1], ms[1] <= t["eager"] ? "PASS" : "MISS"
        else print "  one stage tokens/s at least 1.0x PyTorch eager: no PyTorch number  SKIPPED"
        if ("compile" in t)
            printf "  one stage tokens/s at least 0.8x torch.compile: %.2fx  %s\n", t["compile"] / ms[1], ms[1] * 0.8 <= t["compile"] ? "PASS" : "MISS"
        else print "  one stage tokens/s at least 0.8x torch.compile: no PyTorch number  SKIPPED"
        if (4 in ms)
            printf "  four stages within 10%% of one stage: %.1f ms vs %.1f ms (%+.1f%%)  %s\n", ms[4], ms[1], 100 * (ms[4] / ms[1] - 1), ms[4] <= 1.1 * ms[1] ? "PASS" : "MISS"
        else print "  four stages: not measured  FAILED"
    }' "$rows" | tee "$work/p4targets"
    grep -q FAILED "$work/p4targets" && p4=failed
    sed 's/^  /part 4 target: /' "$work/p4targets" >>"$summary.targets"
    if [ "$p4" = ok ]; then
        note "part 4 ran"
        ran=1
    fi
}

for part in 1 2 3 4; do
    if selected "$part"; then
        case $part in
        1) part1 ;;
        2) part2 ;;
        3) part3 ;;
        4) part4 ;;
        esac
    else
        note "part $part skipped: not in PIPETTE_BENCH_PARTS ($parts)"
    fi
done

echo
echo "== summary"
cat "$summary"
[ ! -s "$summary.targets" ] || sed 's/^/  /' "$summary.targets"
if [ "$failed" -ne 0 ]; then
    echo "bench/gpu.sh: FAILED"
    exit 1
fi
if [ "$ran" -eq 0 ]; then
    echo "bench/gpu.sh: nothing measured${gpu_why:+ ($gpu_why)}"
    exit 77
fi
exit 0
