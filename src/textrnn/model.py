"""The classifier: embedding -> recurrent layer -> pooling over time (of the outputs, and
with ``cfg.pool_words`` of the embeddings too) -> dropout -> linear;
with ``cfg.members`` > 1, several of them side by side, their probabilities averaged."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .config import Config
from .layers import GRU, RNN, Dropout


def pool(outputs: Tensor, h_n: Tensor, mask: Tensor | None, how: str,
         num_directions: int, score: nn.Linear | None = None) -> Tensor:
    """Summarise ``(B, T, D)`` outputs as ``(B, D)`` (``2D`` for 'meanmax').

    'last' is the final state of the top layer (both directions concatenated): what
    the assignment uses, and the weakest on long texts, since everything must survive
    to the last step. 'mean', 'max' and 'attention' (weights from ``score``) look at
    every step and ignore padding.
    """
    if how == "attention":
        return attend(outputs, mask, score)
    if how == "last":
        return torch.cat(list(h_n[-num_directions:]), dim=-1)
    if mask is None:
        mask = outputs.new_ones(outputs.shape[:2], dtype=torch.bool)
    m = mask.unsqueeze(-1)
    mean = (outputs * m).sum(1) / m.sum(1).clamp(min=1)
    if how == "mean":
        return mean
    mx = outputs.masked_fill(~m, float("-inf")).amax(1)
    mx = torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))  # all-padding rows
    return mx if how == "max" else torch.cat([mean, mx], dim=-1)


def attend(outputs: Tensor, mask: Tensor | None, score: nn.Linear) -> Tensor:
    """Attention pooling: a learned weighting of the steps, ``softmax_t(w · o_t)``, so
    the model can lean on the few words that carry the topic instead of all of them."""
    logits = score(outputs).squeeze(-1)                        # (B, T)
    if mask is not None:
        logits = logits.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(logits, dim=1).nan_to_num(0.0)     # all-padding rows -> 0
    return torch.einsum("bt,btd->bd", weights, outputs)


class RecurrentClassifier(nn.Module):
    r"""One recurrent text classifier:

    .. math::
        x_t = \mathrm{dropout}(E[w_t]), \quad o_t = \mathrm{RNN}(x_{1..T})_t, \quad
        v_t = [o_t; x_t] \text{ if pool\_words else } o_t, \quad
        f(w) = W\,\mathrm{dropout}(\mathrm{pool}_t(v_t)) + b

    where ``pool`` is the mean, the maximum, both side by side ('meanmax'), an attention
    weighting over the steps, or the final state ('last'), padding ignored.

    Args:
        vocab_size: rows of the embedding ``E`` (id 0 is padding).
        num_classes: outputs of the head.
        cfg: the :class:`~textrnn.config.Config` (cell, widths, pooling, dropout, ...).

    Inputs: ``ids`` ``(B, T)`` token ids (0 = padding).

    Outputs: ``(B, num_classes)`` logits.
    """

    def __init__(self, vocab_size: int, num_classes: int, cfg: Config) -> None:
        super().__init__()
        self.cfg = cfg
        self.embedding = nn.Embedding(vocab_size, cfg.embedding_dim,
                                      padding_idx=0 if cfg.mask else None)
        if cfg.embedding_init:
            # Small embeddings (Keras' default) rather than N(0, 1): a few thousand
            # training documents cannot move thousands of large random vectors far from
            # where they start. To measure it, train with embedding_init=0 (torch's
            # N(0, 1)) beside the default, e.g. TextClassifier("gru", embedding_init=0),
            # and compare val accuracy.
            nn.init.uniform_(self.embedding.weight, -cfg.embedding_init, cfg.embedding_init)
            if cfg.mask:
                with torch.no_grad():
                    self.embedding.weight[0].zero_()
        layer = GRU if cfg.model == "gru" else RNN
        self.rnn = layer(cfg.embedding_dim, cfg.hidden_size, num_layers=cfg.num_layers,
                         bidirectional=cfg.bidirectional, dropout=cfg.dropout, impl=cfg.impl)
        self.dropout = Dropout(cfg.dropout)
        features = cfg.hidden_size * self.rnn.num_directions
        if cfg.pool_words:   # each step's vector is [recurrent output; word embedding]
            features += cfg.embedding_dim
        self.score = nn.Linear(features, 1, bias=False) if cfg.pooling == "attention" else None
        self.head = nn.Linear(features * (2 if cfg.pooling == "meanmax" else 1), num_classes)

    def forward(self, ids: Tensor) -> Tensor:
        """``(B, T)`` token ids (0 = padding) to ``(B, num_classes)`` logits."""
        if self.cfg.window and ids.shape[1] > self.cfg.window:
            return self._forward_windows(ids)
        mask = ids != 0 if self.cfg.mask else None
        outputs, h_n = self._read(ids, mask)
        features = pool(outputs, h_n, mask, self.cfg.pooling, self.rnn.num_directions, self.score)
        return self.head(self.dropout(features))

    def _read(self, ids: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        """Embed and run the recurrence: ``(B, T, D)`` per-step vectors (the outputs, with
        ``cfg.pool_words`` the word embeddings after them) and the final states."""
        x = self.dropout(self.embedding(ids))
        outputs, h_n = self.rnn(x, mask=mask)
        if self.cfg.pool_words:
            outputs = torch.cat([outputs, x], dim=-1)
        return outputs, h_n

    def _forward_windows(self, ids: Tensor) -> Tensor:
        """Read a long document as windows of ``cfg.window`` tokens, each from a fresh
        state, then pool the outputs of all windows together as one sequence.

        The recurrence is sequential in time, so a batch of 32 documents of 2,000 tokens
        takes 2,000 small steps; cut into windows of 250 it takes 250 steps over up to
        256 rows, larger products per step. What is lost is the state carried across a
        window boundary; mean, max or attention pooling over every step still summarise
        the whole text. On 20 Newsgroups val (benchmarks/recipe.py), 2,000 tokens in
        windows of 250 scored below 1,000 tokens read in one pass, so it is not default.
        """
        B, T = ids.shape
        W = self.cfg.window
        n = -(-T // W)
        rows = nn.functional.pad(ids, (0, n * W - T)).view(B * n, W)
        real = (rows != 0).any(1)                       # windows wholly past the end: skip
        out, _ = self._read(rows[real], rows[real] != 0)
        outputs = out.new_zeros(B * n, W, out.shape[-1])
        outputs[real] = out
        outputs, mask = outputs.view(B, n * W, -1), (rows != 0).view(B, n * W)
        features = pool(outputs, None, mask, self.cfg.pooling, self.rnn.num_directions,
                        self.score)
        return self.head(self.dropout(features))


class Ensemble(nn.Module):
    r"""``K = cfg.members`` recurrent classifiers side by side; one prediction, the mean
    of their probabilities:

    .. math::
        p(y \mid x) = \frac{1}{K} \sum_{k=1}^{K} \mathrm{softmax}(f_k(x))_y

    Each member has its own initial weights and dropout and learns from its own loss on
    the same batches (independent members, as an ensemble of separate trainings, not one
    network trained on the averaged output, whose members would stop differing). On a
    CPU a step costs about its multiply-adds, so K members cost K models per step: an
    ensemble fits one model's budget with fewer steps per member (the RNN's default:
    two members, half the steps each) or narrower members (the GRU's: three members of
    half the width, each for 1,500 steps).

    Args:
        vocab_size, num_classes, cfg: as :class:`RecurrentClassifier`; each member is one.

    Inputs: ``ids`` ``(B, T)`` token ids (0 = padding).

    Outputs: in training mode ``(B, K, num_classes)``, each member's logits (the
    training loss is the sum of their cross-entropies, so that each member gets its own
    gradient: :func:`textrnn.distributed.loss_and_stats`);
    in eval mode ``(B, num_classes)``, ``log p(y | x)``: logits whose softmax is the
    averaged probabilities.
    """

    def __init__(self, vocab_size: int, num_classes: int, cfg: Config,
                 members: int | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.members = nn.ModuleList(RecurrentClassifier(vocab_size, num_classes, cfg)
                                     for _ in range(members or cfg.members))

    def forward(self, ids: Tensor) -> Tensor:
        logits = torch.stack([m(ids) for m in self.members], dim=1)
        return logits if self.training else average_probabilities(logits)


def average_probabilities(logits: Tensor) -> Tensor:
    """``(B, K, C)`` members' logits -> ``(B, C)`` log of their mean probabilities."""
    return torch.logsumexp(torch.log_softmax(logits, dim=-1), dim=1) - math.log(logits.shape[1])


def build(vocab_size: int, num_classes: int, cfg: Config,
          members: int | None = None) -> nn.Module:
    """The model a configuration describes: one :class:`RecurrentClassifier`, or an
    :class:`Ensemble` of ``members`` (default ``cfg.members``; a fit passes the number
    :func:`textrnn.train.planned_members` gives for its corpus)."""
    members = members or cfg.members
    if members > 1:
        return Ensemble(vocab_size, num_classes, cfg, members)
    return RecurrentClassifier(vocab_size, num_classes, cfg)


def classifiers(model: nn.Module) -> list[RecurrentClassifier]:
    """The recurrent classifiers inside ``model`` (itself, or an ensemble's members)."""
    return [m for m in model.modules() if isinstance(m, RecurrentClassifier)]
