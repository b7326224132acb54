"""GPT-NeoX and Llama/Qwen2/Qwen3 forward written with torch ops, following HF transformers'
modeling_gpt_neox.py / modeling_llama.py / modeling_qwen2.py / modeling_qwen3.py /
modeling_rope_utils.py. transformers itself is not installed here.
Parameters are a dict HF-name -> tensor (requires_grad for the backward)."""
import math

import torch
import torch.nn.functional as F

ACT = {
    "gelu": lambda x: F.gelu(x),
    "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
    "silu": F.silu,
}


def is_neox(cfg):
    return cfg["model_type"].startswith("gpt_neox")


def head_dim(cfg):
    if is_neox(cfg):
        return cfg["hidden_size"] // cfg["num_attention_heads"]
    # Qwen3Config defaults head_dim to 128; Llama/Qwen2 to hidden_size // num_attention_heads.
    default = 128 if cfg["model_type"] == "qwen3" else cfg["hidden_size"] // cfg["num_attention_heads"]
    return cfg.get("head_dim", default)


def rms(x, w, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return w * (x * torch.rsqrt(var + eps))


def inv_freq(cfg):
    hd = head_dim(cfg)
    if is_neox(cfg):
        dim, base = int(hd * cfg.get("rotary_pct", 0.25)), cfg.get("rotary_emb_base", 10000)
    else:
        dim, base = hd, cfg.get("rope_theta", 10000.0)
    f = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type", rs.get("type")) == "linear":
        f = f / rs["factor"]
    elif rs and rs.get("rope_type", rs.get("type")) == "llama3":
        factor, lo, hi, old = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"], rs["original_max_position_embeddings"]
        wavelen = 2 * math.pi / f
        scaled = torch.where(wavelen > old / lo, f / factor, f)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < old / hi) * ~(wavelen > old / lo)
        f = torch.where(medium, smoothed, scaled)
    return f, dim


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def apply_rope(x, cos, sin, rot):
    # x (B, nH, T, hd); cos/sin (B, 1, T, rot)
    xr, xp = x[..., :rot], x[..., rot:]
    return torch.cat((xr * cos + rotate_half(xr) * sin, xp), dim=-1)


def norm(cfg, x, p, prefix):
    if is_neox(cfg):
        return F.layer_norm(x, (x.shape[-1],), p[prefix + ".weight"], p[prefix + ".bias"], cfg.get("layer_norm_eps", 1e-5))
    return rms(x, p[prefix + ".weight"], cfg.get("rms_norm_eps", 1e-6))


def lin(x, p, name):
    return F.linear(x, p[name + ".weight"], p.get(name + ".bias"))


def attention(cfg, x, p, pre, cos, sin, rot, mask_add):
    B, T, _ = x.shape
    nH = cfg["num_attention_heads"]
    nKV = nH if is_neox(cfg) else cfg.get("num_key_value_heads", nH)
    hd = head_dim(cfg)
    if is_neox(cfg):
        qkv = lin(x, p, pre + "attention.query_key_value").view(B, T, nH, 3 * hd).transpose(1, 2)
        q, k, v = qkv[..., :hd], qkv[..., hd:2 * hd], qkv[..., 2 * hd:]
        out_name = pre + "attention.dense"
    else:
        q = lin(x, p, pre + "self_attn.q_proj").view(B, T, nH, hd)
        k = lin(x, p, pre + "self_attn.k_proj").view(B, T, nKV, hd)
        if cfg["model_type"] == "qwen3":
            # modeling_qwen3: q_norm / k_norm (RMSNorm over head_dim) before the transpose and RoPE.
            eps = cfg.get("rms_norm_eps", 1e-6)
            q = rms(q, p[pre + "self_attn.q_norm.weight"], eps)
            k = rms(k, p[pre + "self_attn.k_norm.weight"], eps)
        q, k = q.transpose(1, 2), k.transpose(1, 2)
        v = lin(x, p, pre + "self_attn.v_proj").view(B, T, nKV, hd).transpose(1, 2)
        out_name = pre + "self_attn.o_proj"
    q, k = apply_rope(q, cos, sin, rot), apply_rope(k, cos, sin, rot)
    k = k.repeat_interleave(nH // nKV, dim=1)
    v = v.repeat_interleave(nH // nKV, dim=1)
    scores = q @ k.transpose(-1, -2) / math.sqrt(hd) + mask_add
    probs = torch.softmax(scores.float(), dim=-1)
    o = (probs @ v).transpose(1, 2).reshape(B, T, nH * hd)
    return lin(o, p, out_name)


def mlp(cfg, x, p, pre):
    act = ACT[cfg.get("hidden_act", "gelu" if is_neox(cfg) else "silu")]
    if is_neox(cfg):
        return lin(act(lin(x, p, pre + "mlp.dense_h_to_4h")), p, pre + "mlp.dense_4h_to_h")
    return lin(act(lin(x, p, pre + "mlp.gate_proj")) * lin(x, p, pre + "mlp.up_proj"), p, pre + "mlp.down_proj")


def forward(cfg, p, tokens, mask):
    """Returns (hidden after final norm (B,T,C), logits or None, scores or None)."""
    B, T = tokens.shape
    neox = is_neox(cfg)
    root = "gpt_neox." if neox else "model."
    x = F.embedding(tokens, p[root + ("embed_in.weight" if neox else "embed_tokens.weight")])
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    f, rot = inv_freq(cfg)
    ang = pos[..., None].float() * f
    emb = torch.cat((ang, ang), dim=-1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]
    minv = torch.finfo(torch.float32).min
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    allowed = causal[None, None] & mask[:, None, None, :].bool()
    mask_add = torch.zeros(B, 1, T, T).masked_fill(~allowed, minv)
    for l in range(cfg["num_hidden_layers"]):
        pre = f"{root}layers.{l}."
        a = attention(cfg, norm(cfg, x, p, pre + "input_layernorm"), p, pre, cos, sin, rot, mask_add)
        if neox and cfg.get("use_parallel_residual", True):
            x = x + a + mlp(cfg, norm(cfg, x, p, pre + "post_attention_layernorm"), p, pre)
        else:
            x = x + a
            x = x + mlp(cfg, norm(cfg, x, p, pre + "post_attention_layernorm"), p, pre)
    h = norm(cfg, x, p, root + ("final_layer_norm" if neox else "norm"))
    arch = cfg.get("architectures", [""])[0]
    if cfg["model_type"] == "gpt_neox_reward_model":
        idx = (mask * torch.arange(T)).argmax(-1)
        return h, None, lin(h[torch.arange(B), idx], p, "out_proj")
    if arch.endswith("ForSequenceClassification"):
        nonpad = (tokens != cfg["pad_token_id"]).long()
        idx = (nonpad * torch.arange(T)).argmax(-1)
        return h, None, F.linear(h[torch.arange(B), idx], p["score.weight"])
    if cfg.get("tie_word_embeddings", False):
        w = p[root + ("embed_in.weight" if neox else "embed_tokens.weight")]
    else:
        w = p["embed_out.weight" if neox else "lm_head.weight"]
    return h, F.linear(h, w), None
