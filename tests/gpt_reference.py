#!/usr/bin/env python3
"""tests/gpt_reference.py - the GPT of tests/gpt-reference.sh written a
second time, outside pipette, to check pipette's numbers against it.

    gpt_reference.py files DIR        write DIR/gpt.ini and DIR/corpus.txt
    gpt_reference.py forward DIR CKPT the loss of CKPT's parameters, NumPy
    gpt_reference.py train DIR CKPT N N steps in PyTorch from CKPT's
                                      parameters: each step's loss

The corpus is one window long (length + 1 bytes), so every sample of
every batch is the same sequence and both sides see the same data
without sharing pipette's sampler. CKPT is a [train] checkpoint
directory: its newest checkpoint's model.safetensors is read by the
safetensors format's rules alone (one tensor per LAYER.PARAM). `forward` computes in float64: layernorm (biased
variance, eps 1e-5), linear (x W^T + b), GPT-2's tanh GELU, causal
attention over the qkv split (scale 1/sqrt(head size)), token and
position embeddings, the head on the token table, the mean cross-entropy
over the next bytes. `train` runs the same model in PyTorch (float32):
SGD with momentum 0.9, clipping by the global norm (clip_grad_norm_),
pipette's sgd and grad_clip as their documents say.

Prints the losses, one per line. Exit 77 when NumPy (forward) or
PyTorch (train) does not import; 2 on a bad checkpoint.
"""

import json
import math
import os
import struct
import sys

SKIP = 77
V, T, D, H, L, FF = 256, 16, 32, 4, 2, 128
LR, MOMENTUM, CLIP = 0.1, 0.9, 1.0

INI = f"""; written by tests/gpt_reference.py
[model]
input = {T}
input_type = int
[layer wte]
type = embedding
vocab = {V}
dim = {D}
std = 0.1
positions = true
[repeat h]
count = {L}
[layer h.ln_1]
type = layernorm
[layer h.qkv]
type = linear
units = {3 * D}
std = 0.1
[layer h.attn]
type = attention
heads = {H}
[layer h.proj]
type = linear
units = {D}
std = 0.1
[layer h.res_1]
type = add
inputs = h.proj, h
[layer h.ln_2]
type = layernorm
[layer h.fc]
type = linear
units = {FF}
std = 0.1
activation = gelu
[layer h.mlp]
type = linear
units = {D}
std = 0.1
[layer h.res_2]
type = add
inputs = h.mlp, h.res_1
[layer ln_f]
type = layernorm
[layer head]
type = linear
units = {V}
bias = false
share = weight:wte.weight
[layer loss]
type = softmax_xent
[pipeline]
schedule = 1f1b
devices = cpu*2
microbatches = 2
[train]
batch = 4
optimizer = sgd
momentum = 0.9
weight_decay = 0
lr = {LR}
grad_clip = {CLIP}
seed = 5
log_every = 1
checkpoint = gpt.ckpt   ; the test makes it absolute
[data]
source = text
path = corpus.txt
length = {T}
"""

# The window: T + 1 bytes of text.
CORPUS = b"pipette pipelines"[: T + 1]


def shapes():
    """Each layer's own parameters in model order, as declared."""
    out = [("wte.weight", (V, D)), ("wte.positions", (T, D))]
    for b in range(L):
        p = f"h.{b}."
        out += [(p + "ln_1.weight", (D,)), (p + "ln_1.bias", (D,)),
                (p + "qkv.weight", (3 * D, D)), (p + "qkv.bias", (3 * D,)),
                (p + "proj.weight", (D, D)), (p + "proj.bias", (D,)),
                (p + "ln_2.weight", (D,)), (p + "ln_2.bias", (D,)),
                (p + "fc.weight", (FF, D)), (p + "fc.bias", (FF,)),
                (p + "mlp.weight", (D, FF)), (p + "mlp.bias", (D,))]
    out += [("ln_f.weight", (D,)), ("ln_f.bias", (D,))]
    return out


def read_checkpoint(path):
    """name -> (shape, list of floats), from the newest checkpoint in the
    [train] checkpoint directory path (or the checkpoint path itself):
    its model.safetensors, read by the format's rules alone."""
    if not os.path.exists(os.path.join(path, "MANIFEST")):
        steps = sorted(d for d in os.listdir(path) if d.startswith("step-")
                       and os.path.exists(os.path.join(path, d, "MANIFEST")))
        if not steps:
            raise ValueError(f"{path}: no complete checkpoint")
        path = os.path.join(path, steps[-1])
    with open(os.path.join(path, "model.safetensors"), "rb") as f:
        data = f.read()
    # A u64 little-endian header length, the JSON header, the data.
    (n,) = struct.unpack_from("<Q", data, 0)
    if n > len(data) - 8 or (8 + n) % 8:
        raise ValueError(f"{path}: header of {n} bytes")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    want = dict(shapes())
    if set(header) != set(want):
        raise ValueError(f"{path}: tensors {sorted(header)}")
    body = data[8 + n:]
    spans = sorted(tuple(v["data_offsets"]) for v in header.values())
    if spans[0][0] != 0 or spans[-1][1] != len(body) or any(
            a[1] != b[0] for a, b in zip(spans, spans[1:])):
        raise ValueError(f"{path}: the tensors do not tile the data")
    out = {}
    for name, v in header.items():
        begin, end = v["data_offsets"]
        shape = tuple(v["shape"])
        if v["dtype"] != "F32" or shape != want[name] or \
                end - begin != 4 * math.prod(shape):
            raise ValueError(f"{path}: {name} is {v['dtype']} {shape}")
        out[name] = (shape, struct.unpack_from(f"<{math.prod(shape)}f",
                                               body, begin))
    return out


def forward(ckpt):
    import numpy as np
    p = {k: np.array(v, dtype=np.float64).reshape(s)
         for k, (s, v) in ckpt.items()}
    ids = np.frombuffer(CORPUS[:T], dtype=np.uint8).astype(int)
    tgt = np.frombuffer(CORPUS[1:], dtype=np.uint8).astype(int)

    def ln(x, w, b):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-5) * w + b

    def gelu(x):
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) *
                                      (x + 0.044715 * x ** 3)))

    x = p["wte.weight"][ids] + p["wte.positions"]
    hs = D // H
    for b in range(L):
        q = f"h.{b}."
        qkv = ln(x, p[q + "ln_1.weight"], p[q + "ln_1.bias"]) @ \
            p[q + "qkv.weight"].T + p[q + "qkv.bias"]
        y = np.zeros((T, D))
        for h in range(H):
            Q = qkv[:, h * hs:(h + 1) * hs]
            K = qkv[:, D + h * hs:D + (h + 1) * hs]
            Vv = qkv[:, 2 * D + h * hs:2 * D + (h + 1) * hs]
            s = Q @ K.T / math.sqrt(hs)
            s = np.where(np.tril(np.ones((T, T))) > 0, s, -np.inf)
            s = np.exp(s - s.max(-1, keepdims=True))
            y[:, h * hs:(h + 1) * hs] = (s / s.sum(-1, keepdims=True)) @ Vv
        x = x + y @ p[q + "proj.weight"].T + p[q + "proj.bias"]
        f = gelu(ln(x, p[q + "ln_2.weight"], p[q + "ln_2.bias"]) @
                 p[q + "fc.weight"].T + p[q + "fc.bias"])
        x = x + f @ p[q + "mlp.weight"].T + p[q + "mlp.bias"]
    logits = ln(x, p["ln_f.weight"], p["ln_f.bias"]) @ p["wte.weight"].T
    m = logits.max(-1, keepdims=True)
    lse = (m + np.log(np.exp(logits - m).sum(-1, keepdims=True)))[:, 0]
    return float(np.mean(lse - logits[np.arange(T), tgt]))


def train(ckpt, steps):
    import torch
    import torch.nn.functional as F
    torch.manual_seed(0)
    p = {k: torch.tensor(v, dtype=torch.float32).reshape(s).requires_grad_()
         for k, (s, v) in ckpt.items()}
    ids = torch.tensor(list(CORPUS[:T]))
    tgt = torch.tensor(list(CORPUS[1:]))
    hs = D // H

    def loss_of():
        x = p["wte.weight"][ids] + p["wte.positions"]
        for b in range(L):
            q = f"h.{b}."
            h = F.layer_norm(x, (D,), p[q + "ln_1.weight"],
                             p[q + "ln_1.bias"], 1e-5)
            qkv = F.linear(h, p[q + "qkv.weight"], p[q + "qkv.bias"])
            Q, K, Vv = (qkv[:, i * D:(i + 1) * D].reshape(T, H, hs)
                        .transpose(0, 1) for i in range(3))
            y = F.scaled_dot_product_attention(Q, K, Vv, is_causal=True)
            y = y.transpose(0, 1).reshape(T, D)
            x = x + F.linear(y, p[q + "proj.weight"], p[q + "proj.bias"])
            h = F.layer_norm(x, (D,), p[q + "ln_2.weight"],
                             p[q + "ln_2.bias"], 1e-5)
            f = F.gelu(F.linear(h, p[q + "fc.weight"], p[q + "fc.bias"]),
                       approximate="tanh")
            x = x + F.linear(f, p[q + "mlp.weight"], p[q + "mlp.bias"])
        x = F.layer_norm(x, (D,), p["ln_f.weight"], p["ln_f.bias"], 1e-5)
        return F.cross_entropy(F.linear(x, p["wte.weight"]), tgt)

    opt = torch.optim.SGD(list(p.values()), lr=LR, momentum=MOMENTUM,
                          dampening=0, weight_decay=0)
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = loss_of()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(p.values()), CLIP)
        opt.step()
        losses.append(loss.item())
    return losses


def main(argv):
    if len(argv) >= 2 and argv[0] == "files":
        with open(f"{argv[1]}/gpt.ini", "w") as f:
            f.write(INI)
        with open(f"{argv[1]}/corpus.txt", "wb") as f:
            f.write(CORPUS)
        return 0
    if len(argv) < 3 or argv[0] not in ("forward", "train"):
        print(__doc__, file=sys.stderr)
        return 2
    try:
        ckpt = read_checkpoint(argv[2])
    except (OSError, ValueError) as e:
        print(e, file=sys.stderr)
        return 2
    try:
        if argv[0] == "forward":
            import numpy  # noqa: F401
        else:
            import torch  # noqa: F401
    except ImportError as e:
        print(f"skipped: {e}")
        return SKIP
    if argv[0] == "forward":
        print(f"{forward(ckpt):.9f}")
    else:
        for loss in train(ckpt, int(argv[3]) if len(argv) > 3 else 5):
            print(f"{loss:.9f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
