"""PyTorch autograd references for R2M.Alignment (docs/method.md sections 1-3).

Run with Debian's interpreter (torch 1.13):  /usr/bin/python3 make_reference.py [OUT.json]
Writes reference.json next to this file (or OUT.json); the C# tests read it, and one test reruns this
script into a temp file to check that the committed numbers are what the script produces. Every quantity is written from the
spec with torch ops and differentiated by autograd (float64), never by the C# formulas.
"""
import json
import math
import os
import sys

import torch

torch.manual_seed(1234)
D = torch.float64


def t(x):
    return x.detach().reshape(-1).tolist()


def head_case(d_rm, d_p, d, heads, omega, rows, masks, phi_bias):
    wq = (torch.randn(d_rm, d, dtype=D) * 0.3).requires_grad_()
    wk = (torch.randn(d_p, d, dtype=D) * 0.3).requires_grad_()
    wv = (torch.randn(d_p, d, dtype=D) * 0.3).requires_grad_()
    wo = (torch.randn(d, d_rm, dtype=D) * 0.3).requires_grad_()
    phw = torch.randn(d_rm, dtype=D).requires_grad_()
    phb = torch.tensor([0.25 if phi_bias else 0.0], dtype=D).requires_grad_()
    items, rewards = [], []
    dh = d // heads
    for n, m in zip(rows, masks):
        rte = torch.randn(d_rm, dtype=D)
        h = torch.randn(n, d_p, dtype=D).requires_grad_()
        mask = torch.tensor(m, dtype=torch.bool)
        q = rte @ wq                                   # (d)
        k = h @ wk                                     # (n, d)
        v = h @ wv
        ctx = []
        for a in range(heads):
            s = (k[:, a * dh:(a + 1) * dh] @ q[a * dh:(a + 1) * dh]) / math.sqrt(dh)
            s = s.masked_fill(~mask, float("-inf"))
            p = torch.softmax(s, dim=0)
            ctx.append(p @ v[:, a * dh:(a + 1) * dh])
        hhat = torch.cat(ctx) @ wo
        hfin = omega * rte + (1 - omega) * hhat
        r = hfin @ phw + (phb[0] if phi_bias else 0.0)
        rewards.append(r)
        items.append({"rte": t(rte), "h": t(h), "rows": n, "mask": m, "_h": h})
    rewards = torch.stack(rewards)
    dr = torch.randn(len(rows), dtype=D)
    (rewards * dr).sum().backward()
    out = {
        "d_rm": d_rm, "d_p": d_p, "d": d, "heads": heads, "omega": omega, "phi_bias": phi_bias,
        "w_q": t(wq), "w_k": t(wk), "w_v": t(wv), "w_o": t(wo), "phi_w": t(phw), "phi_b": phb.item(),
        "dr": t(dr), "rewards": t(rewards),
        "g_w_q": t(wq.grad), "g_w_k": t(wk.grad), "g_w_v": t(wv.grad), "g_w_o": t(wo.grad),
        "g_phi_w": t(phw.grad), "g_phi_b": phb.grad.item() if phi_bias else 0.0,
        "items": [],
    }
    for it in items:
        hgrad = it.pop("_h").grad
        it["dh"] = t(hgrad)
        out["items"].append(it)
    return out


def grebt_case(g, k, alpha, eps, recomputed_select):
    r = (torch.randn(g, k, dtype=D) * 1.5).requires_grad_()
    ann = torch.randn(g, k, dtype=D)
    sel = r.detach() if recomputed_select else ann
    w = sel.argmax(dim=1)
    l = sel.argmin(dim=1)
    rows = torch.arange(g)
    bt = -torch.nn.functional.logsigmoid(r[rows, w] - r[rows, l])
    mean = r.mean(dim=1, keepdim=True)
    std = ((r - mean) ** 2).mean(dim=1, keepdim=True).sqrt() + eps   # population std + eps
    z = (r - mean) / std
    p = torch.softmax(z, dim=1)
    gre = -(p * torch.log_softmax(z, dim=1)).sum(dim=1)
    loss = ((1 - alpha) * bt + alpha * gre).mean()
    loss.backward()
    return {"groups": g, "k": k, "alpha": alpha, "eps": eps, "recomputed": recomputed_select,
            "rewards": t(r), "annotation": t(ann), "loss": loss.item(), "bt": bt.mean().item(),
            "gre": gre.mean().item(), "grad": t(r.grad)}


def policy_case(b, tk, beta, eps, eps_high, agg, max_len):
    logp = (torch.randn(b, tk, dtype=D) * 0.5 - 1.5).requires_grad_()
    old = logp.detach() + torch.randn(b, tk, dtype=D) * 0.3   # some ratios leave [1-eps, 1+eps_high]
    ref = logp.detach() + torch.randn(b, tk, dtype=D) * 0.2
    mask = torch.rand(b, tk) > 0.25
    mask[:, 0] = True
    adv = torch.randn(b, dtype=D)
    rho = torch.exp(logp - old)
    a = adv[:, None]
    per = -torch.min(rho * a, torch.clamp(rho, 1 - eps, 1 + eps_high) * a)
    if beta != 0:
        per = per + beta * (torch.exp(ref - logp) - (ref - logp) - 1)
    m = mask.to(D)
    if agg == "grpo":
        loss = ((per * m).sum(1) / m.sum(1).clamp(min=1)).mean()
    elif agg in ("bnpo", "dapo"):
        loss = (per * m).sum() / m.sum().clamp(min=1)
    else:
        loss = (per * m).sum() / (b * max_len)
    loss.backward()
    return {"b": b, "t": tk, "beta": beta, "eps": eps, "eps_high": eps_high, "agg": agg, "max_len": max_len,
            "logp": t(logp), "old": t(old), "ref": t(ref), "mask": mask.reshape(-1).tolist(), "adv": t(adv),
            "loss": loss.item(), "grad": t(logp.grad)}


def advantage_case(g, k):
    r = torch.randn(g, k, dtype=D)
    mean = r.mean(1, keepdim=True)
    out = {"g": g, "k": k, "rewards": t(r)}
    out["grpo_group_bessel"] = t((r - mean) / (r.std(1, unbiased=True, keepdim=True) + 1e-4))
    out["grpo_group_pop"] = t((r - mean) / (r.std(1, unbiased=False, keepdim=True) + 1e-4))
    out["grpo_batch_bessel"] = t((r - mean) / (r.std(unbiased=True) + 1e-4))
    out["grpo_none"] = t(r - mean)
    out["rloo"] = t(r - (r.sum(1, keepdim=True) - r) / (k - 1))
    return out


ref = {
    "head": [
        head_case(6, 5, 8, 1, 0.7, [4, 1, 5], [[True] * 4, [True], [True, True, False, True, False]], True),
        head_case(7, 4, 8, 2, 0.6, [3, 2], [[True, False, True], [True, True]], False),
    ],
    "grebt": [grebt_case(3, 4, 0.3, 1e-6, False), grebt_case(4, 2, 0.3, 1e-6, False),
              grebt_case(2, 8, 0.5, 1e-6, True), grebt_case(2, 5, 0.0, 1e-6, False), grebt_case(2, 5, 1.0, 1e-6, False)],
    "policy": [policy_case(3, 5, 0.04, 0.2, 0.28, a, 6) for a in ("grpo", "bnpo", "dapo", "dr_grpo")]
              + [policy_case(4, 3, 0.0, 0.2, 0.2, "grpo", 3)],
    "advantages": [advantage_case(3, 4), advantage_case(2, 2)],
}


def head_weights(d_rm, d_p, d):
    """W_q, W_k, W_v, W_o (N(0, 0.3^2)), phi weight (N(0, 1)) and phi bias 0.1, as leaves for autograd."""
    wq = (torch.randn(d_rm, d, dtype=D) * 0.3).requires_grad_()
    wk = (torch.randn(d_p, d, dtype=D) * 0.3).requires_grad_()
    wv = (torch.randn(d_p, d, dtype=D) * 0.3).requires_grad_()
    wo = (torch.randn(d, d_rm, dtype=D) * 0.3).requires_grad_()
    phw = torch.randn(d_rm, dtype=D).requires_grad_()
    return wq, wk, wv, wo, phw, torch.tensor([0.1], dtype=D).requires_grad_()


def head_grebt_case(d_rm, d_p, d, heads, omega, k, rows, masks, alpha, eps):
    """The R2M update end to end: rewards from the head, GREBT on groups of K, autograd to the head's weights."""
    wq, wk, wv, wo, phw, phb = head_weights(d_rm, d_p, d)
    dh = d // heads
    items, rewards = [], []
    for n, m in zip(rows, masks):
        rte = torch.randn(d_rm, dtype=D)
        h = torch.randn(n, d_p, dtype=D)
        mask = torch.tensor(m, dtype=torch.bool)
        q, kk, v = rte @ wq, h @ wk, h @ wv
        ctx = []
        for a in range(heads):
            s_ = (kk[:, a * dh:(a + 1) * dh] @ q[a * dh:(a + 1) * dh]) / math.sqrt(dh)
            p_ = torch.softmax(s_.masked_fill(~mask, float("-inf")), dim=0)
            ctx.append(p_ @ v[:, a * dh:(a + 1) * dh])
        hfin = omega * rte + (1 - omega) * (torch.cat(ctx) @ wo)
        rewards.append(hfin @ phw + phb[0])
        items.append({"rte": t(rte), "h": t(h), "rows": n, "mask": m})
    r = torch.stack(rewards).reshape(-1, k)
    ann = torch.randn(r.shape, dtype=D)
    rows_ = torch.arange(r.shape[0])
    bt = -torch.nn.functional.logsigmoid(r[rows_, ann.argmax(1)] - r[rows_, ann.argmin(1)])
    mean = r.mean(1, keepdim=True)
    z = (r - mean) / (((r - mean) ** 2).mean(1, keepdim=True).sqrt() + eps)
    gre = -(torch.softmax(z, 1) * torch.log_softmax(z, 1)).sum(1)
    loss = ((1 - alpha) * bt + alpha * gre).mean()
    loss.backward()
    return {"d_rm": d_rm, "d_p": d_p, "d": d, "heads": heads, "omega": omega, "k": k, "alpha": alpha, "eps": eps,
            "phi_bias": True, "w_q": t(wq), "w_k": t(wk), "w_v": t(wv), "w_o": t(wo), "phi_w": t(phw), "phi_b": phb.item(),
            "items": items, "annotation": t(ann), "loss": loss.item(),
            "g_w_q": t(wq.grad), "g_w_k": t(wk.grad), "g_w_v": t(wv.grad), "g_w_o": t(wo.grad),
            "g_phi_w": t(phw.grad), "g_phi_b": phb.grad.item()}


# Appended after the cases above so their random draws (and values) stay as they were.
ref["head_grebt"] = [
    head_grebt_case(6, 4, 8, 2, 0.65, 3, [3, 1, 4, 2, 5, 1],
                    [[True] * 3, [True], [True, False, True, True], [True, True], [False, True, True, True, False], [True]],
                    0.3, 1e-6),
    head_grebt_case(5, 7, 4, 1, 0.6, 2, [2, 3, 1, 2], [[True, True], [True, True, False], [True], [False, True]], 0.3, 1e-6),
]

def head_grebt_mixed_case(d_rm, d_p, d, omega, sizes, rows, annotated, alpha, eps):
    """One GREBT update over groups of different K whose items do or do not carry feedback: an item without
    hidden rows is scored phi(H_last) (omega 1), the others at omega; a group with annotation rewards picks its
    pair by them, a group without picks it by the rewards themselves. Loss = mean over groups."""
    wq, wk, wv, wo, phw, phb = head_weights(d_rm, d_p, d)
    items, rewards = [], []
    for n in rows:
        rte = torch.randn(d_rm, dtype=D)
        h = torch.randn(n, d_p, dtype=D)
        if n == 0:
            hfin = rte
        else:
            q, kk, v = rte @ wq, h @ wk, h @ wv
            p_ = torch.softmax((kk @ q) / math.sqrt(d), dim=0)
            hfin = omega * rte + (1 - omega) * ((p_ @ v) @ wo)
        rewards.append(hfin @ phw + phb[0])
        items.append({"rte": t(rte), "h": t(h), "rows": n})
    r = torch.stack(rewards)
    ann = torch.randn(r.shape, dtype=D)
    bts, gres, selection, o = [], [], [], 0
    for k, given in zip(sizes, annotated):
        rg = r[o:o + k]
        sel = ann[o:o + k] if given else rg.detach()
        selection += [x if given else None for x in ann[o:o + k].tolist()]
        bts.append(-torch.nn.functional.logsigmoid(rg[sel.argmax()] - rg[sel.argmin()]))
        mean = rg.mean()
        z = (rg - mean) / (((rg - mean) ** 2).mean().sqrt() + eps)
        gres.append(-(torch.softmax(z, 0) * torch.log_softmax(z, 0)).sum())
        o += k
    bt, gre = torch.stack(bts), torch.stack(gres)
    loss = ((1 - alpha) * bt + alpha * gre).mean()
    loss.backward()
    return {"d_rm": d_rm, "d_p": d_p, "d": d, "heads": 1, "omega": omega, "sizes": sizes, "alpha": alpha, "eps": eps,
            "phi_bias": True, "w_q": t(wq), "w_k": t(wk), "w_v": t(wv), "w_o": t(wo), "phi_w": t(phw), "phi_b": phb.item(),
            "items": items, "selection": selection, "rewards": t(r), "loss": loss.item(), "bt": bt.mean().item(), "gre": gre.mean().item(),
            "g_w_q": t(wq.grad), "g_w_k": t(wk.grad), "g_w_v": t(wv.grad), "g_w_o": t(wo.grad),
            "g_phi_w": t(phw.grad), "g_phi_b": phb.grad.item()}


# Appended last, as above, so the earlier cases keep their draws.
ref["head_grebt_mixed"] = [
    head_grebt_mixed_case(6, 4, 8, 0.7, [3, 2, 4], [2, 0, 3, 1, 2, 0, 4, 1, 3], [True, False, True], 0.3, 1e-6),
]

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "reference.json")
with open(out, "w") as f:
    json.dump(ref, f)
print("wrote " + out)
