"""PyTorch reference for the R2M.Models parity tests (issue 2, item 4).

For each case: random small config of a family, random weights saved as HuggingFace-named
safetensors + config.json, a padded batch (left- and right-padded rows), forward and backward
of a scalar loss = mean next-token cross-entropy at temperature tau over real positions
+ sum(hidden * R) over real positions (+ sum(scores * S) for classification heads).
Dumps logits, hidden, scores, loss and every parameter gradient to expected.safetensors.

Usage: /usr/bin/python3 reference.py OUT_DIR
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_ref  # noqa: E402
import st  # noqa: E402

CASES = {
    "neox_parallel": dict(model_type="gpt_neox", architectures=["GPTNeoXForCausalLM"], vocab_size=97, hidden_size=48,
                          num_hidden_layers=2, num_attention_heads=4, intermediate_size=96, hidden_act="gelu",
                          rotary_pct=0.5, rotary_emb_base=10000, max_position_embeddings=64, layer_norm_eps=1e-5,
                          use_parallel_residual=True, tie_word_embeddings=False, attention_bias=True),
    "neox_sequential_tied": dict(model_type="gpt_neox", architectures=["GPTNeoXForCausalLM"], vocab_size=61, hidden_size=32,
                                 num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, hidden_act="gelu_new",
                                 rotary_pct=0.25, rotary_emb_base=1000, max_position_embeddings=64, layer_norm_eps=1e-5,
                                 use_parallel_residual=False, tie_word_embeddings=True, attention_bias=True),
    "llama_gqa_llama3": dict(model_type="llama", architectures=["LlamaForCausalLM"], vocab_size=89, hidden_size=32,
                             num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                             intermediate_size=48, hidden_act="silu", rms_norm_eps=1e-6, rope_theta=500000.0,
                             rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                                               original_max_position_embeddings=32),
                             max_position_embeddings=128, tie_word_embeddings=False, attention_bias=False, mlp_bias=False),
    "qwen2_mqa_tied_linear": dict(model_type="qwen2", architectures=["Qwen2ForCausalLM"], vocab_size=71, hidden_size=32,
                                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=1, intermediate_size=40,
                                  hidden_act="silu", rms_norm_eps=1e-6, rope_theta=10000.0,
                                  rope_scaling=dict(type="linear", factor=2.0), max_position_embeddings=64,
                                  tie_word_embeddings=True),
    "qwen3_gqa_head_dim": dict(model_type="qwen3", architectures=["Qwen3ForCausalLM"], vocab_size=83, hidden_size=32,
                               num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                               intermediate_size=48, hidden_act="silu", rms_norm_eps=1e-6, rope_theta=1000000.0,
                               max_position_embeddings=64, tie_word_embeddings=False, attention_bias=False),
    "qwen3_bias_tied": dict(model_type="qwen3", architectures=["Qwen3ForCausalLM"], vocab_size=67, hidden_size=24,
                            num_hidden_layers=2, num_attention_heads=3, num_key_value_heads=1, head_dim=8,
                            intermediate_size=40, hidden_act="silu", rms_norm_eps=1e-5, rope_theta=10000.0,
                            rope_scaling=dict(rope_type="linear", factor=2.0), max_position_embeddings=64,
                            tie_word_embeddings=True, attention_bias=True),
    "qwen3_seqcls_default_head_dim": dict(model_type="qwen3", architectures=["Qwen3ForSequenceClassification"],
                                          vocab_size=53, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                          num_key_value_heads=2, intermediate_size=40, hidden_act="silu",
                                          rms_norm_eps=1e-6, rope_theta=10000.0, max_position_embeddings=64,
                                          tie_word_embeddings=False, num_labels=2, pad_token_id=0),
    "llama_seqcls": dict(model_type="llama", architectures=["LlamaForSequenceClassification"], vocab_size=53,
                         hidden_size=24, num_hidden_layers=2, num_attention_heads=3, num_key_value_heads=3,
                         intermediate_size=40, hidden_act="silu", rms_norm_eps=1e-6, rope_theta=10000.0,
                         max_position_embeddings=64, tie_word_embeddings=False, num_labels=1, pad_token_id=0),
    "neox_seqcls": dict(model_type="gpt_neox", architectures=["GPTNeoXForSequenceClassification"], vocab_size=53,
                        hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64,
                        rotary_pct=0.25, use_parallel_residual=True, id2label={"0": "a", "1": "b"}, pad_token_id=0),
    "neox_oa_reward": dict(model_type="gpt_neox_reward_model", architectures=["GPTNeoXRewardModel"], vocab_size=53,
                           hidden_size=32, num_hidden_layers=1, num_attention_heads=4, intermediate_size=64,
                           rotary_pct=0.25, use_parallel_residual=True, pooling="last"),
}
TEMPERATURE = {"neox_parallel": 1.0, "neox_sequential_tied": 0.7, "llama_gqa_llama3": 1.0, "qwen2_mqa_tied_linear": 1.3,
               "qwen3_gqa_head_dim": 0.8, "qwen3_bias_tied": 1.0}


def param_shapes(cfg):
    V, H, I, L = cfg["vocab_size"], cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"]
    s = {}
    if hf_ref.is_neox(cfg):
        s["gpt_neox.embed_in.weight"] = [V, H]
        for l in range(L):
            p = f"gpt_neox.layers.{l}."
            for n in ("input_layernorm", "post_attention_layernorm"):
                s[p + n + ".weight"], s[p + n + ".bias"] = [H], [H]
            s[p + "attention.query_key_value.weight"], s[p + "attention.query_key_value.bias"] = [3 * H, H], [3 * H]
            s[p + "attention.dense.weight"], s[p + "attention.dense.bias"] = [H, H], [H]
            s[p + "mlp.dense_h_to_4h.weight"], s[p + "mlp.dense_h_to_4h.bias"] = [I, H], [I]
            s[p + "mlp.dense_4h_to_h.weight"], s[p + "mlp.dense_4h_to_h.bias"] = [H, I], [H]
        s["gpt_neox.final_layer_norm.weight"], s["gpt_neox.final_layer_norm.bias"] = [H], [H]
    else:
        nH = cfg["num_attention_heads"]
        nKV = cfg.get("num_key_value_heads", nH)
        hd = hf_ref.head_dim(cfg)
        qkv_bias = cfg["model_type"] == "qwen2" or cfg.get("attention_bias", False)
        # o_proj has a bias only where attention_bias covers it (Llama, Qwen3), never in Qwen2.
        o_bias = cfg["model_type"] != "qwen2" and cfg.get("attention_bias", False)
        s["model.embed_tokens.weight"] = [V, H]
        for l in range(L):
            p = f"model.layers.{l}."
            s[p + "input_layernorm.weight"], s[p + "post_attention_layernorm.weight"] = [H], [H]
            for n, d in (("q_proj", nH * hd), ("k_proj", nKV * hd), ("v_proj", nKV * hd)):
                s[p + f"self_attn.{n}.weight"] = [d, H]
                if qkv_bias:
                    s[p + f"self_attn.{n}.bias"] = [d]
            s[p + "self_attn.o_proj.weight"] = [H, nH * hd]
            if o_bias:
                s[p + "self_attn.o_proj.bias"] = [H]
            if cfg["model_type"] == "qwen3":
                s[p + "self_attn.q_norm.weight"], s[p + "self_attn.k_norm.weight"] = [hd], [hd]
            s[p + "mlp.gate_proj.weight"], s[p + "mlp.up_proj.weight"], s[p + "mlp.down_proj.weight"] = [I, H], [I, H], [H, I]
        s["model.norm.weight"] = [H]
    arch = cfg["architectures"][0]
    if cfg["model_type"] == "gpt_neox_reward_model":
        s["out_proj.weight"], s["out_proj.bias"] = [1, H], [1]
    elif arch.endswith("ForSequenceClassification"):
        s["score.weight"] = [len(cfg["id2label"]) if "id2label" in cfg else cfg["num_labels"], H]
    elif not cfg.get("tie_word_embeddings", False):
        s["embed_out.weight" if hf_ref.is_neox(cfg) else "lm_head.weight"] = [V, H]
    return s


def random_params(shapes, g):
    p = {}
    for name, shape in shapes.items():
        if name.endswith("norm.weight") or name.endswith("layernorm.weight"):
            t = 1 + 0.1 * torch.randn(shape, generator=g)
        elif len(shape) == 1:
            t = 0.1 * torch.randn(shape, generator=g)
        else:
            t = 0.2 * torch.randn(shape, generator=g)
        p[name] = t.float().requires_grad_(True)
    return p


def batch(cfg, g, B=3, T=7):
    tokens = torch.randint(1, cfg["vocab_size"], (B, T), generator=g)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[1, :2] = 0  # left padding
    mask[2, T - 3:] = 0  # right padding
    tokens = torch.where(mask.bool(), tokens, torch.zeros_like(tokens))
    return tokens, mask


def run_case(name, cfg, out):
    g = torch.Generator().manual_seed(1234 + len(name))
    os.makedirs(out, exist_ok=True)
    shapes = param_shapes(cfg)
    p = random_params(shapes, g)
    st.save(os.path.join(out, "model.safetensors"), {k: v.detach().numpy() for k, v in p.items()}, {"format": "pt"})
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    tokens, mask = batch(cfg, g)
    h, logits, scores = hf_ref.forward(cfg, p, tokens, mask)
    B, T, C = h.shape
    R = 0.1 * torch.randn(B, T, C, generator=g)
    m = mask.float()
    loss = (h * R * m[..., None]).sum()
    tau = TEMPERATURE.get(name, 1.0)
    expected = {"tokens": tokens.numpy().astype(np.int64), "mask": mask.numpy().astype(np.int64),
                "R": R.numpy(), "temperature": np.array(tau, dtype=np.float32)}
    if logits is not None:
        lp = F.log_softmax(logits[:, :-1] / tau, dim=-1).gather(-1, tokens[:, 1:, None])[..., 0]
        valid = m[:, :-1] * m[:, 1:]
        loss = loss - (lp * valid).sum() / valid.sum()
        expected["logits"] = logits.detach().numpy()
        expected["logprobs"] = lp.detach().numpy()
    else:
        S = torch.randn(scores.shape, generator=g)
        loss = loss + (scores * S).sum()
        expected["scores"] = scores.detach().numpy()
        expected["S"] = S.numpy()
    loss.backward()
    expected["hidden"] = h.detach().numpy()
    expected["loss"] = np.array(loss.item(), dtype=np.float32)
    for k, v in p.items():
        expected["grad." + k] = v.grad.numpy()
    st.save(os.path.join(out, "expected.safetensors"), expected)


def main():
    out = sys.argv[1]
    torch.set_num_threads(1)
    for name, cfg in CASES.items():
        run_case(name, cfg, os.path.join(out, name))
    print("ok", len(CASES))


if __name__ == "__main__":
    main()
