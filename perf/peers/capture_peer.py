"""Peer for the capture benchmark: how Python pruning tools capture FFN activations.

A LLaMA decoder written in plain PyTorch (eager mode), with forward hooks on each layer's down_proj collecting its
input (the FFN activation silu(gate x) * up x), exactly what pruning tools such as Wanda/FLAP/LLM-Pruner do.
Random weights: throughput does not depend on their values. Peer only; never part of the engine.

usage: /usr/bin/python3 capture_peer.py --dim 64 --ffn 172 --layers 5 --heads 8 --kv-heads 4 --vocab 512 \
           --batch 8 --seq 256 [--iters N] [--threads 2]
prints one JSON line: {"peer": "torch-eager-hooks", "tokens_per_s": ..., ...}
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Block(nn.Module):
    def __init__(self, dim, ffn, heads, kv_heads):
        super().__init__()
        self.heads, self.kv_heads, self.hd = heads, kv_heads, dim // heads
        self.attn_norm, self.ffn_norm = RMSNorm(dim), RMSNorm(dim)
        self.q = nn.Linear(dim, heads * self.hd, bias=False)
        self.k = nn.Linear(dim, kv_heads * self.hd, bias=False)
        self.v = nn.Linear(dim, kv_heads * self.hd, bias=False)
        self.o = nn.Linear(heads * self.hd, dim, bias=False)
        self.gate_proj = nn.Linear(dim, ffn, bias=False)
        self.up_proj = nn.Linear(dim, ffn, bias=False)
        self.down_proj = nn.Linear(ffn, dim, bias=False)

    def forward(self, x, cos, sin, mask):
        b, s, _ = x.shape
        h = self.attn_norm(x)
        q = self.q(h).view(b, s, self.heads, self.hd).transpose(1, 2)
        k = self.k(h).view(b, s, self.kv_heads, self.hd).transpose(1, 2)
        v = self.v(h).view(b, s, self.kv_heads, self.hd).transpose(1, 2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        rep = self.heads // self.kv_heads
        k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
        att = (q @ k.transpose(-1, -2)) / math.sqrt(self.hd) + mask
        y = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, s, -1)
        x = x + self.o(y)
        h = self.ffn_norm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Llama(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embed = nn.Embedding(a.vocab, a.dim)
        self.blocks = nn.ModuleList(Block(a.dim, a.ffn, a.heads, a.kv_heads) for _ in range(a.layers))
        self.norm = RMSNorm(a.dim)
        self.hd = a.dim // a.heads

    def forward(self, ids, attention_mask):
        b, s = ids.shape
        pos = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        inv = 1.0 / (10000.0 ** (torch.arange(0, self.hd, 2, dtype=torch.float32) / self.hd))
        ang = pos[..., None].float() * inv
        ang = torch.cat((ang, ang), dim=-1)[:, None]
        cos, sin = ang.cos(), ang.sin()
        causal = torch.full((s, s), -1e9).triu(1)
        pad = (1.0 - attention_mask[:, None, None, :].float()) * -1e9
        mask = causal + pad
        x = self.embed(ids)
        for blk in self.blocks:
            x = blk(x, cos, sin, mask)
        return self.norm(x) @ self.embed.weight.T


def main():
    p = argparse.ArgumentParser()
    for name, default in [("dim", 64), ("ffn", 172), ("layers", 5), ("heads", 8), ("kv-heads", 4), ("vocab", 512),
                          ("batch", 8), ("seq", 256), ("iters", 10), ("threads", 2), ("warmup", 2)]:
        p.add_argument("--" + name, type=int, default=default)
    a = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    model = Llama(a).eval()
    captured = []
    # The capture itself: a hook per layer copying down_proj's input, as pruning tools do.
    for blk in model.blocks:
        blk.down_proj.register_forward_hook(lambda m, inp, out: captured.append(inp[0].detach().reshape(-1, inp[0].shape[-1]).clone()))
    ids = torch.randint(0, a.vocab, (a.batch, a.seq))
    mask = torch.ones(a.batch, a.seq, dtype=torch.long)
    with torch.no_grad():
        for _ in range(a.warmup):
            model(ids, mask)
            captured.clear()
        times = []
        for _ in range(a.iters):
            t0 = time.perf_counter()
            model(ids, mask)
            times.append(time.perf_counter() - t0)
            captured.clear()
    times.sort()
    median = times[len(times) // 2]
    print(json.dumps({"peer": "torch-eager-hooks", "torch": torch.__version__, "threads": a.threads,
                      "batch": a.batch, "seq": a.seq, "median_s": median,
                      "tokens_per_s": a.batch * a.seq / median, "best_tokens_per_s": a.batch * a.seq / times[0]}))


if __name__ == "__main__":
    main()
