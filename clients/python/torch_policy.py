"""A Llama-family causal LM in plain PyTorch, loaded from a HuggingFace model directory.

This is the policy an external trainer owns (train_external.py): it samples, computes its own
last-layer hidden states and trains itself, and only the reward model lives on r2m-server. The
architecture follows transformers' LlamaForCausalLM / Qwen2ForCausalLM as restated in
docs/specs.md section 3, so that a directory r2m-server loads gives the same numbers here
(check_parity.py measures it against the server). Needs only Debian's python3-torch (1.13); the
`safetensors`, `transformers` and `tokenizers` packages are not installable on these machines,
so a small reader/writer and a byte-level BPE tokenizer live in this file too.

    policy = LlamaPolicy.from_pretrained("models/policy")
    tok = ByteLevelBpe.from_file("models/policy/tokenizer.json")
    logits, hidden = policy(ids)          # (B, T, V), (B, T, H) after the final RMSNorm
"""

import json
import math
import os
import re
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F


class CheckpointError(ValueError):
    """A model directory that cannot be loaded; the message names the file and the tensor or key."""


# ----------------------------------------------------------------------------- safetensors

# Element types this reader converts to float32 (docs/specs.md section 2); others are refused.
_FLOAT_DTYPES = {"F32": (torch.float32, 4), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2)}
_MAX_HEADER = 100_000_000


def read_safetensors(path):
    """name -> float32 tensor for every tensor of one .safetensors file, after checking the layout
    rules of the reference implementation (offsets contiguous from 0, sizes match shapes)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise CheckpointError(f"{path}: {len(data)} bytes, too short for a safetensors header")
    (n,) = struct.unpack("<Q", data[:8])
    if n > _MAX_HEADER or 8 + n > len(data):
        raise CheckpointError(f"{path}: header length {n} does not fit a {len(data)}-byte file")
    try:
        header = json.loads(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: header is not UTF-8 JSON ({e})") from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: header is not a JSON object")
    header.pop("__metadata__", None)
    buffer = memoryview(data)[8 + n:]
    entries = sorted(header.items(), key=lambda kv: kv[1].get("data_offsets", [0])[0])
    out, expected_begin = {}, 0
    for name, e in entries:
        dtype, shape, offsets = e.get("dtype"), e.get("shape"), e.get("data_offsets")
        if dtype not in _FLOAT_DTYPES:
            raise CheckpointError(f"{path}: tensor '{name}' has dtype {dtype}; only F32, F16 and BF16 load")
        if not (isinstance(shape, list) and all(isinstance(d, int) and d >= 0 for d in shape)):
            raise CheckpointError(f"{path}: tensor '{name}' has a bad shape {shape!r}")
        if not (isinstance(offsets, list) and len(offsets) == 2):
            raise CheckpointError(f"{path}: tensor '{name}' has bad data_offsets {offsets!r}")
        begin, end = offsets
        torch_dtype, size = _FLOAT_DTYPES[dtype]
        if begin != expected_begin or end - begin != math.prod(shape) * size:
            raise CheckpointError(f"{path}: tensor '{name}' occupies bytes [{begin}, {end}), expected "
                                  f"[{expected_begin}, {expected_begin + math.prod(shape) * size}) for {dtype} {shape}")
        expected_begin = end
        raw = bytearray(buffer[begin:end])
        flat = torch.frombuffer(raw, dtype=torch_dtype) if raw else torch.empty(0, dtype=torch_dtype)
        out[name] = flat.to(torch.float32).reshape(shape)
    if expected_begin != len(buffer):
        raise CheckpointError(f"{path}: data buffer has {len(buffer)} bytes but the tensors cover {expected_begin}")
    return out


def write_safetensors(path, tensors, metadata=None):
    """Writes name -> tensor as F32 safetensors, atomically (a temp file renamed over the target)."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        blob = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_checkpoint(directory):
    """All tensors of model.safetensors, or of the shards model.safetensors.index.json names."""
    single = os.path.join(directory, "model.safetensors")
    index = os.path.join(directory, "model.safetensors.index.json")
    if os.path.exists(single):
        return read_safetensors(single)
    if not os.path.exists(index):
        raise CheckpointError(f"{directory}: neither model.safetensors nor model.safetensors.index.json")
    with open(index, encoding="utf-8") as f:
        weight_map = json.load(f).get("weight_map")
    if not isinstance(weight_map, dict):
        raise CheckpointError(f"{index}: no weight_map object")
    tensors = {}
    for shard in sorted(set(weight_map.values())):
        for name, t in read_safetensors(os.path.join(directory, shard)).items():
            if weight_map.get(name) != shard:
                raise CheckpointError(f"{os.path.join(directory, shard)}: tensor '{name}' is not mapped to this shard in {index}")
            tensors[name] = t
    return tensors


# ---------------------------------------------------------------------------------- config

class LlamaConfig:
    """The config.json keys the forward needs, with transformers' defaults (docs/specs.md section 3)."""

    def __init__(self, raw, path="config.json"):
        def need(key):
            if key not in raw:
                raise CheckpointError(f"{path}: missing '{key}'")
            return raw[key]

        self.raw, self.path = raw, path
        self.model_type = need("model_type")
        if self.model_type not in ("llama", "qwen2"):
            raise CheckpointError(f"{path}: model_type '{self.model_type}' is not supported here (llama, qwen2)")
        self.vocab_size = int(need("vocab_size"))
        self.hidden_size = int(need("hidden_size"))
        self.intermediate_size = int(need("intermediate_size"))
        self.num_layers = int(need("num_hidden_layers"))
        self.num_heads = int(need("num_attention_heads"))
        self.num_kv_heads = int(raw.get("num_key_value_heads") or self.num_heads)
        self.head_dim = int(raw.get("head_dim") or self.hidden_size // self.num_heads)
        self.rms_norm_eps = float(raw.get("rms_norm_eps", 1e-6))
        self.rope_theta = float(raw.get("rope_theta", 10000.0))
        self.rope_scaling = raw.get("rope_scaling")
        self.max_positions = int(raw.get("max_position_embeddings", 2048))
        self.tie_word_embeddings = bool(raw.get("tie_word_embeddings", False))
        self.qkv_bias = bool(raw.get("attention_bias", self.model_type == "qwen2"))
        self.mlp_bias = bool(raw.get("mlp_bias", False))
        eos = raw.get("eos_token_id")
        self.eos_token_ids = [] if eos is None else list(eos) if isinstance(eos, list) else [eos]
        self.bos_token_id = raw.get("bos_token_id")
        self.pad_token_id = raw.get("pad_token_id")
        if raw.get("hidden_act", "silu") != "silu":
            raise CheckpointError(f"{path}: hidden_act '{raw.get('hidden_act')}' is not supported here (silu)")
        if self.num_heads % self.num_kv_heads:
            raise CheckpointError(f"{path}: num_attention_heads {self.num_heads} is not a multiple of num_key_value_heads {self.num_kv_heads}")
        if self.head_dim % 2:
            raise CheckpointError(f"{path}: head_dim {self.head_dim} must be even for rotary embeddings")

    @classmethod
    def load(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls(json.load(f), path)

    def inv_freq(self):
        """RoPE frequencies over the whole head_dim, with linear / llama3 rope_scaling."""
        f = 1.0 / (self.rope_theta ** (torch.arange(0, self.head_dim, 2, dtype=torch.int64).float() / self.head_dim))
        scaling = self.rope_scaling or {}
        kind = scaling.get("rope_type", scaling.get("type", "default"))
        if kind == "default":
            return f
        if kind == "linear":
            return f / float(scaling["factor"])
        if kind == "llama3":
            factor, low, high = float(scaling["factor"]), float(scaling["low_freq_factor"]), float(scaling["high_freq_factor"])
            old = float(scaling["original_max_position_embeddings"])
            wavelen = 2 * math.pi / f
            smooth = (old / wavelen - low) / (high - low)
            mixed = (1 - smooth) * f / factor + smooth * f
            return torch.where(wavelen > old / low, f / factor, torch.where(wavelen < old / high, f, mixed))
        raise CheckpointError(f"{self.path}: rope_scaling type '{kind}' is not supported here (linear, llama3)")


# ----------------------------------------------------------------------------------- model

class RMSNorm(nn.Module):
    def __init__(self, size, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x):
        return self.weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))


def _rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.q_proj = nn.Linear(c.hidden_size, c.num_heads * c.head_dim, bias=c.qkv_bias)
        self.k_proj = nn.Linear(c.hidden_size, c.num_kv_heads * c.head_dim, bias=c.qkv_bias)
        self.v_proj = nn.Linear(c.hidden_size, c.num_kv_heads * c.head_dim, bias=c.qkv_bias)
        self.o_proj = nn.Linear(c.num_heads * c.head_dim, c.hidden_size, bias=False)

    def forward(self, x, cos, sin, mask_add):
        c, (b, t, _) = self.c, x.shape
        q = self.q_proj(x).view(b, t, c.num_heads, c.head_dim).transpose(1, 2)      # (B, nH, T, hd)
        k = self.k_proj(x).view(b, t, c.num_kv_heads, c.head_dim).transpose(1, 2)   # (B, nKV, T, hd)
        v = self.v_proj(x).view(b, t, c.num_kv_heads, c.head_dim).transpose(1, 2)
        q, k = q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin
        group = c.num_heads // c.num_kv_heads                                        # GQA: head h reads kv head h // group
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
        scores = q @ k.transpose(-1, -2) / math.sqrt(c.head_dim) + mask_add          # (B, nH, T, T)
        out = torch.softmax(scores.float(), dim=-1).to(v.dtype) @ v                  # (B, nH, T, hd)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, c.num_heads * c.head_dim))


class Mlp(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=c.mlp_bias)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=c.mlp_bias)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, bias=c.mlp_bias)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class DecoderLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.self_attn = Attention(c)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.mlp = Mlp(c)

    def forward(self, x, cos, sin, mask_add):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask_add)
        return x + self.mlp(self.post_attention_layernorm(x))


class _Backbone(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(c) for _ in range(c.num_layers))
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)


class LlamaPolicy(nn.Module):
    """LlamaForCausalLM with HuggingFace parameter names, so state_dict() keys are the checkpoint's."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.model = _Backbone(config)
        self.lm_head = None if config.tie_word_embeddings else nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.register_buffer("inv_freq", config.inv_freq(), persistent=False)

    def forward(self, ids, mask=None):
        """ids (B, T) token ids; mask (B, T) 1 = token, 0 = padding (default: all tokens).
        Returns logits (B, T, V) and the hidden states after the final norm (B, T, H), the tensor
        the LM head reads (HuggingFace's last hidden_states entry)."""
        b, t = ids.shape
        if t > self.config.max_positions:
            raise ValueError(f"sequence of {t} tokens is longer than max_position_embeddings {self.config.max_positions}")
        if int(ids.min()) < 0 or int(ids.max()) >= self.config.vocab_size:
            raise ValueError(f"token ids outside the vocabulary [0, {self.config.vocab_size})")
        mask = torch.ones_like(ids) if mask is None else mask.to(ids.dtype)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)                               # (B, T), left padding safe
        angles = positions[..., None].float() * self.inv_freq                        # (B, T, hd/2)
        emb = torch.cat((angles, angles), dim=-1)
        cos, sin = emb.cos()[:, None], emb.sin()[:, None]                            # (B, 1, T, hd)
        allowed = torch.ones(t, t, dtype=torch.bool, device=ids.device).tril()[None, None] & mask[:, None, None, :].bool()
        mask_add = torch.zeros(b, 1, t, t).masked_fill(~allowed, torch.finfo(torch.float32).min)
        x = self.model.embed_tokens(ids)
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask_add)
        hidden = self.model.norm(x)
        head = self.model.embed_tokens.weight if self.lm_head is None else self.lm_head.weight
        return F.linear(hidden, head), hidden

    @classmethod
    def from_pretrained(cls, directory):
        """Loads config.json and the safetensors weights; missing, unexpected or misshapen tensors
        raise CheckpointError naming the file and the tensor."""
        config = LlamaConfig.load(os.path.join(directory, "config.json"))
        policy = cls(config)
        tensors = read_checkpoint(directory)
        own = policy.state_dict()
        for name, t in tensors.items():
            if name.endswith(".rotary_emb.inv_freq") or (config.tie_word_embeddings and name == "lm_head.weight"):
                continue
            if name not in own:
                raise CheckpointError(f"{directory}: tensor '{name}' is not a parameter of this {config.model_type} model")
            if tuple(t.shape) != tuple(own[name].shape):
                raise CheckpointError(f"{directory}: tensor '{name}' has shape {list(t.shape)}, the config needs {list(own[name].shape)}")
        missing = [n for n in own if n not in tensors]
        if missing:
            raise CheckpointError(f"{directory}: tensor '{missing[0]}' is missing ({len(missing)} in all)")
        policy.load_state_dict({n: tensors[n] for n in own})
        return policy

    def save_pretrained(self, directory, copy_from=None):
        """config.json + model.safetensors (F32), and the tokenizer files of copy_from if given."""
        os.makedirs(directory, exist_ok=True)
        write_safetensors(os.path.join(directory, "model.safetensors"), self.state_dict(), {"format": "pt"})
        with open(os.path.join(directory, "config.json"), "w", encoding="utf-8") as f:
            json.dump(self.config.raw, f, indent=2)
        for name in ("tokenizer.json", "tokenizer_config.json"):
            if copy_from and os.path.exists(os.path.join(copy_from, name)):
                with open(os.path.join(copy_from, name), "rb") as src, open(os.path.join(directory, name), "wb") as dst:
                    dst.write(src.read())


# ------------------------------------------------------------------------------- tokenizer

def _bytes_to_unicode():
    """GPT-2's byte -> printable character table (docs/specs.md section 4)."""
    keep = list(range(0x21, 0x7F)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    table, extra = {b: chr(b) for b in keep}, 0
    for b in range(256):
        if b not in table:
            table[b] = chr(0x100 + extra)
            extra += 1
    return table


# The GPT-2 split pattern with Python's classes standing in for \p{L} and \p{N}: [^\W\d_] is a
# letter, \d a decimal digit. Exact for ASCII text (the sandbox); for other scripts Python's
# classes differ slightly from Unicode's (\d is Nd only, \p{N} also has No and Nl).
_GPT2_SPLIT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[^\W\d_]+| ?\d+| ?(?:[^\s\w]|_)+|\s+(?!\S)|\s+""")


class ByteLevelBpe:
    """Encoder/decoder for a tokenizer.json with a BPE model, a ByteLevel pre-tokenizer and
    decoder, special added tokens and a TemplateProcessing post-processor (the sandbox's layout
    and GPT-2's). Any other component is refused by name rather than approximated."""

    def __init__(self, spec, path="tokenizer.json"):
        def refuse(what):
            raise ValueError(f"{path}: {what} is not supported by this tokenizer (use HF tokenizers for it)")

        model = spec.get("model") or {}
        if model.get("type") != "BPE":
            refuse(f"model type {model.get('type')!r}")
        if model.get("byte_fallback") or model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
            refuse("byte_fallback / continuing_subword_prefix / end_of_word_suffix")
        if spec.get("normalizer") is not None:
            refuse(f"normalizer {spec['normalizer'].get('type')!r}")
        pre = spec.get("pre_tokenizer") or {}
        if pre.get("type") != "ByteLevel" or not pre.get("use_regex", True):
            refuse(f"pre_tokenizer {pre.get('type')!r}")
        self.add_prefix_space = bool(pre.get("add_prefix_space", False))
        self.vocab = dict(model["vocab"])
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        merges = [m.split(" ", 1) if isinstance(m, str) else m for m in model.get("merges", [])
                  if not (isinstance(m, str) and m.startswith("#version"))]
        self.ranks = {tuple(m): r for r, m in enumerate(merges)}
        self.unk = model.get("unk_token")
        self.fuse_unk = bool(model.get("fuse_unk", False))
        self.added = sorted(((a["content"], a["id"], a.get("special", False)) for a in spec.get("added_tokens", [])),
                            key=lambda a: -len(a[0]))
        for content, i, _ in self.added:
            self.id_to_token[i] = content
        self.special_ids = {i for _, i, special in self.added if special}
        self.prefix, self.suffix = self._template(spec.get("post_processor"), refuse)
        self.byte_char = _bytes_to_unicode()
        self.char_byte = {c: b for b, c in self.byte_char.items()}

    @classmethod
    def from_file(cls, path):
        with open(path, encoding="utf-8") as f:
            return cls(json.load(f), path)

    @staticmethod
    def _template(post, refuse):
        """Special ids before and after sequence A of a TemplateProcessing 'single' template."""
        if post is None:
            return [], []
        if post.get("type") != "TemplateProcessing":
            refuse(f"post_processor {post.get('type')!r}")
        ids = {name: v["ids"] for name, v in post.get("special_tokens", {}).items()}
        before, after, seen = [], [], False
        for piece in post.get("single", []):
            if "Sequence" in piece:
                seen = True
            else:
                (after if seen else before).extend(ids[piece["SpecialToken"]["id"]])
        return before, after

    def _bpe(self, piece):
        symbols = list(piece)
        while len(symbols) > 1:
            best = min(range(len(symbols) - 1), key=lambda i: self.ranks.get((symbols[i], symbols[i + 1]), math.inf))
            if (symbols[best], symbols[best + 1]) not in self.ranks:
                break
            symbols[best:best + 2] = [symbols[best] + symbols[best + 1]]
        return symbols

    def _encode_text(self, text, out):
        if self.add_prefix_space and text and not text[0].isspace():
            text = " " + text
        for piece in _GPT2_SPLIT.findall(text):
            mapped = "".join(self.byte_char[b] for b in piece.encode("utf-8"))
            for symbol in self._bpe(mapped):
                if symbol in self.vocab:
                    out.append(self.vocab[symbol])
                elif self.unk is None:
                    raise ValueError(f"'{symbol}' is not in the vocabulary and the tokenizer has no unk_token")
                elif not (self.fuse_unk and out and out[-1] == self.vocab[self.unk]):
                    out.append(self.vocab[self.unk])

    def encode(self, text, add_special_tokens=True):
        """Token ids of text: added tokens matched first (longest first), then BPE on the rest;
        the post-processor's special tokens around it when add_special_tokens."""
        ids, i, start = [], 0, 0
        while i < len(text):
            match = next(((c, t) for c, t, _ in self.added if text.startswith(c, i)), None)
            if match:
                self._encode_text(text[start:i], ids)
                ids.append(match[1])
                i += len(match[0])
                start = i
            else:
                i += 1
        self._encode_text(text[start:], ids)
        return (self.prefix + ids + self.suffix) if add_special_tokens else ids

    def decode(self, ids, skip_special_tokens=True):
        out, pending = [], bytearray()
        for i in ids:
            token = self.id_to_token.get(int(i))
            if token is None:
                raise ValueError(f"token id {i} is not in the vocabulary")
            if int(i) in self.special_ids or token in (c for c, _, _ in self.added):
                if skip_special_tokens and int(i) in self.special_ids:
                    continue
                out.append(pending.decode("utf-8", errors="replace"))
                pending = bytearray()
                out.append(token)
                continue
            for ch in token:
                pending.extend(bytes([self.char_byte[ch]]) if ch in self.char_byte else ch.encode("utf-8"))
        out.append(pending.decode("utf-8", errors="replace"))
        return "".join(out)


# ------------------------------------------------------------------- sampling, teacher forcing

@torch.no_grad()
def sample(policy, prompt_ids, k, max_new_tokens, temperature, generator, eos_ids):
    """K responses to one prompt: token id lists, each ending at its first EOS (kept) or after
    max_new_tokens. temperature 0 is greedy. A full forward per new token (no KV cache): the
    models this runs on in tests are tiny, and teacher forcing below recomputes everything anyway."""
    room = policy.config.max_positions - len(prompt_ids)
    if room < 1:
        raise ValueError(f"prompt of {len(prompt_ids)} tokens fills the context ({policy.config.max_positions})")
    steps = min(max_new_tokens, room)
    ids = torch.tensor([prompt_ids] * k, dtype=torch.long)                       # (K, T)
    done = torch.zeros(k, dtype=torch.bool)
    responses = [[] for _ in range(k)]
    for _ in range(steps):
        logits, _ = policy(ids)
        last = logits[:, -1, :]                                                  # (K, V)
        if temperature == 0:
            nxt = last.argmax(-1)
        else:
            nxt = torch.multinomial(torch.softmax(last / temperature, dim=-1), 1, generator=generator).squeeze(-1)
        for row in range(k):
            if not done[row]:
                responses[row].append(int(nxt[row]))
                done[row] = int(nxt[row]) in eos_ids
        if bool(done.all()):
            break
        ids = torch.cat((ids, nxt[:, None]), dim=1)
    return responses


def teacher_forced(policy, sequences, prompt_lengths, temperature):
    """One batched forward over prompt+response sequences (right-padded).
    Returns per sequence: response token log-probs (len(response),) under logits / temperature
    (TRL's convention, docs/method.md section 8) and the hidden states (S - 1, H): row i is the
    final-norm state at token i, the one that predicts token i + 1 (the r2m.v1 feedback layout).
    Gradients flow when called outside torch.no_grad()."""
    longest = max(len(s) for s in sequences)
    ids = torch.zeros(len(sequences), longest, dtype=torch.long)
    mask = torch.zeros(len(sequences), longest, dtype=torch.long)
    for row, s in enumerate(sequences):
        ids[row, :len(s)] = torch.tensor(s)
        mask[row, :len(s)] = 1
    logits, hidden = policy(ids, mask)
    logp = torch.log_softmax(logits.float() / (temperature if temperature > 0 else 1.0), dim=-1)
    out = []
    for row, (s, p) in enumerate(zip(sequences, prompt_lengths)):
        targets = ids[row, p:len(s)]                                             # response tokens
        token_logp = logp[row, p - 1:len(s) - 1].gather(-1, targets[:, None]).squeeze(-1)
        out.append((token_logp, hidden[row, :len(s) - 1]))
    return out
