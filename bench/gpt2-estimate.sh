#!/bin/sh
# bench/gpt2-estimate.sh - an ESTIMATE, not a measurement: a GPT-2 small
# step (124.4 M parameters, 12 layers, d 768, T 1024; examples/gpt2-124m.ini)
# on 2 nodes x 8 GPUs, under three layouts of data x pipeline parallelism,
# from pipette's simulator (pipette schedule -d) with costs derived from
# the assumptions below. Change them by environment to redo it.
#
#   bench/gpt2-estimate.sh [PIPETTE]
#
# Assumptions (each an input, none measured here):
#   TOKENS   global batch in tokens (default 524288: 512 sequences of 1024,
#            GPT-2's and llm.c's)
#   TFLOPS   sustained bf16 TFLOP/s of one GPU on the model's work
#            (default 400: about 40% of an H200's dense peak; PyTorch with
#            bf16 autocast reached 633 on a plain MLP, bench/RESULTS.md)
#   NVLINK   NCCL all-reduce bus bandwidth within a node, GB/s (400)
#   NET      NCCL all-reduce bus bandwidth across nodes, GB/s per GPU
#            (45: one 400 Gb/s NIC per GPU)
#   P2P      point-to-point GB/s of a stage's activations: NVLINK/2 within
#            a node, NET across
# FLOPs per token: 6 N + 12 L T d (the attention's score and value
# products), forward 1/3 and backward 2/3; stages balanced; gradients
# summed in FP32 (4 bytes a parameter) by a ring all-reduce,
# 2 (D - 1) / D of the bytes at the bus bandwidth.
set -eu
pipette=${1:-$(dirname "$0")/../src/pipette}
tokens=${TOKENS:-524288} tflops=${TFLOPS:-400} nvlink=${NVLINK:-400} net=${NET:-45}

# layout SCHEDULE P D M WHERE: WHERE is where the replicas' sums run
# (node: within a node; net: across the nodes), the stage-to-stage
# messages the other way. Ideal: the step's FLOPs over 16 GPUs.
layout() {
    set -- $(awk -v t="$tokens" -v tf="$tflops" -v nv="$nvlink" -v net="$net" \
        -v p="$2" -v d="$3" -v m="$4" -v where="$5" 'BEGIN {
        n = 124439808; flops = t * (6 * n + 12 * 12 * 1024 * 768)
        mb = flops / (d * p * m) / (tf * 1e12) * 1e3        # ms per stage, micro-batch
        bw_sum = where == "node" ? nv : net
        bw_p2p = where == "node" ? net : nv / 2
        ar = 4 * n / p * 2 * (d - 1) / d / (bw_sum * 1e9) * 1e3
        act = t / (d * m) * 768 * 2                            # bf16 activations, bytes
        tr = p > 1 ? act / (bw_p2p * 1e9) * 1e3 : 0
        printf "%.4f %.4f %.4f %.4f %.4f\n", mb / 3, 2 * mb / 3, tr, ar,
            flops / 16 / (tf * 1e12) * 1e3 }')
    f=$1 b=$2 tr=$3 ar=$4 ideal=$5
    costs="F=$f,B=$b,BI=$f,BW=$f,transfer=$tr,allreduce=$ar"
    "$pipette" schedule "$sched" -p "$p" -m "$m" -d "$d" --costs "$costs" --format summary |
        awk -v s="$sched" -v p="$p" -v d="$d" -v m="$m" -v ideal="$ideal" -v ar="$ar" -v t="$tokens" '
        /^makespan/ { ms = $2 + 0; sub(",", "", ms)
            printf "| %s | %d x %d | %d | %.2f | %.1f | %.1f | %.0f%% | %.2f |\n",
                s, d, p, m, ar, ms, ideal, 100 * ideal / ms, t / ms / 1e3 }'
}

echo "ESTIMATE (simulated from assumed costs; not a measurement): GPT-2 small, $tokens tokens a step, 16 GPUs at $tflops TFLOP/s"
echo
echo "| schedule | replicas x stages | micro-batches | all-reduce ms (a stage's) | step ms | ideal ms | efficiency | M tokens/s |"
echo "|---|---|---|---|---|---|---|---|"
sched=1f1b p=1 d=16 m=1; layout "$sched" $p $d $m net
sched=1f1b p=2 d=8 m=8; layout "$sched" $p $d $m node
sched=1f1b p=8 d=2 m=32; layout "$sched" $p $d $m net
sched=zb-h1 p=8 d=2 m=32; layout "$sched" $p $d $m net
