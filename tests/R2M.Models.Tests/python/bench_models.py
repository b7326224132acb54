"""PyTorch 1.13 side of the `models` benchmark (tests/R2M.Benchmarks/ModelBenchmark.cs).

Reads a JSON spec (model dirs written by the C# side with the same random weights, tokens,
thread count), times prefill, one training step and cached decode with torch ops written
after HF modeling_gpt_neox.py (hf_ref.py), and prints one JSON object of seconds per run.
Usage: /usr/bin/python3 bench_models.py SPEC.json
"""
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_ref  # noqa: E402
import st  # noqa: E402


def load(d, grad=False):
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    p = {k: torch.from_numpy(v.copy()).requires_grad_(grad) for k, v in st.load(os.path.join(d, "model.safetensors")).items()}
    return cfg, p


def best_of(fn, reps):
    """(min wall seconds, min process CPU seconds) over reps runs after one warm-up."""
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return min(wall), min(cpu)


def prefill(spec):
    cfg, p = load(spec["dir"])
    B, T = spec["batch"], spec["seq"]
    tokens = torch.tensor(spec["tokens"]).view(B, T)
    mask = torch.ones(B, T, dtype=torch.long)
    with torch.no_grad():
        return best_of(lambda: hf_ref.forward(cfg, p, tokens, mask), spec["reps"])


def train(spec):
    cfg, p = load(spec["dir"], grad=True)
    B, T = spec["batch"], spec["seq"]
    tokens = torch.tensor(spec["tokens"]).view(B, T)
    mask = torch.ones(B, T, dtype=torch.long)
    opt = torch.optim.AdamW(list(p.values()), lr=1e-4, weight_decay=0.01)

    def step():
        opt.zero_grad()
        _, logits, _ = hf_ref.forward(cfg, p, tokens, mask)
        loss = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), tokens[:, 1:].reshape(-1))
        loss.backward()
        opt.step()
    return best_of(step, spec["reps"])


def decode_forward(cfg, p, tokens, pos, cache):
    """GPT-NeoX forward of new tokens (B, Tn) at positions pos (B, Tn) appending to cache[l] = (k, v)."""
    B, Tn = tokens.shape
    nH = cfg["num_attention_heads"]
    hd = cfg["hidden_size"] // nH
    x = F.embedding(tokens, p["gpt_neox.embed_in.weight"])
    f, rot = hf_ref.inv_freq(cfg)
    ang = pos[..., None].float() * f
    emb = torch.cat((ang, ang), dim=-1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]
    for l in range(cfg["num_hidden_layers"]):
        pre = f"gpt_neox.layers.{l}."
        h = hf_ref.norm(cfg, x, p, pre + "input_layernorm")
        qkv = hf_ref.lin(h, p, pre + "attention.query_key_value").view(B, Tn, nH, 3 * hd).transpose(1, 2)
        q, k, v = qkv[..., :hd], qkv[..., hd:2 * hd], qkv[..., 2 * hd:]
        q, k = hf_ref.apply_rope(q, cos, sin, rot), hf_ref.apply_rope(k, cos, sin, rot)
        if cache[l] is not None:
            k = torch.cat((cache[l][0], k), dim=2)
            v = torch.cat((cache[l][1], v), dim=2)
        cache[l] = (k, v)
        S = k.shape[2]
        scores = q @ k.transpose(-1, -2) / math.sqrt(hd)
        if Tn > 1:
            causal = torch.ones(Tn, S, dtype=torch.bool).tril(S - Tn)
            scores = scores.masked_fill(~causal, torch.finfo(torch.float32).min)
        o = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(B, Tn, nH * hd)
        a = hf_ref.lin(o, p, pre + "attention.dense")
        x = x + a + hf_ref.mlp(cfg, hf_ref.norm(cfg, x, p, pre + "post_attention_layernorm"), p, pre)
    h = hf_ref.norm(cfg, x[:, -1:], p, "gpt_neox.final_layer_norm")
    return F.linear(h, p["embed_out.weight"])[:, -1]


def decode(spec):
    cfg, p = load(spec["dir"])
    B, Tp, new = spec["batch"], spec["prompt"], spec["new"]
    prompt = torch.tensor(spec["tokens"]).view(B, Tp)
    out = {}

    def run():
        cache = [None] * cfg["num_hidden_layers"]
        logits = decode_forward(cfg, p, prompt, torch.arange(Tp).expand(B, Tp), cache)
        t0, c0 = time.perf_counter(), time.process_time()
        toks = []
        for i in range(new):
            nxt = logits.argmax(-1)
            toks.append(nxt)
            if i == new - 1:
                break
            logits = decode_forward(cfg, p, nxt[:, None], torch.full((B, 1), Tp + i), cache)
        out["decode"] = (time.perf_counter() - t0, time.process_time() - c0)
        out["tokens"] = torch.stack(toks, 1).tolist()

    with torch.no_grad():
        run()
        wall, cpu = [], []
        for _ in range(spec["reps"]):
            run()
            wall.append(out["decode"][0])
            cpu.append(out["decode"][1])
    return (min(wall), min(cpu)), out["tokens"]


def main():
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    torch.set_num_threads(spec["threads"])
    res = {"threads": torch.get_num_threads()}
    if "prefill" in spec:
        res["prefill_s"], res["prefill_cpu_s"] = prefill(spec["prefill"])
    if "train" in spec:
        res["train_s"], res["train_cpu_s"] = train(spec["train"])
    if "decode" in spec:
        (res["decode_s"], res["decode_cpu_s"]), res["decode_tokens"] = decode(spec["decode"])
    print(json.dumps(res))


if __name__ == "__main__":
    main()
