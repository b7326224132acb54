#!/usr/bin/env python3
"""A few GRPO steps against an r2m-server, from Python, with stubs generated from protos/r2m/v1.

The loop is docs/method.md section 1, with the bundled sandbox task ("sort 7 3 9 1 ="):

  1. Policy.Generate   K responses per prompt; the server keeps each rollout (tokens, log-probs,
                       hidden states) under a rollout id, so nothing large crosses the wire.
  2. RewardModel.Score by rollout id, with the schedule (t, T, Omega) and the variant.
  3. group advantages  computed here (GRPO: (r - mean) / (std + eps)), to show the client side.
  4. Policy.Optimize   by rollout id with those advantages; the server refreshes hidden states.
  5. RewardModel.Update GREBT on the groups (rollout ids + annotation-time rewards).

Needs Debian's python3-grpcio / python3-protobuf (run with /usr/bin/python3) and the stubs:
    bash clients/python/generate_stubs.sh
    /usr/bin/python3 clients/python/train_grpo.py --address 127.0.0.1:50051 --steps 3
"""

import argparse
import json
import math
import os
import random
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))

VARIANTS = {
    "vanilla": "VARIANT_CONFIG_VANILLA",
    "r2m": "VARIANT_CONFIG_R2M",
    "r2m-without-train": "VARIANT_CONFIG_R2M_WITHOUT_TRAIN",
    "r2m-with-noise": "VARIANT_CONFIG_R2M_WITH_NOISE",
    "iterative-rm-head": "VARIANT_CONFIG_ITERATIVE_RM_HEAD",
    "r2m-without-bt": "VARIANT_CONFIG_R2M_WITHOUT_BT",
    "r2m-without-gre": "VARIANT_CONFIG_R2M_WITHOUT_GRE",
    "pretrained-rm": "VARIANT_CONFIG_PRETRAINED_RM",
}
# Variants whose reward model is never updated: Update would answer FAILED_PRECONDITION.
FROZEN_RM = {"vanilla", "r2m-without-train", "pretrained-rm"}


def api_key(args):
    """The key from --api-key-file (trailing line break removed), else $R2M_API_KEY."""
    if args.api_key_file:
        with open(args.api_key_file, encoding="utf-8") as f:
            return f.read().rstrip("\r\n")
    return os.environ.get("R2M_API_KEY")


def add_loop_arguments(p):
    """The flags every trainer here shares: server, loop sizes, sampling, R2M schedule and GREBT,
    deadlines and retries, metrics, stubs (train_external.py adds its own policy's settings)."""
    p.add_argument("--address", default="127.0.0.1:50051", help="server host:port (default %(default)s)")
    p.add_argument("--api-key-file", default=None,
                   help="file holding the key sent as 'authorization: Bearer KEY' (default: $R2M_API_KEY);"
                        " the key itself is never taken from the command line, where other users can read it")
    p.add_argument("--steps", type=int, default=3, help="RL steps T (default %(default)s)")
    p.add_argument("--prompts", type=int, default=4, help="prompts per step n (default %(default)s)")
    p.add_argument("--k", type=int, default=4, help="responses per prompt K (default %(default)s)")
    p.add_argument("--temperature", type=float, default=1.0)
    p.add_argument("--max-new-tokens", type=int, default=12)
    p.add_argument("--variant", choices=sorted(VARIANTS), default="r2m")
    p.add_argument("--omega-floor", type=float, default=0.6, help="Omega of omega(t) (default %(default)s)")
    p.add_argument("--alpha", type=float, default=0.3, help="GREBT alpha (default %(default)s)")
    p.add_argument("--rm-lr", type=float, default=None, help="RM learning rate (default: the server's)")
    p.add_argument("--beta", type=float, default=0.04, help="KL coefficient (default %(default)s)")
    p.add_argument("--epochs", type=int, default=2, help="policy epochs per batch (default %(default)s)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--timeout", type=float, default=120.0, help="deadline per call, seconds")
    p.add_argument("--retries", type=int, default=3, help="attempts on UNAVAILABLE (default %(default)s)")
    p.add_argument("--max-message-mb", type=int, default=64, help="channel message size limit")
    p.add_argument("--metrics", default=None, help="append one JSON line per step to this file")
    p.add_argument("--stubs", default=os.path.join(HERE, "r2m_stubs"),
                   help="folder written by generate_stubs.sh (default %(default)s)")


def check_loop_arguments(p, args, positive=()):
    """Counts must be >= 1 (these and `positive`) and K >= 2; p.error names the flag."""
    for name in ("steps", "prompts", "k", "max_new_tokens", "epochs", *positive):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.k < 2:
        p.error("--k must be >= 2: group advantages need at least two responses per prompt")
    return args


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Run a few GRPO (+R2M) steps against an r2m-server on the sort sandbox.")
    add_loop_arguments(p)
    p.add_argument("--algorithm", choices=["grpo", "rloo"], default="grpo")
    p.add_argument("--policy-lr", type=float, default=None, help="default: the server's")
    return check_loop_arguments(p, p.parse_args(argv))


def load_stubs(stub_dir):
    """Imports the generated modules; a clear message when generate_stubs.sh was not run."""
    if not os.path.isdir(os.path.join(stub_dir, "r2m", "v1")):
        sys.exit(f"train_grpo: no stubs in {stub_dir}: run bash clients/python/generate_stubs.sh")
    sys.path.insert(0, stub_dir)
    from r2m.v1 import admin_pb2, admin_pb2_grpc, common_pb2, policy_pb2, policy_pb2_grpc  # noqa: E402
    from r2m.v1 import reward_model_pb2, reward_model_pb2_grpc, tensor_pb2  # noqa: E402
    return {
        "tensor": tensor_pb2,
        "admin": admin_pb2, "admin_grpc": admin_pb2_grpc, "common": common_pb2,
        "policy": policy_pb2, "policy_grpc": policy_pb2_grpc,
        "rm": reward_model_pb2, "rm_grpc": reward_model_pb2_grpc,
    }


# ------------------------------------------------------------------------- the sandbox task

def sort_prompt(rng, min_digits=3, max_digits=6):
    digits = [rng.randrange(10) for _ in range(rng.randint(min_digits, max_digits))]
    return digits, "sort " + " ".join(map(str, digits)) + " ="


def response_symbols(text):
    """Symbols up to <eos>: each digit and '!' alone, letter runs as one (SandboxText.ParseResponse)."""
    text = text.split("<eos>", 1)[0]
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c.isspace():
            i += 1
        elif c.isalpha():
            j = i
            while j < len(text) and text[j].isalpha():
                j += 1
            out.append(text[i:j])
            i = j
        else:
            out.append(c)
            i += 1
    return out


def lcs(a, b):
    row = [0] * (len(b) + 1)
    for x in a:
        diag = 0
        for j, y in enumerate(b, 1):
            above = row[j]
            row[j] = diag + 1 if x == y else max(above, row[j - 1])
            diag = above
    return row[-1]


def gold_reward(digits, response):
    """LCS(response symbols, sorted digits) / the longer length: the sandbox's true reward."""
    target = [str(d) for d in sorted(digits)]
    symbols = response_symbols(response)
    return lcs(target, symbols) / max(len(target), len(symbols))


def group_advantages(rewards, algorithm, eps=1e-4):
    """GRPO: (r - mean) / (std + eps), std Bessel-corrected as TRL; RLOO: r - mean of the others."""
    k = len(rewards)
    mean = sum(rewards) / k
    if algorithm == "rloo":
        total = sum(rewards)
        return [r - (total - r) / (k - 1) for r in rewards]
    std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / (k - 1))
    return [(r - mean) / (std + eps) for r in rewards]


# ------------------------------------------------------------------------------ the client

class Client:
    # Prefix of the messages a failed call exits with (subclasses name their own program).
    name = "train_grpo"

    def __init__(self, args, pb):
        import grpc
        self.grpc = grpc
        self.args, self.pb = args, pb
        limit = args.max_message_mb * 1024 * 1024
        self.channel = grpc.insecure_channel(args.address, options=[
            ("grpc.max_send_message_length", limit), ("grpc.max_receive_message_length", limit)])
        key = api_key(args)
        self.metadata = [("authorization", "Bearer " + key)] if key else []
        self.admin = pb["admin_grpc"].AdminStub(self.channel)
        self.policy = pb["policy_grpc"].PolicyStub(self.channel)
        self.rm = pb["rm_grpc"].RewardModelStub(self.channel)

    def call(self, what, fn, version=None):
        """Runs fn() with retries on UNAVAILABLE (a reward server blip must not kill training).

        version: for calls that step the server (Optimize, Update), the Info field they advance.
        Their configs carry one request_id for every attempt, so the server answers a re-send of
        an applied call with its first reply; the version is read again before a re-send only to
        catch a server that restarted and lost its state (the version went back).
        """
        delay = 0.5
        before = getattr(self.info(), version) if version and self.args.retries > 1 else None
        for attempt in range(1, self.args.retries + 1):
            try:
                return fn()
            except self.grpc.RpcError as e:
                if e.code() != self.grpc.StatusCode.UNAVAILABLE or attempt == self.args.retries:
                    raise SystemExit(f"{self.name}: {what} failed: {e.code().name}: {e.details()}")
                if before is not None:
                    # The server answers after any write still running (it goes on after a dropped connection).
                    now = getattr(self.info(wait_for_writes=True), version)
                    if now < before:
                        raise SystemExit(f"{self.name}: {what} failed: UNAVAILABLE, and the server's {version} went back "
                                         f"from {before} to {now}: it restarted and lost its state; resume from a checkpoint")
                print(f"  {what}: UNAVAILABLE, retry {attempt} in {delay:.1f}s", file=sys.stderr)
                time.sleep(delay)
                delay *= 2

    def info(self, wait_for_writes=False):
        return self.call("Info", lambda: self.admin.Info(
            self.pb["admin"].InfoRequest(wait_for_writes=wait_for_writes), timeout=self.args.timeout,
            metadata=self.metadata))

    def generate(self, prompts, step):
        pb = self.pb["policy"]
        request = pb.GenerateRequest(
            prompts=[pb.Prompt(text=t) for _, t in prompts],
            samples_per_prompt=self.args.k,
            sampling=pb.SamplingParams(temperature=self.args.temperature,
                                       max_new_tokens=self.args.max_new_tokens,
                                       seed=self.args.seed * 1_000_003 + step))

        def run():
            rollouts = {}
            for msg in self.policy.Generate(request, timeout=self.args.timeout, metadata=self.metadata):
                # Chunks after the first carry only the id and more hidden-state rows; we did not
                # ask for hidden states, but a conforming reader keeps the first message's fields.
                if msg.chunk_index == 0:
                    rollouts[msg.rollout_id] = msg
            return list(rollouts.values())
        return self.call("Generate", run)

    def score(self, rollout_ids, step):
        pb, common = self.pb["rm"], self.pb["common"]
        schedule = common.Schedule(step=step, total_steps=self.args.steps, omega_floor=self.args.omega_floor)
        variant = common.VariantConfig.Value(VARIANTS[self.args.variant])
        requests = [pb.ScoreRequest(item_id=str(i), rollout_id=rid,
                                    options=pb.ScoreOptions(variant=variant, schedule=schedule))
                    for i, rid in enumerate(rollout_ids)]

        def run():
            rewards, versions = [None] * len(rollout_ids), set()
            for reply in self.rm.Score(iter(requests), timeout=self.args.timeout, metadata=self.metadata):
                if reply.HasField("error"):
                    raise SystemExit(f"train_grpo: Score item {reply.item_id} "
                                     f"(rollout {rollout_ids[int(reply.item_id)]}): {reply.error.message}")
                rewards[int(reply.item_id)] = reply.reward
                versions.add(reply.rm_version)
            missing = [rollout_ids[i] for i, r in enumerate(rewards) if r is None]
            if missing:
                raise SystemExit(f"train_grpo: Score ended without rewards for rollouts {missing[:5]}")
            return rewards, versions
        return self.call("Score", run)

    def optimize(self, groups):
        pb = self.pb["policy"]
        algorithm = pb.ALGORITHM_RLOO if self.args.algorithm == "rloo" else pb.ALGORITHM_GRPO
        # One request_id for every attempt: the server does not apply a re-sent call twice.
        config = pb.OptimizeConfig(algorithm=algorithm, beta=self.args.beta, epochs=self.args.epochs,
                                   request_id=uuid.uuid4().hex)
        if self.args.policy_lr is not None:
            config.learning_rate = self.args.policy_lr

        def messages():
            yield pb.PolicyBatch(config=config)
            for group_id, members in groups.items():
                yield pb.PolicyBatch(items=[pb.PolicyItem(rollout_id=rid, group_id=group_id, advantage=adv)
                                            for rid, _, adv in members])
        return self.call("Optimize", lambda: self.policy.Optimize(
            messages(), timeout=self.args.timeout, metadata=self.metadata), version="policy_version")

    def update(self, groups, step):
        pb, common = self.pb["rm"], self.pb["common"]
        config = pb.UpdateConfig(
            variant=common.VariantConfig.Value(VARIANTS[self.args.variant]), alpha=self.args.alpha,
            schedule=common.Schedule(step=step, total_steps=self.args.steps, omega_floor=self.args.omega_floor),
            request_id=uuid.uuid4().hex)
        if self.args.rm_lr is not None:
            config.learning_rate = self.args.rm_lr

        def messages():
            for n, (group_id, members) in enumerate(groups.items()):
                group = pb.PreferenceGroup(group_id=group_id, members=[
                    pb.GroupMember(rollout_id=rid, annotation_reward=r) for rid, r, _ in members])
                if n == 0:
                    group.config.CopyFrom(config)
                yield group
        return self.call("Update", lambda: self.rm.Update(
            messages(), timeout=self.args.timeout, metadata=self.metadata), version="rm_version")


def train(args, pb, out=sys.stdout):
    client = Client(args, pb)
    info = client.info()
    print(f"server {info.server_version}: policy {info.policy.name} (D_p={info.policy.hidden_size}), "
          f"RM {info.reward_model.name} (D_rm={info.reward_model.hidden_size}), "
          f"policy_version {info.policy_version}, rm_version {info.rm_version}", file=out)
    rng = random.Random(args.seed)
    history = []
    for step in range(1, args.steps + 1):
        started = time.monotonic()
        prompts = [sort_prompt(rng) for _ in range(args.prompts)]
        rollouts = client.generate(prompts, step)
        if len(rollouts) != args.prompts * args.k:
            raise SystemExit(f"train_grpo: Generate returned {len(rollouts)} rollouts, "
                             f"expected {args.prompts} x {args.k}")
        rollouts.sort(key=lambda r: (r.prompt_index, r.sample_index))
        rewards, rm_versions = client.score([r.rollout_id for r in rollouts], step)

        groups, golds, bangs = {}, [], 0
        for i in range(args.prompts):
            idx = [j for j, r in enumerate(rollouts) if r.prompt_index == i]
            advantages = group_advantages([rewards[j] for j in idx], args.algorithm)
            groups[f"s{step}p{i}"] = [(rollouts[j].rollout_id, rewards[j], a) for j, a in zip(idx, advantages)]
            for j in idx:
                golds.append(gold_reward(prompts[i][0], rollouts[j].response_text))
                bangs += "!" in rollouts[j].response_text
        opt = client.optimize(groups)
        upd = None if args.variant in FROZEN_RM else client.update(groups, step)

        record = {
            "variant": args.variant, "seed": args.seed, "step": step,
            "goldReward": sum(golds) / len(golds), "proxyReward": sum(rewards) / len(rewards),
            "kl": opt.kl, "bangRate": bangs / len(rollouts), "policyLoss": opt.policy_loss,
            "policyVersion": opt.policy_version,
            "rmVersion": upd.rm_version if upd else max(rm_versions),
            "elapsedSeconds": round(time.monotonic() - started, 3),
        }
        if upd:
            record.update(btLoss=upd.bt_loss, greLoss=upd.gre_loss)
        history.append(record)
        print(f"step {step}/{args.steps}: gold {record['goldReward']:.3f} proxy {record['proxyReward']:.3f} "
              f"kl {opt.kl:.4f} '!' {record['bangRate']:.2f} loss {opt.policy_loss:.4f}"
              + (f" bt {upd.bt_loss:.4f} gre {upd.gre_loss:.4f} rm_version {upd.rm_version}" if upd else ""),
              file=out)
        if args.metrics:
            with open(args.metrics, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")
    return history


def main(argv=None):
    args = parse_args(argv)
    pb = load_stubs(args.stubs)
    train(args, pb)


if __name__ == "__main__":
    main()
