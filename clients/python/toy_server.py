#!/usr/bin/env python3
"""A toy r2m.v1 server in Python, for testing clients without the real (C#) r2m-server.

It speaks the same protos and follows their documented contract (rollout store with ids,
chunked hidden states, in-band Score item errors, NOT_FOUND for unknown ids, API key required
for Optimize/Update, version counters, GREBT losses computed from the rewards it is given), but
its "models" are stand-ins: the policy samples corrupted sorts at random and the reward is the
gold reward plus a bonus per '!' (a hackable proxy). Nothing is learned. Used by
test_train_grpo.py; never a substitute for the real server.
"""

import math
import random
import struct
import sys
import threading
import uuid
from concurrent import futures

import train_grpo

WIDTH = 8  # toy policy hidden size D_p


def serve(pb, port=0, api_key=None):
    """Starts the toy server on 127.0.0.1 (port 0: any free port); returns (server, port)."""
    import grpc

    state = {"policy_version": 1, "rm_version": 1, "store": {}}
    lock = threading.Lock()

    def authorized(context):
        if api_key is None:
            return True
        got = dict(context.invocation_metadata()).get("authorization")
        if got != "Bearer " + api_key:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong API key (authorization: Bearer ...)")
        return True

    class Admin(pb["admin_grpc"].AdminServicer):
        def Info(self, request, context):
            a = pb["admin"]
            return a.InfoReply(
                policy=a.ModelInfo(name="toy-policy", architecture="toy", hidden_size=WIDTH, vocab_size=36),
                reward_model=a.ModelInfo(name="toy-rm", architecture="toy", hidden_size=4, vocab_size=36),
                policy_version=state["policy_version"], rm_version=state["rm_version"],
                server_version="toy-0")

    class Policy(pb["policy_grpc"].PolicyServicer):
        def Generate(self, request, context):
            p = pb["policy"]
            if not request.prompts:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "prompts: at least one prompt is required")
            k = request.samples_per_prompt or 1
            rng = random.Random(request.sampling.seed if request.sampling.HasField("seed") else None)
            for i, prompt in enumerate(request.prompts):
                digits = [int(t) for t in prompt.text.split()[1:-1]]
                for j in range(k):
                    resp = sorted(digits)
                    if rng.random() < 0.5 and len(resp) > 1:
                        resp.pop(rng.randrange(len(resp)))
                    text = "".join(f" {d}" for d in resp) + " !" * rng.randint(0, 2)
                    rid = uuid.uuid4().hex
                    rows = len(prompt.text.split()) + len(text.split()) - 1
                    with lock:
                        state["store"][rid] = (digits, text)
                    first = p.Rollout(rollout_id=rid, prompt_index=i, sample_index=j, prompt_text=prompt.text,
                                      response_text=text, finish_reason=p.FINISH_REASON_EOS,
                                      policy_version=state["policy_version"])
                    first.logprobs.extend([-0.5] * len(text.split()))
                    if not request.return_hidden_states:
                        yield first
                        continue
                    # Two-row chunks of f32 hidden states, as a large model's would be split.
                    first.hidden_states_shape.extend([rows, WIDTH])
                    for c, start in enumerate(range(0, rows, 2)):
                        n = min(2, rows - start)
                        msg = first if c == 0 else p.Rollout(rollout_id=rid, chunk_index=c)
                        msg.hidden_states.dtype = pb["tensor"].DTYPE_F32
                        msg.hidden_states.shape.extend([n, WIDTH])
                        msg.hidden_states.data = struct.pack(f"<{n * WIDTH}f", *([0.25] * (n * WIDTH)))
                        msg.more_chunks = start + n < rows
                        yield msg

        def Optimize(self, request_iterator, context):
            authorized(context)
            p = pb["policy"]
            items, config = [], None
            for n, batch in enumerate(request_iterator):
                if n == 0 and not batch.HasField("config"):
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "config: the first PolicyBatch must carry it")
                config = config or batch.config
                items.extend(batch.items)
            missing = [i.rollout_id for i in items if i.rollout_id not in state["store"]]
            if missing:
                context.abort(grpc.StatusCode.NOT_FOUND, f"unknown or evicted rollout ids: {missing[:5]}")
            if not items:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "items: the batch is empty")
            with lock:
                state["policy_version"] += 1
            adv = [i.advantage for i in items]
            return p.OptimizeReply(policy_loss=-sum(adv) / len(adv), epoch_losses=[0.0] * (config.epochs or 2),
                                   kl=0.001 * state["policy_version"], items=len(items),
                                   policy_version=state["policy_version"], hidden_states_refreshed=True)

    class RewardModel(pb["rm_grpc"].RewardModelServicer):
        def Score(self, request_iterator, context):
            r = pb["rm"]
            for req in request_iterator:
                item = state["store"].get(req.rollout_id)
                if item is None:
                    yield r.ScoreReply(item_id=req.item_id, error=pb["common"].ItemError(
                        code=grpc.StatusCode.NOT_FOUND.value[0], message=f"rollout_id '{req.rollout_id}' is unknown or evicted"))
                    continue
                digits, text = item
                gold = train_grpo.gold_reward(digits, text)
                yield r.ScoreReply(item_id=req.item_id, reward=gold + 0.2 * text.count("!"),
                                   vanilla_reward=gold, omega=1.0, rm_version=state["rm_version"])

        def Update(self, request_iterator, context):
            authorized(context)
            r = pb["rm"]
            bt, gre, groups, members = [], [], 0, 0
            for n, group in enumerate(request_iterator):
                if n == 0 and not group.HasField("config"):
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "config: the first PreferenceGroup must carry it")
                if len(group.members) < 2:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"group '{group.group_id}': fewer than 2 members")
                rewards = [m.annotation_reward for m in group.members]
                bt.append(math.log1p(math.exp(-(max(rewards) - min(rewards)))))  # -log sigmoid(r_w - r_l)
                mean = sum(rewards) / len(rewards)
                std = math.sqrt(sum((x - mean) ** 2 for x in rewards) / len(rewards)) + 1e-6
                z = [(x - mean) / std for x in rewards]
                e = [math.exp(v - max(z)) for v in z]
                probs = [v / sum(e) for v in e]
                gre.append(-sum(q * math.log(q) for q in probs if q > 0))
                groups += 1
                members += len(group.members)
            with lock:
                state["rm_version"] += 1
            alpha = 0.3
            return r.UpdateReply(bt_loss=sum(bt) / groups, gre_loss=sum(gre) / groups,
                                 total_loss=(1 - alpha) * sum(bt) / groups + alpha * sum(gre) / groups,
                                 rm_version=state["rm_version"], groups=groups, members=members, alpha=alpha)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    pb["admin_grpc"].add_AdminServicer_to_server(Admin(), server)
    pb["policy_grpc"].add_PolicyServicer_to_server(Policy(), server)
    pb["rm_grpc"].add_RewardModelServicer_to_server(RewardModel(), server)
    port = server.add_insecure_port(f"127.0.0.1:{port}")
    server.start()
    return server, port


if __name__ == "__main__":
    stubs = train_grpo.load_stubs(train_grpo.os.path.join(train_grpo.HERE, "r2m_stubs"))
    srv, bound = serve(stubs, port=int(sys.argv[1]) if len(sys.argv) > 1 else 50051)
    print(f"toy r2m.v1 server on 127.0.0.1:{bound}")
    srv.wait_for_termination()
