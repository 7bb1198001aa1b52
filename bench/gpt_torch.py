#!/usr/bin/env python3
"""bench/gpt_torch.py - PyTorch's GPT-2 on one GPU: the peer of bench/gpu.sh
part 4 (pipette training examples/gpt2-124m.ini).

    gpt_torch.py [--compile] [--steps N] [--warmup W] [--device cuda|cpu]
                 --layers L --dim D --heads H --context T --vocab V
                 --batch B [--precision fp32|tf32|bf16]

The model is GPT-2's (nanoGPT's, as llm.c's train_gpt2.py writes it): a
token table tied to the head, learned positions, L pre-norm blocks of
layernorm, qkv linear, causal F.scaled_dot_product_attention (flash
attention where PyTorch has it), output projection, residual add,
layernorm, 4D linear, tanh GELU, D linear, residual add, then a final
layernorm, the tied head and cross-entropy. AdamW (fused where CUDA is)
with weight decay 0.1 on matrices only, as pipette's file sets it. bf16:
torch.autocast around forward and loss, FP32 parameters and optimizer.
--compile wraps the model in torch.compile.

Each step draws random token ids on the host and copies them over, as
pipette's data ring does, then runs forward, loss, backward, the
optimizer, and reads the loss (which waits for the device, as pipette's
log line does). The step time is the median over --steps after --warmup.

Prints a human line and one for scripts:

    RESULT model=gpt params=P batch=B context=T steps=N step_ms=X tokens_per_s=Y loss=L

Exit status: 0 measured, 1 a failure (a non-finite loss included), 2 a
usage error, 77 PyTorch missing or no GPU answering.
"""

import argparse
import math
import statistics
import sys
import time

SKIP = 77


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--layers", type=int, required=True)
    ap.add_argument("--dim", type=int, required=True)
    ap.add_argument("--heads", type=int, required=True)
    ap.add_argument("--context", type=int, required=True)
    ap.add_argument("--vocab", type=int, required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--precision", default="bf16",
                    choices=["fp32", "tf32", "bf16"])
    a = ap.parse_args()
    if a.dim % a.heads or a.steps < 1 or a.warmup < 0:
        print("gpt_torch.py: heads must divide dim; steps >= 1", file=sys.stderr)
        return 2
    try:
        import torch
        import torch.nn as nn
        import torch.nn.functional as F
    except ImportError as e:
        print(f"skipped: PyTorch does not import ({e})")
        return SKIP
    if a.device == "cuda" and not torch.cuda.is_available():
        print("skipped: PyTorch sees no GPU")
        return SKIP
    dev = torch.device(a.device)
    tf32 = a.precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(a.dim)
            self.qkv = nn.Linear(a.dim, 3 * a.dim)
            self.proj = nn.Linear(a.dim, a.dim)
            self.ln_2 = nn.LayerNorm(a.dim)
            self.fc = nn.Linear(a.dim, 4 * a.dim)
            self.out = nn.Linear(4 * a.dim, a.dim)

        def forward(self, x):
            B, T, D = x.shape
            q, k, v = self.qkv(self.ln_1(x)).split(D, dim=2)
            heads = [t.view(B, T, a.heads, D // a.heads).transpose(1, 2)
                     for t in (q, k, v)]
            y = F.scaled_dot_product_attention(*heads, is_causal=True)
            x = x + self.proj(y.transpose(1, 2).contiguous().view(B, T, D))
            return x + self.out(F.gelu(self.fc(self.ln_2(x)),
                                       approximate="tanh"))

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(a.vocab, a.dim)
            self.wpe = nn.Embedding(a.context, a.dim)
            self.h = nn.ModuleList(Block() for _ in range(a.layers))
            self.ln_f = nn.LayerNorm(a.dim)

        def forward(self, idx, targets):
            pos = torch.arange(idx.shape[1], device=idx.device)
            x = self.wte(idx) + self.wpe(pos)
            for block in self.h:
                x = block(x)
            logits = F.linear(self.ln_f(x), self.wte.weight)
            return F.cross_entropy(logits.float().view(-1, a.vocab),
                                   targets.view(-1))

    model = GPT().to(dev)
    params = sum(p.numel() for p in model.parameters())
    decay = [p for p in model.parameters() if p.dim() >= 2]
    rest = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": rest, "weight_decay": 0.0}],
                            lr=6e-4, betas=(0.9, 0.95),
                            fused=a.device == "cuda")
    run = torch.compile(model) if a.compile else model
    gen = torch.Generator().manual_seed(1)

    def step():
        ids = torch.randint(0, a.vocab, (a.batch, a.context + 1),
                            generator=gen)
        ids = ids.pin_memory() if a.device == "cuda" else ids
        ids = ids.to(dev, non_blocking=True)
        with torch.autocast(a.device, torch.bfloat16,
                            enabled=a.precision == "bf16"):
            loss = run(ids[:, :-1], ids[:, 1:])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()

    times = []
    loss = math.nan
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        loss = step()
        if not math.isfinite(loss):
            print(f"step {i + 1}: the loss is {loss}", file=sys.stderr)
            return 1
        if i >= a.warmup:
            times.append(time.perf_counter() - t0)
    ms = 1e3 * statistics.median(times)
    tokens = a.batch * a.context / (ms / 1e3)
    mode = "torch.compile" if a.compile else "eager"
    print(f"PyTorch {torch.__version__} {mode} GPT ({params} parameters, "
          f"{a.precision}) on {a.device}: {ms:.2f} ms/step, "
          f"{tokens:.0f} tokens/s")
    print(f"RESULT model=gpt params={params} batch={a.batch} "
          f"context={a.context} steps={a.steps} step_ms={ms:.3f} "
          f"tokens_per_s={tokens:.1f} loss={loss:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
