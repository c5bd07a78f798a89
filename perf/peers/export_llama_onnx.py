"""Exports a llama2.c checkpoint (legacy format, version 0) as an ONNX graph with torch.onnx.export.

The model is written here in plain PyTorch from the llama2.c layout (interleaved-pair RoPE, weights as stored,
no conversion to the Hugging Face layout), so the graph is a genuinely foreign one for llmprune's generic path:
torch's own MatMul/Sigmoid/Mul patterns, torch's initializer names, torch's shape arithmetic.
Tooling only; never part of the engine.

usage: /usr/bin/python3 export_llama_onnx.py CHECKPOINT.bin TOKENIZER.model OUT_FOLDER [--opset 14]
writes OUT_FOLDER/model.onnx (input: input_ids int64 [batch, seq]; output: logits [batch, seq, vocab]) and
OUT_FOLDER/tokenizer.model; prints one JSON line describing the export.
"""
import argparse
import json
import math
import os
import shutil
import struct

import torch
import torch.nn as nn


def read_checkpoint(path):
    with open(path, "rb") as f:
        dim, hidden, layers, heads, kv_heads, vocab, seq_len = struct.unpack("<7i", f.read(28))
        tied = vocab > 0
        vocab = abs(vocab)
        hs = dim // heads
        kv = kv_heads * hs

        def take(*shape):
            n = math.prod(shape)
            return torch.frombuffer(bytearray(f.read(4 * n)), dtype=torch.float32).reshape(shape).clone()

        w = {"emb": take(vocab, dim), "rms_att": take(layers, dim), "wq": take(layers, dim, dim),
             "wk": take(layers, kv, dim), "wv": take(layers, kv, dim), "wo": take(layers, dim, dim),
             "rms_ffn": take(layers, dim), "w1": take(layers, hidden, dim), "w2": take(layers, dim, hidden),
             "w3": take(layers, hidden, dim), "rms_final": take(dim)}
        f.read(4 * seq_len * (hs // 2) * 2)  # freq_cis_real/imag: recomputed below
        w["wcls"] = w["emb"] if tied else take(vocab, dim)
    cfg = dict(dim=dim, hidden=hidden, layers=layers, heads=heads, kv_heads=kv_heads, vocab=vocab, seq_len=seq_len)
    return cfg, w


class RMSNorm(nn.Module):
    def __init__(self, weight, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(weight)
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def linear(weight):
    m = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    m.weight = nn.Parameter(weight)
    return m


class Block(nn.Module):
    def __init__(self, cfg, w, l):
        super().__init__()
        self.heads, self.kv_heads = cfg["heads"], cfg["kv_heads"]
        self.hs = cfg["dim"] // cfg["heads"]
        self.attention_norm = RMSNorm(w["rms_att"][l])
        self.wq, self.wk, self.wv, self.wo = linear(w["wq"][l]), linear(w["wk"][l]), linear(w["wv"][l]), linear(w["wo"][l])
        self.ffn_norm = RMSNorm(w["rms_ffn"][l])
        self.w1, self.w2, self.w3 = linear(w["w1"][l]), linear(w["w2"][l]), linear(w["w3"][l])

    def rope(self, x, cos, sin):
        # llama2.c: rotate interleaved pairs (x[2i], x[2i+1]) by pos * theta^(-2i/hs)
        b, s, h, d = x.shape
        pairs = x.reshape(b, s, h, d // 2, 2)
        xr, xi = pairs[..., 0], pairs[..., 1]
        c, sn = cos[:s].view(1, s, 1, d // 2), sin[:s].view(1, s, 1, d // 2)
        return torch.stack([xr * c - xi * sn, xr * sn + xi * c], dim=-1).reshape(b, s, h, d)

    def forward(self, x, cos, sin, causal):
        b, s, _ = x.shape
        h = self.attention_norm(x)
        q = self.rope(self.wq(h).view(b, s, self.heads, self.hs), cos, sin).transpose(1, 2)
        k = self.rope(self.wk(h).view(b, s, self.kv_heads, self.hs), cos, sin).transpose(1, 2)
        v = self.wv(h).view(b, s, self.kv_heads, self.hs).transpose(1, 2)
        rep = self.heads // self.kv_heads
        if rep > 1:  # each kv head serves rep query heads (repeat_interleave, written so it exports with dynamic shapes)
            k = k.unsqueeze(2).expand(b, self.kv_heads, rep, s, self.hs).reshape(b, self.heads, s, self.hs)
            v = v.unsqueeze(2).expand(b, self.kv_heads, rep, s, self.hs).reshape(b, self.heads, s, self.hs)
        scores = q @ k.transpose(-2, -1) / math.sqrt(self.hs) + causal[:s, :s]
        ctx = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(b, s, self.heads * self.hs)
        x = x + self.wo(ctx)
        h = self.ffn_norm(x)
        return x + self.w2(torch.nn.functional.silu(self.w1(h)) * self.w3(h))


class Llama(nn.Module):
    def __init__(self, cfg, w):
        super().__init__()
        self.emb = nn.Embedding.from_pretrained(w["emb"], freeze=True)
        self.blocks = nn.ModuleList(Block(cfg, w, l) for l in range(cfg["layers"]))
        self.norm = RMSNorm(w["rms_final"])
        self.output = linear(w["wcls"])
        hs = cfg["dim"] // cfg["heads"]
        freqs = 1.0 / (10000.0 ** (torch.arange(0, hs, 2)[: hs // 2].double() / hs))
        angles = torch.outer(torch.arange(cfg["seq_len"]).double(), freqs)
        self.register_buffer("cos", angles.cos().float())
        self.register_buffer("sin", angles.sin().float())
        self.register_buffer("causal", torch.triu(torch.full((cfg["seq_len"], cfg["seq_len"]), -1e9), diagonal=1))

    def forward(self, input_ids):
        x = self.emb(input_ids)
        for block in self.blocks:
            x = block(x, self.cos, self.sin, self.causal)
        return self.output(self.norm(x))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("checkpoint")
    ap.add_argument("tokenizer")
    ap.add_argument("out")
    ap.add_argument("--opset", type=int, default=14)
    a = ap.parse_args()
    cfg, w = read_checkpoint(a.checkpoint)
    model = Llama(cfg, w).eval()
    os.makedirs(a.out, exist_ok=True)
    ids = torch.tensor([[1, 400, 30, 7, 90, 2], [1, 5, 300, 2, 40, 9]], dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(model, (ids,), os.path.join(a.out, "model.onnx"), input_names=["input_ids"], output_names=["logits"],
                          dynamic_axes={"input_ids": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}},
                          opset_version=a.opset, do_constant_folding=True)
        sample = model(ids)
    shutil.copyfile(a.tokenizer, os.path.join(a.out, "tokenizer.model"))
    print(json.dumps({"exported": os.path.join(a.out, "model.onnx"), "torch": torch.__version__, "opset": a.opset, **cfg,
                      "sample_logit_0_0_0": float(sample[0, 0, 0])}))


if __name__ == "__main__":
    main()
