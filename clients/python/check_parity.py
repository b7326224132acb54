#!/usr/bin/env python3
"""Does the PyTorch policy of torch_policy.py compute what r2m-server's C# policy computes?

Run against a server that hosts the same policy directory, before any Optimize (the external
trainer never calls it). One Policy.Generate call (this check only: the trainer itself never
generates on the server) returns rollouts with the server's tokens, log-probs and F32 hidden
states; this script then measures, per rollout:

  - tokens:   the prompt ids of its own tokenizer == the server's prompt_token_ids, and its
              decode of the response ids == the server's response_text
  - hidden:   max |h_torch - h_server| over the teacher-forced final-norm hidden states [S-1, D_p]
  - logprobs: max |logp_torch - logp_server| over the response tokens
  - rewards:  Score by rollout id (server-side hidden states) against Score of the same text
              inline with this script's hidden states, F32 and BF16, at t = T (omega = Omega,
              the most feedback); and, to show the check can fail, inline with another
              rollout's hidden states (right width, wrong content); and BF16 sent in chunks of
              two rows per message against the same tensor in one piece

and writes the numbers as one JSON object (--out, and stdout). It asserts nothing itself:
R2M.Api.Tests.ExternalTrainerTests holds the thresholds.
"""

import argparse
import json
import os
import random
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import numpy as np  # noqa: E402
import torch  # noqa: E402

import torch_policy  # noqa: E402
from train_external import ExternalClient  # noqa: E402
from train_grpo import VARIANTS, load_stubs, sort_prompt  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Compare the PyTorch policy with r2m-server's policy and scores.")
    p.add_argument("--address", default="127.0.0.1:50051")
    p.add_argument("--api-key-file", default=None, help="file holding the key (default: $R2M_API_KEY)")
    p.add_argument("--policy", required=True, help="the policy directory the server was started with")
    p.add_argument("--prompts", type=int, default=4)
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--max-new-tokens", type=int, default=10)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default=None, help="also write the JSON here")
    p.add_argument("--stubs", default=os.path.join(HERE, "r2m_stubs"))
    args = p.parse_args(argv)
    # Fields ExternalClient / Client read.
    args.variant, args.omega_floor, args.steps = "r2m", 0.6, 10
    args.timeout, args.retries, args.max_message_mb, args.chunk_bytes = 60.0, 1, 64, 1 << 20
    return args


def generate(client, pb, prompts, args):
    """The server's rollouts with F32 hidden states, chunks joined, sorted by (prompt, sample)."""
    policy = pb["policy"]
    request = policy.GenerateRequest(
        prompts=[policy.Prompt(text=t) for t in prompts], samples_per_prompt=args.k,
        sampling=policy.SamplingParams(temperature=1.0, max_new_tokens=args.max_new_tokens, seed=args.seed),
        return_hidden_states=True, hidden_states_dtype=pb["tensor"].DTYPE_F32)
    rollouts, rows = {}, {}
    for msg in client.policy.Generate(request, timeout=args.timeout, metadata=client.metadata):
        if msg.chunk_index == 0:
            rollouts[msg.rollout_id] = msg
            rows[msg.rollout_id] = []
        t = msg.hidden_states
        rows[msg.rollout_id].append(np.frombuffer(t.data, dtype="<f4").reshape(list(t.shape)))
    out = []
    for rid, msg in rollouts.items():
        h = np.concatenate(rows[rid], axis=0)
        if list(h.shape) != list(msg.hidden_states_shape):
            raise SystemExit(f"check_parity: rollout {rid}: hidden rows {list(h.shape)} != hidden_states_shape {list(msg.hidden_states_shape)}")
        out.append((msg, torch.from_numpy(h.copy())))
    return sorted(out, key=lambda x: (x[0].prompt_index, x[0].sample_index))


def main(argv=None):
    args = parse_args(argv)
    pb = load_stubs(args.stubs)
    torch.set_num_threads(1)
    policy = torch_policy.LlamaPolicy.from_pretrained(args.policy).eval()
    tokenizer = torch_policy.ByteLevelBpe.from_file(os.path.join(args.policy, "tokenizer.json"))
    client = ExternalClient(args, pb)
    rng = random.Random(args.seed)
    prompts = [sort_prompt(rng)[1] for _ in range(args.prompts)]
    rollouts = generate(client, pb, prompts, args)

    tokens_equal = text_equal = True
    sequences, lengths = [], []
    for msg, _ in rollouts:
        mine = tokenizer.encode(prompts[msg.prompt_index], add_special_tokens=True)
        tokens_equal &= mine == list(msg.prompt_token_ids)
        text_equal &= tokenizer.decode(msg.response_token_ids) == msg.response_text
        sequences.append(list(msg.prompt_token_ids) + list(msg.response_token_ids))
        lengths.append(len(msg.prompt_token_ids))
    with torch.no_grad():
        passes = torch_policy.teacher_forced(policy, sequences, lengths, 1.0)
    hidden_diff = max(float((h - server_h).abs().max()) for (_, h), (_, server_h) in zip(passes, rollouts))
    hidden_scale = max(float(server_h.abs().max()) for _, server_h in rollouts)
    logprob_diff = max(float((logp - torch.tensor(list(msg.logprobs))).abs().max()) for (logp, _), (msg, _) in zip(passes, rollouts))

    step = args.steps  # t = T: omega = Omega, the largest share of feedback
    by_id = score_by_id(client, pb, [msg.rollout_id for msg, _ in rollouts], step, args)
    texts = [(prompts[msg.prompt_index], tokenizer.decode(msg.response_token_ids, skip_special_tokens=False)) for msg, _ in rollouts]
    f32 = client.score_inline([(p, r, h) for (p, r), (_, h) in zip(texts, passes)], step, dtype="f32")
    bf16 = client.score_inline([(p, r, h) for (p, r), (_, h) in zip(texts, passes)], step, dtype="bf16")
    args.chunk_bytes = 2 * policy.config.hidden_size * 2  # two BF16 rows per ScoreRequest message
    chunked = client.score_inline([(p, r, h) for (p, r), (_, h) in zip(texts, passes)], step, dtype="bf16")
    # Cross-attention ignores row order, so "wrong" feedback is the next rollout's states.
    others = [passes[(n + 1) % len(passes)][1] for n in range(len(passes))]
    wrong = client.score_inline([(p, r, h) for (p, r), h in zip(texts, others)], step, dtype="f32")

    def gap(a, b):
        return max(abs(float(x.reward) - float(y.reward)) for x, y in zip(a, b))

    report = {
        "rollouts": len(rollouts), "hiddenRows": sum(h.shape[0] for _, h in passes), "width": policy.config.hidden_size,
        "tokensEqual": tokens_equal, "textEqual": text_equal,
        "hiddenMaxAbsDiff": hidden_diff, "hiddenMaxAbs": hidden_scale, "logprobMaxAbsDiff": logprob_diff,
        "omega": float(by_id[0].omega),
        "rewardByIdVsInlineF32": gap(by_id, f32), "rewardByIdVsInlineBf16": gap(by_id, bf16),
        "rewardBf16ChunkedVsWhole": gap(bf16, chunked),
        "rewardByIdVsOtherRolloutsFeedback": gap(by_id, wrong),
        "feedbackEffect": max(abs(float(x.reward) - float(x.vanilla_reward)) for x in by_id),
        "vanillaByIdVsInline": max(abs(float(x.vanilla_reward) - float(y.vanilla_reward)) for x, y in zip(by_id, f32)),
        "rewardMaxAbs": max(abs(float(x.reward)) for x in by_id),
    }
    text = json.dumps(report)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")


def score_by_id(client, pb, rollout_ids, step, args):
    rm = pb["rm"]
    options = rm.ScoreOptions(variant=pb["common"].VariantConfig.Value(VARIANTS[args.variant]), schedule=client.schedule(step))
    requests = [rm.ScoreRequest(item_id=str(n), rollout_id=rid, options=options) for n, rid in enumerate(rollout_ids)]
    replies = [None] * len(rollout_ids)
    for reply in client.rm.Score(iter(requests), timeout=args.timeout, metadata=client.metadata):
        if reply.HasField("error"):
            raise SystemExit(f"check_parity: Score by id {rollout_ids[int(reply.item_id)]}: {reply.error.message}")
        replies[int(reply.item_id)] = reply
    return replies


if __name__ == "__main__":
    main()
