#!/usr/bin/env python3
"""GRPO with the policy in this process (PyTorch) and only the R2M reward model on r2m-server.

This is how a team with its own trainer plugs in (docs/integration.md): the trainer owns the
policy, samples, computes the policy's last-layer hidden states itself and trains itself; the
server scores with policy feedback and retrains its cross-attention and head. Per step t = 1..T
(docs/method.md section 1):

  1. sample      K responses per prompt from pi_old (this process, torch_policy.py)
  2. hidden      teacher-forced pass of pi_old over prompt + response: old log-probs and the
                 final-norm hidden states h, shape [S - 1, D_p]
  3. Score       inline items: prompt text, response text (EOS kept as text), h as BF16,
                 schedule (t, T, Omega) -> rewards, each tagged with the rm_version that made it
  4. advantages  GRPO per group: (r - mean) / (std + eps), std Bessel-corrected as TRL
  5. update      `epochs` passes of the clipped surrogate with a k3 KL to the frozen reference
                 (this process, its own AdamW); the last pass's forward yields h'
  6. Update      one PreferenceGroup per prompt: inline members with h' and their annotation
                 rewards, so the server picks winner and loser by the RM's own scores (the
                 paper's rule); one request_id for every attempt

No Policy.Generate or Policy.Optimize call is made. Needs Debian's python3-torch,
python3-grpcio and python3-protobuf (run with /usr/bin/python3) and the stubs:
    bash clients/python/generate_stubs.sh
    /usr/bin/python3 clients/python/train_external.py --address 127.0.0.1:50051 --policy models/policy
"""

import argparse
import copy
import json
import math
import os
import random
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import torch  # noqa: E402

import torch_policy  # noqa: E402
from train_grpo import (FROZEN_RM, VARIANTS, Client, add_loop_arguments, check_loop_arguments, gold_reward,  # noqa: E402
                        group_advantages, load_stubs, sort_prompt)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="GRPO with a PyTorch policy owned by this process; r2m-server only scores and updates the R2M reward model.")
    add_loop_arguments(p)
    p.add_argument("--policy", required=True, help="HuggingFace directory of the policy (config.json, model.safetensors, tokenizer.json)")
    p.add_argument("--prompts-file", default=None,
                   help="JSONL, one {\"prompt\": ..., \"id\": ...} per line; default: sandbox sort prompts (with gold reward)")
    p.add_argument("--policy-lr", type=float, default=1e-4, help="this process's AdamW learning rate (default %(default)s)")
    p.add_argument("--clip-epsilon", type=float, default=0.2, help="PPO clip range (default %(default)s)")
    p.add_argument("--max-grad-norm", type=float, default=1.0, help="global gradient-norm clip (default %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default %(default)s)")
    p.add_argument("--chunk-bytes", type=int, default=1 << 20,
                   help="largest hidden-state payload per Score message; larger tensors go in row chunks (default %(default)s)")
    p.add_argument("--save", default=None, help="write the trained policy here (HuggingFace layout) at the end")
    return check_loop_arguments(p, p.parse_args(argv), positive=("threads", "chunk_bytes"))


def read_prompts(path):
    """Prompts of a JSONL file; a bad line is an error naming the file and the line."""
    prompts = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as e:
                raise SystemExit(f"train_external: {path}:{number}: not JSON ({e.msg})")
            if not isinstance(obj, dict) or not isinstance(obj.get("prompt"), str) or not obj["prompt"]:
                raise SystemExit(f"train_external: {path}:{number}: needs a non-empty string field 'prompt'")
            prompts.append(obj["prompt"])
    if not prompts:
        raise SystemExit(f"train_external: {path}: no prompts")
    return prompts


# ------------------------------------------------------------------------------- the wire

def tensor_message(pb, rows, dtype):
    """A r2m.v1 Tensor of a (rows, width) float tensor: BF16 (rounded to nearest even, as torch
    converts) or F32, little-endian row-major bytes (tensor.proto)."""
    rows = rows.detach().to(torch.float32).contiguous()
    if dtype == "bf16":
        data = rows.to(torch.bfloat16).view(torch.int16).numpy().astype("<i2").tobytes()
        code = pb["tensor"].DTYPE_BF16
    else:
        data = rows.numpy().astype("<f4").tobytes()
        code = pb["tensor"].DTYPE_F32
    return pb["tensor"].Tensor(dtype=code, shape=list(rows.shape), data=data)


class ExternalClient(Client):
    """train_grpo's client (deadlines, retries on UNAVAILABLE, request_id re-sends) plus the
    inline Score and Update calls of a trainer that keeps its policy to itself."""

    name = "train_external"

    def schedule(self, step):
        return self.pb["common"].Schedule(step=step, total_steps=self.args.steps, omega_floor=self.args.omega_floor)

    def score_requests(self, items, step, dtype="bf16"):
        """ScoreRequest messages for (prompt_text, response_text, hidden or None) items; hidden
        states above --chunk-bytes are split into chunks of whole rows (chunk_index, more_chunks)."""
        pb = self.pb["rm"]
        options = pb.ScoreOptions(variant=self.pb["common"].VariantConfig.Value(VARIANTS[self.args.variant]),
                                  schedule=self.schedule(step))
        for n, (prompt, response, hidden) in enumerate(items):
            inline = pb.InlineItem(prompt_text=prompt, response_text=response)
            if hidden is None:
                yield pb.ScoreRequest(item_id=str(n), inline=inline, options=options)
                continue
            row_bytes = hidden.shape[1] * (2 if dtype == "bf16" else 4)
            per_chunk = max(1, self.args.chunk_bytes // row_bytes)
            starts = list(range(0, hidden.shape[0], per_chunk))
            for c, lo in enumerate(starts):
                msg = pb.ScoreRequest(item_id=str(n), chunk_index=c, more_chunks=c + 1 < len(starts),
                                      hidden_states=tensor_message(self.pb, hidden[lo:lo + per_chunk], dtype))
                if c == 0:
                    msg.inline.CopyFrom(inline)
                    msg.options.CopyFrom(options)
                yield msg

    # Items one Score stream may have in flight (Info.limits.max_score_items_in_flight; the
    # server ends a stream that exceeds it with RESOURCE_EXHAUSTED). Set from Info by train().
    max_in_flight = 256

    def score_inline(self, items, step, dtype="bf16"):
        """Rewards for the items, in order, as a list of ScoreReply; an item error ends the run,
        naming the item. At most max_in_flight items go on one stream; more take several calls."""
        replies = []
        for lo in range(0, len(items), self.max_in_flight):
            replies.extend(self._score_stream(items[lo:lo + self.max_in_flight], lo, step, dtype))
        return replies

    def _score_stream(self, items, first, step, dtype):
        def run():
            replies = [None] * len(items)
            for reply in self.rm.Score(self.score_requests(items, step, dtype), timeout=self.args.timeout, metadata=self.metadata):
                n = int(reply.item_id)
                if reply.HasField("error"):
                    raise SystemExit(f"train_external: Score item {first + n} (prompt {items[n][0]!r}): "
                                     f"code {reply.error.code}: {reply.error.message}")
                replies[n] = reply
            missing = [first + n for n, r in enumerate(replies) if r is None]
            if missing:
                raise SystemExit(f"train_external: Score ended without replies for items {missing[:5]}")
            return replies
        return self.call("Score", run)

    def update_inline(self, groups, step):
        """One GREBT update on groups of (prompt_text, response_text, refreshed hidden h',
        annotation reward). The annotation rewards choose winner and loser (PAIR_SELECTION_ANNOTATION)."""
        pb = self.pb["rm"]
        config = pb.UpdateConfig(variant=self.pb["common"].VariantConfig.Value(VARIANTS[self.args.variant]),
                                 alpha=self.args.alpha, schedule=self.schedule(step),
                                 pair_selection=pb.PAIR_SELECTION_ANNOTATION, request_id=uuid.uuid4().hex)
        if self.args.rm_lr is not None:
            config.learning_rate = self.args.rm_lr

        def messages():
            for n, (group_id, members) in enumerate(groups):
                group = pb.PreferenceGroup(group_id=group_id, members=[
                    pb.GroupMember(inline=pb.InlineItem(prompt_text=prompt, response_text=response),
                                   annotation_reward=reward, hidden_states=tensor_message(self.pb, hidden, "bf16"))
                    for prompt, response, hidden, reward in members])
                if n == 0:
                    group.config.CopyFrom(config)
                yield group
        return self.call("Update", lambda: self.rm.Update(messages(), timeout=self.args.timeout, metadata=self.metadata),
                         version="rm_version")


# ---------------------------------------------------------------------------- the policy

class Trainer:
    """The policy side of the loop: pi_theta, the frozen reference, an AdamW optimizer."""

    def __init__(self, args):
        self.args = args
        self.policy = torch_policy.LlamaPolicy.from_pretrained(args.policy)
        self.reference = copy.deepcopy(self.policy).eval()
        for p in self.reference.parameters():
            p.requires_grad_(False)
        self.initial = [p.detach().clone() for p in self.policy.parameters()]
        self.tokenizer = torch_policy.ByteLevelBpe.from_file(os.path.join(args.policy, "tokenizer.json"))
        self.optimizer = torch.optim.AdamW(self.policy.parameters(), lr=args.policy_lr, weight_decay=0.0)
        self.generator = torch.Generator().manual_seed(args.seed)

    @property
    def width(self):
        return self.policy.config.hidden_size

    def rollouts(self, prompts):
        """K samples per prompt from pi_old, with the old log-probs, reference log-probs and h."""
        self.policy.eval()
        eos = set(self.policy.config.eos_token_ids)
        out = []
        for i, text in enumerate(prompts):
            prompt_ids = self.tokenizer.encode(text, add_special_tokens=True)
            for response in torch_policy.sample(self.policy, prompt_ids, self.args.k, self.args.max_new_tokens,
                                                self.args.temperature, self.generator, eos):
                out.append({"group": i, "prompt": text, "prompt_ids": prompt_ids, "response_ids": response,
                            "response_text": self.tokenizer.decode(response, skip_special_tokens=False),
                            "plain_text": self.tokenizer.decode(response)})
        sequences, lengths = [r["prompt_ids"] + r["response_ids"] for r in out], [len(r["prompt_ids"]) for r in out]
        with torch.no_grad():
            for r, (old, hidden), (ref, _) in zip(out, torch_policy.teacher_forced(self.policy, sequences, lengths, self.args.temperature),
                                                  torch_policy.teacher_forced(self.reference, sequences, lengths, self.args.temperature)):
                r.update(old_logp=old, ref_logp=ref, hidden=hidden)
        return out

    def optimize(self, rollouts, advantages):
        """`epochs` passes of the GRPO loss over the whole batch (one optimizer step each):
        per token -min(rho A, clip(rho) A) + beta k3, mean per sequence, mean over sequences.
        Returns the statistics of the last pass and the hidden states h' of its forward."""
        self.policy.train()
        sequences = [r["prompt_ids"] + r["response_ids"] for r in rollouts]
        lengths = [len(r["prompt_ids"]) for r in rollouts]
        eps, beta = self.args.clip_epsilon, self.args.beta
        stats, refreshed = {}, None
        for epoch in range(self.args.epochs):
            passes = torch_policy.teacher_forced(self.policy, sequences, lengths, self.args.temperature)
            losses, kls, clipped, tokens = [], [], 0, 0
            for r, a, (logp, hidden) in zip(rollouts, advantages, passes):
                rho = torch.exp(logp - r["old_logp"])
                surrogate = torch.minimum(rho * a, torch.clamp(rho, 1 - eps, 1 + eps) * a)
                diff = r["ref_logp"] - logp
                k3 = torch.exp(diff) - diff - 1                                  # KL(pi_theta || pi_ref), per token
                losses.append((-surrogate + beta * k3).mean())
                kls.append(k3.detach())
                clipped += int(((rho < 1 - eps) | (rho > 1 + eps)).sum())
                tokens += len(logp)
            loss = torch.stack(losses).mean()
            self.optimizer.zero_grad()
            loss.backward()
            grad_norm = float(torch.nn.utils.clip_grad_norm_(self.policy.parameters(), self.args.max_grad_norm))
            self.optimizer.step()
            stats = {"policyLoss": float(loss), "kl": float(torch.cat(kls).mean()), "clipFraction": clipped / tokens,
                     "gradNorm": grad_norm, "tokens": tokens}
            if epoch == self.args.epochs - 1:
                # The paper's h': the last epoch's forward (before its own optimizer step), no extra pass.
                refreshed = [hidden.detach() for _, hidden in passes]
        return stats, refreshed

    def parameter_change(self):
        """L2 norm of theta - theta_0 over all parameters."""
        return math.sqrt(sum(float((p.detach() - p0).pow(2).sum()) for p, p0 in zip(self.policy.parameters(), self.initial)))


def train(args, pb, out=sys.stdout):
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    trainer = Trainer(args)
    client = ExternalClient(args, pb)
    info = client.info()
    if info.reward_head.feedback_width != trainer.width:
        raise SystemExit(f"train_external: the server's reward head takes feedback of width {info.reward_head.feedback_width}, "
                         f"but the policy in {args.policy} has hidden_size {trainer.width}")
    client.max_in_flight = info.limits.max_score_items_in_flight or client.max_in_flight
    print(f"server {info.server_version}: RM {info.reward_model.name} (D_rm={info.reward_model.hidden_size}), "
          f"feedback width {info.reward_head.feedback_width}, rm_version {info.rm_version}; "
          f"policy here: {args.policy} (D_p={trainer.width}, {sum(p.numel() for p in trainer.policy.parameters())} parameters)",
          file=out)
    file_prompts = read_prompts(args.prompts_file) if args.prompts_file else None
    rng = random.Random(args.seed)
    history = []
    for step in range(1, args.steps + 1):
        started = time.monotonic()
        if file_prompts:
            batch = [file_prompts[((step - 1) * args.prompts + i) % len(file_prompts)] for i in range(args.prompts)]
            digits = None
        else:
            drawn = [sort_prompt(rng) for _ in range(args.prompts)]
            digits, batch = [d for d, _ in drawn], [t for _, t in drawn]
        rollouts = trainer.rollouts(batch)
        replies = client.score_inline([(r["prompt"], r["response_text"], r["hidden"]) for r in rollouts], step)
        rewards = [float(reply.reward) for reply in replies]
        if not all(math.isfinite(x) for x in rewards):
            raise SystemExit(f"train_external: step {step}: Score returned a non-finite reward: {rewards}")

        advantages, groups = [0.0] * len(rollouts), []
        for i in range(len(batch)):
            idx = [j for j, r in enumerate(rollouts) if r["group"] == i]
            for j, a in zip(idx, group_advantages([rewards[j] for j in idx], "grpo")):
                advantages[j] = a
        stats, refreshed = trainer.optimize(rollouts, advantages)
        for i in range(len(batch)):
            idx = [j for j, r in enumerate(rollouts) if r["group"] == i]
            groups.append((f"s{step}p{i}", [(rollouts[j]["prompt"], rollouts[j]["response_text"], refreshed[j], rewards[j])
                                            for j in idx]))
        upd = None if args.variant in FROZEN_RM else client.update_inline(groups, step)

        record = {
            "step": step, "variant": args.variant, "seed": args.seed,
            "proxyReward": sum(rewards) / len(rewards),
            "vanillaReward": sum(float(r.vanilla_reward) for r in replies) / len(replies),
            "omega": float(replies[0].omega), "scoreRmVersions": sorted({int(r.rm_version) for r in replies}),
            "rmVersion": int(upd.rm_version) if upd else max(int(r.rm_version) for r in replies),
            "parameterChange": trainer.parameter_change(), **stats,
            "meanLength": sum(len(r["response_ids"]) for r in rollouts) / len(rollouts),
            "elapsedSeconds": round(time.monotonic() - started, 3),
        }
        if upd:
            record.update(btLoss=float(upd.bt_loss), greLoss=float(upd.gre_loss), rewardMargin=float(upd.reward_margin))
        if digits is not None:
            golds = [gold_reward(digits[r["group"]], r["plain_text"]) for r in rollouts]
            record.update(goldReward=sum(golds) / len(golds),
                          bangRate=sum("!" in r["plain_text"] for r in rollouts) / len(rollouts))
        history.append(record)
        print(f"step {step}/{args.steps}: reward {record['proxyReward']:.3f} (vanilla {record['vanillaReward']:.3f}, "
              f"omega {record['omega']:.3f}) kl {stats['kl']:.5f} loss {stats['policyLoss']:.4f} "
              f"|theta - theta0| {record['parameterChange']:.4f}"
              + (f" gold {record['goldReward']:.3f}" if digits is not None else "")
              + (f" bt {upd.bt_loss:.4f} gre {upd.gre_loss:.4f} rm_version {upd.rm_version}" if upd else ""), file=out)
        if args.metrics:
            with open(args.metrics, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
    if args.save:
        trainer.policy.save_pretrained(args.save, copy_from=args.policy)
        print(f"saved the trained policy to {args.save}", file=out)
    return history


def main(argv=None):
    args = parse_args(argv)
    pb = load_stubs(args.stubs)
    try:
        train(args, pb)
    except torch_policy.CheckpointError as e:
        raise SystemExit(f"train_external: {e}")


if __name__ == "__main__":
    main()
