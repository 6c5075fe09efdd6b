"""The ARGN network: every token sub-column predicted from the ones before it, in any column order.

A table encoded by ``DataTransformer.transform_tokens`` is a matrix of ``K`` integer
sub-columns (a categorical's level code; a number's coarse bin and fine sub-bin). The network
models the joint distribution autoregressively, ``p(x) = prod_t p(x_t | x_<t)``, where "<"
follows a *column order* chosen per batch while training (so every order is learned) and per
call while sampling (fixed columns first, so any subset of columns can be conditioned on).
A column's own sub-columns always stay in their encoded order (coarse before fine).

Architecture (one batched forward for all sub-columns, MADE-style):

1. every sub-column ``s`` has an embedding table ``(V_s, E)``; the ``K`` embeddings of a row
   are concatenated into a ``K*E`` vector;
2. every target sub-column ``t`` owns a first layer ``(K*E) -> H``; all ``K`` of them are one
   stacked weight ``(K*E, K*H)`` multiplied by a 0/1 *visibility* mask built from the order
   (block ``(s, t)`` is 1 when ``s`` comes before ``t``), so one matrix product computes
   every target's pre-activation from exactly its predecessors;
3. ``depth - 1`` further ``H -> H`` layers per target, batched as one ``bmm`` over the
   ``K`` targets;
4. an output layer per target ``H -> V_max`` (stacked, vocabularies padded to the largest;
   padded logits are masked out), trained with cross-entropy against the true code.

Sampling walks the order one sub-column at a time. Because the first layer is linear in the
embeddings, ``emb_s[v] @ W1[s, t]`` is precomputed for every source code ``v`` into a table
per target, so a step costs an ``embedding_bag`` sum over the already drawn codes, the
target's small MLP, and an inverse-CDF draw from one seeded uniform per row: no work grows
with the number of rows beyond that.

Context hook (multi-table and sequential data, a later issue): ``context_dim > 0`` adds a
``context_dim -> K*H`` linear map whose output is added to every target's first-layer
pre-activation; ``forward``/``sample`` then take a ``context`` tensor of shape
``(B, context_dim)`` (e.g. a parent row's embedding). With ``context_dim == 0`` (now) the
parameter does not exist and ``context`` must be None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

_NEG = -1.0e9  # logit of a padded (impossible) code


def visibility(order: Sequence[int], column_of: Sequence[int], shared: Sequence[bool] | None = None) -> torch.Tensor:
    """``(K, K)`` bool: ``vis[t, s]`` when sub-column ``s`` is an input of ``t`` under the column ``order``.

    ``order`` lists column indices (every column once); ``column_of[k]`` is the column of
    sub-column ``k``. Sub-columns of one column keep their encoded order. ``s`` is an input
    of ``t`` when it comes before ``t`` and, if ``shared`` is given, either ``shared[s]`` or
    both belong to the same column (a number's fine sub-bin informs its own column only).
    """
    column_of_t = torch.as_tensor(list(column_of), dtype=torch.long)
    rank_of_column = torch.empty(len(order), dtype=torch.long)
    rank_of_column[torch.as_tensor(list(order), dtype=torch.long)] = torch.arange(len(order))
    # position of each sub-column in the full order: column rank first, then its index in the column
    key = rank_of_column[column_of_t] * (len(column_of_t) + 1) + torch.arange(len(column_of_t))
    vis = key[None, :] < key[:, None]
    if shared is not None:
        same_column = column_of_t[None, :] == column_of_t[:, None]
        vis &= same_column | torch.as_tensor(list(shared), dtype=torch.bool)[None, :]
    return vis


def sub_column_order(order: Sequence[int], column_of: Sequence[int]) -> list[int]:
    """Sub-column indices in the sequence a column ``order`` generates them."""
    by_column: dict[int, list[int]] = {}
    for k, c in enumerate(column_of):
        by_column.setdefault(int(c), []).append(k)
    return [k for c in order for k in by_column.get(int(c), [])]


def embedding_width(vocab_size: int, cap: int) -> int:
    """Embedding width of a sub-column: grows with the vocabulary, never above it nor ``cap``."""
    return max(1, min(vocab_size, cap, 2 * math.ceil(vocab_size**0.5)))


def output_buckets(vocab_sizes: Sequence[int]) -> list[list[int]]:
    """Sub-columns grouped by vocabulary size class (powers of two), so padding stays below 2x."""
    groups: dict[int, list[int]] = {}
    for k, v in enumerate(vocab_sizes):
        groups.setdefault(max(0, math.ceil(math.log2(max(v, 1)))), []).append(k)
    return [groups[size] for size in sorted(groups)]


class ARGNNetwork(nn.Module):
    """Order-agnostic autoregressive network over token sub-columns (see the module docstring).

    ``vocab_sizes[k]`` is sub-column ``k``'s vocabulary, ``column_of[k]`` its column index;
    ``embedding_dim`` caps the per-sub-column embedding width (``embedding_width``),
    ``hidden_dim`` H, ``depth`` >= 1 hidden layers per target, ``dropout`` on the
    embeddings while training; ``context_dim`` the width of an optional parent-row context
    (0: none). ``log_priors`` (optional, one vector per sub-column) initialise the output
    biases at the empirical log-frequencies, so training starts from the marginals.
    ``shared[k]`` (default all True): whether sub-column ``k`` is an input of other columns'
    predictors (``visibility``); the sampler's tables follow the same rule.

    Output layers are stacked per *bucket* of sub-columns with similar vocabularies
    (``output_buckets``) and padded to the bucket's largest, so a 2-level column does not pay
    for a 100-level one.
    """

    def __init__(
        self,
        *,
        vocab_sizes: Sequence[int],
        column_of: Sequence[int],
        embedding_dim: int,
        hidden_dim: int,
        depth: int,
        dropout: float,
        hidden_dropout: float = 0.0,
        context_dim: int = 0,
        log_priors: Sequence[torch.Tensor] | None = None,
        shared: Sequence[bool] | None = None,
    ) -> None:
        super().__init__()
        if len(vocab_sizes) != len(column_of) or not vocab_sizes:
            raise ValueError("vocab_sizes and column_of must name the same, non-empty list of sub-columns")
        self.vocab_sizes = [int(v) for v in vocab_sizes]
        self.column_of = [int(c) for c in column_of]
        self.shared = [True] * len(self.column_of) if shared is None else [bool(x) for x in shared]
        self.n_columns = max(self.column_of) + 1
        self.k = k = len(self.vocab_sizes)
        self.e = e = int(embedding_dim)
        self.h = h = int(hidden_dim)
        self.depth = int(depth)
        self.context_dim = int(context_dim)
        self.widths = [embedding_width(v, e) for v in self.vocab_sizes]
        offsets = torch.zeros(k, dtype=torch.long)
        offsets[1:] = torch.cumsum(torch.as_tensor(self.vocab_sizes[:-1]), 0)
        self.register_buffer("offsets", offsets, persistent=False)
        # columns of the (B, K*E) embedding matrix each sub-column keeps, and their source sub-column
        keep = [s * e + j for s, w in enumerate(self.widths) for j in range(w)]
        self.register_buffer("keep", torch.as_tensor(keep, dtype=torch.long), persistent=False)
        self.register_buffer("row_source", torch.as_tensor([s for s, w in enumerate(self.widths) for _ in range(w)]), persistent=False)
        self.d_in = d_in = len(keep)

        # targets are stored in *slots*: sub-columns grouped by output bucket, so each bucket's
        # hidden units are one contiguous split of the (K, B, H) activations
        self.buckets = output_buckets(self.vocab_sizes)
        slots = [t for members in self.buckets for t in members]
        self.slot_of = {t: i for i, t in enumerate(slots)}
        self.register_buffer("slots", torch.as_tensor(slots, dtype=torch.long), persistent=False)

        self.embedding = nn.Embedding(sum(self.vocab_sizes), e)
        nn.init.normal_(self.embedding.weight, std=1.0)
        bound = 1.0 / math.sqrt(d_in)
        self.w_in = nn.Parameter(torch.empty(d_in, k, h).uniform_(-bound, bound))  # [source feature, target slot, H]
        self.b_in = nn.Parameter(torch.zeros(k, h))
        bound_h = 1.0 / math.sqrt(h)
        self.w_hidden = nn.Parameter(torch.empty(self.depth - 1, k, h, h).uniform_(-bound_h, bound_h))
        self.b_hidden = nn.Parameter(torch.zeros(self.depth - 1, k, h))
        self.w_out = nn.ParameterList()
        self.b_out = nn.ParameterList()
        for i, members in enumerate(self.buckets):
            width = max(self.vocab_sizes[t] for t in members)
            self.w_out.append(nn.Parameter(torch.empty(len(members), h, width).uniform_(-bound_h, bound_h)))
            bias = torch.zeros(len(members), width)
            pad = torch.zeros(len(members), 1, width)
            for j, t in enumerate(members):
                pad[j, 0, self.vocab_sizes[t] :] = _NEG  # padded codes: never predicted
                if log_priors is not None:
                    bias[j, : self.vocab_sizes[t]] = torch.as_tensor(log_priors[t], dtype=torch.float32)
            self.b_out.append(nn.Parameter(bias))
            self.register_buffer(f"pad_{i}", pad, persistent=False)
        if self.context_dim:
            self.w_context = nn.Parameter(torch.zeros(self.context_dim, k * h))
        self.dropout = nn.Dropout(float(dropout))
        self.hidden_dropout = nn.Dropout(float(hidden_dropout))

    # -- training ----------------------------------------------------------------------------
    def hidden(self, tokens: torch.Tensor, vis: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """``(K, B, H)`` last hidden layer of every sub-column given its predecessors under ``vis``.

        ``tokens``: ``(B, K)`` int64 codes (teacher forcing); ``vis``: ``(K, K)`` bool from
        ``visibility``; ``context``: ``(B, context_dim)`` or None.
        """
        return self._hidden(tokens, vis, context, None)

    def loss(self, tokens: torch.Tensor, vis: torch.Tensor, context: torch.Tensor | None = None) -> torch.Tensor:
        """Per-row negative log-likelihood (nats, summed over sub-columns), shape ``(B,)``."""
        return self._loss(tokens, vis, context, None)

    def loss_and_gradient_norms(self, tokens: torch.Tensor, vis: torch.Tensor, context: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-row loss ``(B,)`` (with its graph) and the L2 norm of each row's gradient over all parameters.

        For DP-SGD's clipping without materialising per-row gradients ("ghost" norms, Goodfellow
        2015; Li et al. 2022): every parameter enters a row's loss through one linear map of
        that row's own activations, so a row's gradient of it is an outer product (a masked
        one for ``w_in``) whose squared norm is a product of the two factors' squared norms.
        One extra backward pass gives the gradients at the maps' outputs. Rows never interact
        (no batch statistics), so the gradient of the summed loss at row ``i``'s activations is
        row ``i``'s own. Equal to the norms of ``torch.func`` per-row gradients (tested).
        """
        record: dict[str, list[torch.Tensor]] = {"inputs": [], "outputs": []}
        losses = self._loss(tokens, vis, context, record)
        grads = torch.autograd.grad(losses.sum(), record["outputs"], retain_graph=True)
        sq = torch.zeros(tokens.shape[0], dtype=losses.dtype, device=losses.device)
        for kind, x, g in zip(record["kinds"], record["inputs"], grads):
            g2 = g.detach().pow(2)
            if kind == "embedding":  # rows of the table a row touches are distinct sub-columns' codes
                sq += g2.sum((1, 2))
            elif kind == "first":  # w_in masked by visibility, b_in; x (B, d_in), g (B, K*H)
                per_target = g2.reshape(g2.shape[0], self.k, self.h).sum(2)  # (B, K slots)
                sq += per_target.sum(1) + ((x.detach().pow(2) @ record["mask"]) * per_target).sum(1)
            elif kind == "context":  # w_context: x (B, C), g (B, K*H)
                sq += x.detach().pow(2).sum(1) * g2.sum(1)
            else:  # per-target weight and bias: x (K_t, B, H_in), g (K_t, B, H_out)
                sq += (g2.sum(2) * (1.0 + x.detach().pow(2).sum(2))).sum(0)
        return losses, sq.sqrt()

    def _hidden(self, tokens: torch.Tensor, vis: torch.Tensor, context: torch.Tensor | None, record: dict | None) -> torch.Tensor:
        b = tokens.shape[0]
        table_rows = self.embedding(tokens + self.offsets)  # (B, K, E)
        emb = self.dropout(table_rows.reshape(b, self.k * self.e).index_select(1, self.keep))
        visible = vis.index_select(0, self.slots).t().to(self.w_in.dtype)  # [source, target slot]
        feature_mask = visible.index_select(0, self.row_source)  # [feature, target slot]
        w = (self.w_in * feature_mask[:, :, None]).reshape(self.d_in, self.k * self.h)
        pre = torch.addmm(self.b_in.reshape(1, -1), emb, w)
        pre = self._add_context(pre, context)
        if record is not None:
            record["kinds"] = ["embedding", "first"]
            record["mask"] = feature_mask
            record["inputs"] += [table_rows, emb]
            record["outputs"] += [table_rows, pre]
            if self.context_dim:  # the context map's output is the same pre-activation
                record["kinds"].append("context")
                record["inputs"].append(context)
                record["outputs"].append(pre)
        x = torch.relu(pre).reshape(b, self.k, self.h).transpose(0, 1)  # (K slots, B, H)
        for layer in range(self.depth - 1):
            inputs = self.hidden_dropout(x)
            out = torch.baddbmm(self.b_hidden[layer][:, None, :], inputs, self.w_hidden[layer])
            if record is not None:
                record["kinds"].append("per-target")
                record["inputs"].append(inputs)
                record["outputs"].append(out)
            x = torch.relu(out)
        return self.hidden_dropout(x)

    def _loss(self, tokens: torch.Tensor, vis: torch.Tensor, context: torch.Tensor | None, record: dict | None) -> torch.Tensor:
        x = self._hidden(tokens, vis, context, record)
        sizes = [len(members) for members in self.buckets]
        targets = tokens.index_select(1, self.slots).t()  # (K slots, B)
        total = None
        for i, (xb, tb) in enumerate(zip(torch.split(x, sizes), torch.split(targets, sizes))):
            w, bias = self.w_out[i], self.b_out[i]
            logits = torch.baddbmm(bias[:, None, :] + getattr(self, f"pad_{i}"), xb, w)  # (K_b, B, P_b)
            if record is not None:
                record["kinds"].append("per-target")
                record["inputs"].append(xb)
                record["outputs"].append(logits)
            nll = F.cross_entropy(logits.reshape(-1, w.shape[2]), tb.reshape(-1), reduction="none")
            part = nll.reshape(sizes[i], -1).sum(0)
            total = part if total is None else total + part
        return total

    def _add_context(self, pre: torch.Tensor, context: torch.Tensor | None) -> torch.Tensor:
        if context is None:
            if self.context_dim:
                raise ValueError(f"this network expects a context of width {self.context_dim}")
            return pre
        if not self.context_dim or context.shape[-1] != self.context_dim:
            raise ValueError(f"context width {context.shape[-1]} does not match the network's context_dim {self.context_dim}")
        return pre + context @ self.w_context

    def _output(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Sub-column ``t``'s output weight ``(H, V_t)`` and bias ``(V_t,)``, padding dropped."""
        for i, members in enumerate(self.buckets):
            if t in members:
                j = members.index(t)
                v = self.vocab_sizes[t]
                return self.w_out[i][j, :, :v], self.b_out[i][j, :v]
        raise IndexError(t)

    # -- sampling ----------------------------------------------------------------------------
    @torch.no_grad()
    def plan(self, order: Sequence[int]) -> SamplingPlan:
        """Precomputed per-step tables for generating in column ``order`` (see ``SamplingPlan``)."""
        steps = sub_column_order(order, self.column_of)
        device = self.embedding.weight.device
        emb = self.embedding.weight
        feature_start = torch.zeros(self.k, dtype=torch.long)
        feature_start[1:] = torch.cumsum(torch.as_tensor(self.widths[:-1]), 0)
        steps_out: list[PlanStep] = []
        for i, t in enumerate(steps):
            slot = self.slot_of[t]
            sources = [s for s in steps[:i] if self.shared[s] or self.column_of[s] == self.column_of[t]]
            if sources:
                blocks = []
                for s in sources:
                    rows = emb[self.offsets[s] : self.offsets[s] + self.vocab_sizes[s], : self.widths[s]]
                    start = int(feature_start[s])
                    blocks.append(rows @ self.w_in[start : start + self.widths[s], slot, :])
                table = torch.cat(blocks)
                src = torch.as_tensor(sources, dtype=torch.long, device=device)
                local = torch.zeros(len(sources), dtype=torch.long, device=device)
                local[1:] = torch.cumsum(torch.as_tensor([self.vocab_sizes[s] for s in sources[:-1]], device=device), 0)
            else:
                src = local = table = None
            w_out, b_out = self._output(t)
            steps_out.append(
                PlanStep(
                    target=t,
                    sources=src,
                    source_offsets=local,
                    table=table,
                    bias=self.b_in[slot].clone(),
                    context_weight=self.w_context[:, slot * self.h : (slot + 1) * self.h].clone() if self.context_dim else None,
                    hidden=[(self.w_hidden[layer, slot].clone(), self.b_hidden[layer, slot].clone()) for layer in range(self.depth - 1)],
                    w_out=w_out.clone(),
                    b_out=b_out.clone(),
                )
            )
        return SamplingPlan(order=[int(c) for c in order], steps=steps_out)


@dataclass
class PlanStep:
    """What generating one sub-column needs: its predecessors' lookup table and its small MLP."""

    target: int
    sources: torch.Tensor | None  # sub-columns already drawn (None for the first step)
    source_offsets: torch.Tensor | None  # where each source's codes start in ``table``
    table: torch.Tensor | None  # (sum of source vocabularies, H): emb @ W_in for this target
    bias: torch.Tensor
    context_weight: torch.Tensor | None
    hidden: list[tuple[torch.Tensor, torch.Tensor]]
    w_out: torch.Tensor
    b_out: torch.Tensor


@dataclass
class SamplingPlan:
    """A network's weights rearranged for generation in one column order."""

    order: list[int]
    steps: list[PlanStep]

    @torch.no_grad()
    def sample(
        self,
        codes: torch.Tensor,
        fixed: torch.Tensor,
        *,
        generator: torch.Generator,
        temperature: float = 1.0,
        top_p: float = 1.0,
        context: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Fill ``codes`` ``(B, K)`` in this plan's order; sub-columns with ``fixed[k]`` keep their codes.

        One seeded uniform per row and step drives an inverse-CDF draw, so results depend only
        on the generator's seed, the weights and the fixed values.
        """
        b = codes.shape[0]
        for step in self.steps:
            t = step.target
            if bool(fixed[t]):
                continue
            if step.table is not None:
                idx = codes[:, step.sources] + step.source_offsets
                pre = F.embedding_bag(idx, step.table, mode="sum") + step.bias
            else:
                pre = step.bias.expand(b, -1)
            if step.context_weight is not None:
                if context is None:
                    raise ValueError("this network was trained with a context; pass one to sample")
                pre = pre + context @ step.context_weight
            x = torch.relu(pre)
            for w, bias in step.hidden:
                x = torch.relu(torch.addmm(bias, x, w))
            logits = torch.addmm(step.b_out, x, step.w_out)
            codes[:, t] = draw(logits, generator=generator, temperature=temperature, top_p=top_p)
        return codes


def draw(logits: torch.Tensor, *, generator: torch.Generator, temperature: float = 1.0, top_p: float = 1.0) -> torch.Tensor:
    """One code per row from ``softmax(logits / temperature)``, restricted to the top-p nucleus.

    Inverse CDF with one uniform per row: much faster than ``torch.multinomial`` on CPU and
    deterministic for a seeded generator. ``logits`` is overwritten.
    """
    if temperature != 1.0:
        logits.div_(max(temperature, 1e-3))
    weights = logits.sub_(logits.amax(dim=1, keepdim=True)).exp_()
    if top_p < 1.0:
        sorted_w, order = torch.sort(weights, dim=1, descending=True)
        cum = torch.cumsum(sorted_w, dim=1)
        # keep a code while the mass before it is below top_p (the most likely code always stays)
        keep_sorted = (cum - sorted_w) < top_p * cum[:, -1:]
        weights = torch.zeros_like(weights).scatter_(1, order, sorted_w * keep_sorted)
    cdf = weights.cumsum_(dim=1)
    u = torch.rand(cdf.shape[0], 1, generator=generator, device=cdf.device, dtype=cdf.dtype).mul_(cdf[:, -1:])
    return torch.searchsorted(cdf, u, right=True).squeeze_(1).clamp_(max=cdf.shape[1] - 1)


__all__ = ["ARGNNetwork", "PlanStep", "SamplingPlan", "draw", "sub_column_order", "visibility"]
