#!/usr/bin/env python3
"""bench/torch_reference.py - the PyTorch eager reference for bench/gpu.sh
part 2 and bench/cpu-torch.sh: the model of a pipette model file, trained
in PyTorch on one GPU (or CPU) with the whole batch at once, step by step
as `pipette train` does.

    torch_reference.py [--steps N] [--warmup W] [--device cuda|cpu]
                       [--threads T] FILE.ini

It reads the same file pipette reads, so the two cannot drift apart: the
layers in order (linear, relu, gelu, tanh, layernorm, embedding, dropout,
softmax_xent), [train] batch, lr and the optimizer with its keys (sgd as
torch.optim.SGD with dampening 0, adamw as torch.optim.AdamW: the updates
pipette's sgd and adamw plugins document), and the data source's shapes.
[pipeline] is ignored: this is one device and one micro-batch. A key it
does not know is an error, not a guess.

[train] precision as pipette reads it: fp32 (TF32 off for matrix
products and cuDNN), tf32 (TF32 on for both), or bf16 (torch.autocast
to bf16 around forward and loss, FP32 parameters and optimizer, TF32
off: what a PyTorch user runs for bf16). Each step draws
its batch on the host and copies it to the device, as pipette's data
sources do (the values differ: only shapes and work matter here), then
runs forward, loss, backward, the optimizer and reads the loss back
(which waits for the device, as pipette's per-step log line does). The
step time is the median over --steps steps after --warmup steps.

Prints a human line and one line for scripts:

    RESULT model=NAME params=P batch=B steps=N step_ms=T samples_per_s=S loss=L

Exit status: 0 measured, 1 a failure (a non-finite loss included), 2 a
usage or model-file error, 77 no GPU answers or PyTorch is missing.
--device cpu runs the same code on the CPU; with --threads 1 (intra- and
inter-op threads) it is bench/cpu-torch.sh's reference for one pipette
rank, which is one thread.

Not a layer-by-layer equivalence test: parameter initialisation and data
values differ from pipette's. The parameter count is printed so that the
caller can check that both built the same model.
"""

import argparse
import configparser
import math
import os
import statistics
import struct
import sys
import time

SKIP = 77


class ModelFileError(Exception):
    pass


def read_ini(path):
    cp = configparser.ConfigParser(
        delimiters=("=", ":"), comment_prefixes=(";", "#"),
        inline_comment_prefixes=(";",), interpolation=None, strict=True,
        empty_lines_in_values=False)
    cp.optionxform = str  # pipette's keys are case-sensitive
    try:
        with open(path, encoding="utf-8-sig") as f:
            cp.read_file(f)
    except (OSError, configparser.Error) as e:
        raise ModelFileError("%s: %s" % (path, e))
    return cp


class Keys:
    """One section's keys: each read once, with its default; whatever is
    left unread at the end is an error."""

    def __init__(self, cp, section):
        self.name = section
        self.left = dict(cp[section]) if cp.has_section(section) else {}

    def get(self, key, default=None, required=False):
        if key in self.left:
            return self.left.pop(key)
        if required:
            raise ModelFileError("[%s] missing required key '%s'"
                                 % (self.name, key))
        return default

    def int(self, key, default=None, required=False):
        v = self.get(key, default, required)
        try:
            return int(v)
        except (TypeError, ValueError):
            raise ModelFileError("[%s] %s: expected an integer, got %r"
                                 % (self.name, key, v))

    def float(self, key, default=None):
        v = self.get(key, default)
        try:
            return float(v)
        except (TypeError, ValueError):
            raise ModelFileError("[%s] %s: expected a number, got %r"
                                 % (self.name, key, v))

    def bool(self, key, default):
        v = self.get(key, default)
        if v in ("true", "yes", "on", "1"):
            return True
        if v in ("false", "no", "off", "0"):
            return False
        raise ModelFileError("[%s] %s: expected a boolean, got %r"
                             % (self.name, key, v))

    def ignore(self, *keys):
        for k in keys:
            self.left.pop(k, None)

    def done(self):
        if self.left:
            raise ModelFileError(
                "[%s] %s: not understood by torch_reference.py (add it "
                "there, or the reference would silently differ)"
                % (self.name, ", ".join(sorted(self.left))))


def build(cp, torch, device):
    """The model's layers as torch modules, the loss, and the shapes."""
    nn = torch.nn
    model = Keys(cp, "model")
    name = model.get("name", os.path.basename(cp.path))
    shape = model.get("input", required=True)
    if not shape.isdigit():
        raise ModelFileError("[model] input: only one dimension is "
                             "supported here, got %r" % shape)
    input_type = model.get("input_type", "float")
    model.ignore("plugin_path")
    model.done()
    width = int(shape)  # the last dimension as data flows
    if input_type not in ("float", "int"):
        raise ModelFileError("[model] input_type: expected float or int, "
                             "got %r" % input_type)
    tokens = input_type == "int"
    layers, loss = [], None
    sections = [s for s in cp.sections() if s.startswith("layer ")]
    for i, sec in enumerate(sections):
        k = Keys(cp, sec)
        kind = k.get("type", required=True)
        k.ignore("stage")  # placement only
        if loss is not None:
            raise ModelFileError("[%s] follows the loss" % sec)
        if kind == "linear":
            units = k.int("units", required=True)
            if k.get("tf32") is not None:
                raise ModelFileError("[%s] tf32: retired, as in pipette: "
                                     "write [train] precision = tf32" % sec)
            layers.append(nn.Linear(width, units,
                                    bias=k.bool("bias", "true")))
            width = units
        elif kind == "embedding":
            if not tokens or layers:
                raise ModelFileError("[%s] embedding must come first, on an "
                                     "int input" % sec)
            vocab, dim = k.int("vocab", required=True), k.int(
                "dim", required=True)
            layers.append(nn.Embedding(vocab, dim))
            width = dim
        elif kind == "relu":
            layers.append(nn.ReLU())
        elif kind == "tanh":
            layers.append(nn.Tanh())
        elif kind == "gelu":
            layers.append(nn.GELU(approximate="tanh"))
        elif kind == "layernorm":
            layers.append(nn.LayerNorm(width, eps=k.float("eps", "1e-5")))
        elif kind == "dropout":
            layers.append(nn.Dropout(k.float("rate", "0.1")))
        elif kind == "softmax_xent":
            if i != len(sections) - 1:
                raise ModelFileError("[%s] the loss must be the last layer"
                                     % sec)
            loss = width  # classes
        else:
            raise ModelFileError("[%s] type = %s: not supported by "
                                 "torch_reference.py" % (sec, kind))
        k.done()
    if loss is None:
        raise ModelFileError("the last layer must be softmax_xent")
    net = nn.Sequential(*layers).to(device)
    return name, net, loss, int(shape), tokens


def optimizer(cp, torch, params):
    t = Keys(cp, "train")
    batch = t.int("batch", required=True)
    kind = t.get("optimizer", "sgd")
    lr = t.float("lr", "0.01")
    seed = t.int("seed", "1")
    precision = t.get("precision", "fp32")
    if precision not in ("fp32", "tf32", "bf16"):
        raise ModelFileError("[train] precision = %s: expected fp32, tf32 "
                             "or bf16" % precision)
    t.ignore("steps", "log_every", "log", "trace", "checkpoint")
    if kind == "sgd":
        momentum = t.float("momentum", "0")
        wd, nesterov = t.float("weight_decay", "0"), t.bool("nesterov",
                                                             "false")
        opt = torch.optim.SGD(params, lr=lr, momentum=momentum, dampening=0,
                              weight_decay=wd, nesterov=nesterov)
        what = "SGD(lr=%g, momentum=%g, weight_decay=%g, nesterov=%s)" % (
            lr, momentum, wd, nesterov)
    elif kind == "adamw":
        b1, b2 = t.float("beta1", "0.9"), t.float("beta2", "0.999")
        eps, wd = t.float("eps", "1e-8"), t.float("weight_decay", "0.01")
        opt = torch.optim.AdamW(params, lr=lr, betas=(b1, b2), eps=eps,
                                weight_decay=wd)
        what = "AdamW(lr=%g, betas=(%g, %g), eps=%g, weight_decay=%g)" % (
            lr, b1, b2, eps, wd)
    else:
        raise ModelFileError("[train] optimizer = %s: not supported by "
                             "torch_reference.py" % kind)
    t.done()
    return opt, what, batch, seed, precision


def corpus(path, source, torch):
    """The ids of a text or tokens file, as a CPU int64 tensor."""
    with open(path, "rb") as f:
        data = f.read()
    if source == "text":
        return torch.frombuffer(bytearray(data), dtype=torch.uint8).long()
    if data[:8] != b"PPTOKEN1" or len(data) < 16:
        raise ModelFileError("%s: not a PPTOKEN1 file" % path)
    count = struct.unpack("<I", data[12:16])[0]
    if len(data) != 16 + 4 * count:
        raise ModelFileError("%s: size does not match its count" % path)
    return torch.frombuffer(bytearray(data[16:]), dtype=torch.int32).long()


def data_source(cp, torch, batch, input_len, tokens, classes, device, base):
    """A function that makes one batch on the host and copies it over."""
    d = Keys(cp, "data")
    source = d.get("source", required=True)
    gen = torch.Generator().manual_seed(1)
    if source == "synthetic":
        task = d.get("task", "mixture")
        if task == "mixture":
            if tokens:
                raise ModelFileError("[data] mixture needs a float input")
            n, f = d.int("classes", "4"), d.int("features", "2")
            spread = d.float("spread", "0.5")
            if f != input_len or n != classes:
                raise ModelFileError("[data] features %d, classes %d do not "
                                     "fit the model (%d in, %d out)"
                                     % (f, n, input_len, classes))
            centre = torch.randn(n, f, generator=gen)

            def draw():
                y = torch.randint(n, (batch,), generator=gen)
                x = centre[y] + spread * torch.randn(batch, f, generator=gen)
                return x, y
        elif task == "sequence":
            vocab, length = d.int("vocab", "16"), d.int("length", "16")
            if not tokens or length != input_len:
                raise ModelFileError("[data] sequence does not fit the "
                                     "model's input")
            steps = torch.arange(length + 1)
            k = 1 + torch.randint(vocab - 1, (1,), generator=gen)

            def draw():
                start = torch.randint(vocab, (batch, 1), generator=gen)
                seq = (start + k * steps) % vocab
                return seq[:, :-1], seq[:, 1:]
        else:
            raise ModelFileError("[data] task = %s: unknown" % task)
    elif source in ("text", "tokens"):
        path = d.get("path", required=True)
        length = d.int("length", "64")
        if not tokens or length != input_len:
            raise ModelFileError("[data] length %d does not fit the model's "
                                 "input %d" % (length, input_len))
        ids = corpus(os.path.join(base, path), source, torch)
        if len(ids) < length + 1:
            raise ModelFileError("[data] %s: shorter than length + 1" % path)
        window = torch.arange(length + 1)

        def draw():
            start = torch.randint(len(ids) - length, (batch, 1), generator=gen)
            w = ids[start + window]
            return w[:, :-1], w[:, 1:]
    else:
        raise ModelFileError("[data] source = %s: not supported by "
                             "torch_reference.py" % source)
    d.done()

    def next_batch():
        x, y = draw()
        return x.to(device), y.to(device)
    return next_batch


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", help="a pipette model file")
    ap.add_argument("--steps", type=int, default=10,
                    help="timed steps (default 10)")
    ap.add_argument("--warmup", type=int, default=3,
                    help="steps run first and not timed (default 3)")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda")
    ap.add_argument("--threads", type=int, default=0,
                    help="CPU threads for PyTorch's operators (default: "
                    "PyTorch's own choice)")
    a = ap.parse_args()
    if a.steps < 1 or a.warmup < 0 or a.threads < 0:
        ap.error("--steps must be at least 1, --warmup and --threads at "
                 "least 0")
    try:
        import torch
    except ImportError as e:
        print("torch_reference: PyTorch is missing (%s): skipped" % e)
        return SKIP
    if a.device == "cuda" and not torch.cuda.is_available():
        print("torch_reference: no GPU answers (torch %s, "
              "torch.cuda.is_available() is False): skipped"
              % torch.__version__)
        return SKIP
    if a.threads:
        torch.set_num_threads(a.threads)
        torch.set_num_interop_threads(a.threads)
    device = torch.device(a.device)

    try:
        cp = read_ini(a.model)
        cp.path = a.model
        name, net, classes, input_len, tokens = build(cp, torch, device)
        opt, what, batch, seed, precision = optimizer(cp, torch,
                                                      net.parameters())
        torch.manual_seed(seed)
        next_batch = data_source(cp, torch, batch, input_len, tokens,
                                 classes, device,
                                 os.path.dirname(os.path.abspath(a.model)))
        for s in cp.sections():  # [pipeline] is not read: one device
            if s not in ("model", "pipeline", "train", "data") and \
                    not s.startswith("layer "):
                raise ModelFileError("[%s]: unknown section" % s)
    except ModelFileError as e:
        print("torch_reference: %s" % e, file=sys.stderr)
        return 2
    # FP32 matrix products exact, or on TF32 tensor cores in tf32. PyTorch
    # 2.9 replaced allow_tf32 with fp32_precision and warns about the old
    # flags (mixing the two is an error in places): use the one there is.
    tf32 = precision == "tf32"
    if hasattr(torch.backends, "fp32_precision"):
        mode = "tf32" if tf32 else "ieee"
        torch.backends.fp32_precision = mode
        torch.backends.cuda.matmul.fp32_precision = mode
        torch.backends.cudnn.fp32_precision = mode
    else:
        torch.backends.cuda.matmul.allow_tf32 = tf32
        torch.backends.cudnn.allow_tf32 = tf32
        torch.set_float32_matmul_precision("high" if tf32 else "highest")
    how = {"fp32": "FP32, TF32 off", "tf32": "FP32, TF32 on",
           "bf16": "bf16 autocast"}[precision]
    params = sum(p.numel() for p in net.parameters())
    cross_entropy = torch.nn.functional.cross_entropy

    def step():
        x, y = next_batch()
        with torch.autocast(device_type=a.device, dtype=torch.bfloat16,
                            enabled=precision == "bf16"):
            logits = net(x)
            loss = cross_entropy(logits.reshape(-1, classes),
                                 y.reshape(-1))
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return loss.item()  # waits for the device, like pipette's log line

    times, loss = [], float("nan")
    net.train()
    for i in range(a.warmup + a.steps):
        if a.device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        loss = step()
        if a.device == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        if not math.isfinite(loss):
            print("torch_reference: %s: the loss is %g at step %d"
                  % (name, loss, i + 1), file=sys.stderr)
            return 1
        if i >= a.warmup:
            times.append(dt)
    ms = 1e3 * statistics.median(times)
    where = (torch.cuda.get_device_name(device) if a.device == "cuda"
             else "cpu, %d threads" % torch.get_num_threads())
    print("torch_reference: %s on %s (torch %s, %s), %d "
          "parameters, batch %d, %s: median step %.3f ms over %d steps "
          "after %d warm-up (min %.3f, max %.3f), %.1f samples/s, loss %.6f"
          % (name, where, torch.__version__, how, params, batch, what, ms,
             len(times), a.warmup, 1e3 * min(times), 1e3 * max(times),
             batch / (ms * 1e-3), loss))
    print("RESULT model=%s params=%d batch=%d steps=%d step_ms=%.3f "
          "samples_per_s=%.1f loss=%.6f"
          % (name, params, batch, len(times), ms, batch / (ms * 1e-3), loss))
    return 0


if __name__ == "__main__":
    sys.exit(main())
