"""The training loop: Adam, cross-entropy, clipping, early stopping, best weights kept.

Kept apart from the estimator (:mod:`textrnn.api`) so that the loop reads top to
bottom on one screen, like nanoGPT's train.py.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from contextlib import nullcontext

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from . import distributed
from .config import MAX_MEMBERS, Config
from .model import classifiers
from .resume import (Checkpoints, TrainingInterrupted, TrainState, catch_signals, fingerprint,
                     test_hook)
from .token_ids import row_lengths


def batches(n: int, batch_size: int, generator: torch.Generator | None = None):
    """Index batches over ``n`` items, shuffled when a generator is given."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for i in range(0, n, batch_size):
        yield order[i:i + batch_size]


def bucketed_batches(lengths: Tensor, batch_size: int, generator: torch.Generator,
                     pool: int = 16):
    """Shuffled batches of similar length: shuffle, sort each pool of ``pool`` batches
    by length, cut into batches, shuffle the batches. With padding trimmed per batch,
    a batch then costs about its own documents' length, not the longest in the corpus."""
    order = torch.randperm(len(lengths), generator=generator)
    chunks = []
    for i in range(0, len(order), batch_size * pool):
        part = order[i:i + batch_size * pool]
        part = part[torch.argsort(lengths[part], stable=True)]
        chunks += list(part.split(batch_size))
    return [chunks[i] for i in torch.randperm(len(chunks), generator=generator)]


def trim(ids: Tensor) -> Tensor:
    """Drop the columns that are padding in every row of the batch: a batch of short
    texts then costs only its own length, not ``maxlen``."""
    real = (ids != 0).any(0).nonzero()
    if len(real) == 0:
        return ids[:, :1]
    return ids[:, int(real[0]):int(real[-1]) + 1]


@torch.inference_mode()
def predict_logits(model: nn.Module, ids: Tensor, batch_size: int = 256,
                   device: str = "cpu", trim_padding: bool = True) -> Tensor:
    model.eval()
    out = [model(trim(ids[b]).to(device) if trim_padding else ids[b].to(device)).float().cpu()
           for b in batches(len(ids), batch_size)]
    return torch.cat(out) if out else torch.empty(0)


def evaluate(model: nn.Module, ids: Tensor, y: Tensor, device: str,
             trim_padding: bool) -> tuple[float, float]:
    logits = predict_logits(model, ids, device=device, trim_padding=trim_padding)
    loss = nn.functional.cross_entropy(logits, y).item()
    return loss, (logits.argmax(1) == y).float().mean().item()


def fit(model: nn.Module, cfg: Config, train: tuple[Tensor, Tensor],
        val: tuple[Tensor, Tensor] | None, device: str = "cpu", verbose: bool = True,
        checkpoints: Checkpoints | None = None,
        on_batch: Callable[[TrainState], None] | None = None) -> list[dict]:
    """Train in place and leave the best weights by validation loss (``cfg.select='loss'``)
    or by validation accuracy, ties broken by loss (``'acc'``), in ``model``; with
    ``cfg.average`` N > 1, the mean of the weights of the N best epochs.

    Returns the history: one dict per epoch with train/val loss and accuracy, the
    epoch's training time (``seconds``, without the validation pass) and training speed
    (``tokens_per_second``: the non-padding tokens of the epoch's batches, before word
    dropout, over ``seconds``; the progress bar shows it as ``tok/s``).
    Padding-only columns are trimmed from each batch only when the model masks
    padding; the seed preset feeds padding as input, so it sees every column.

    With ``checkpoints``, the loop's whole state is saved at the end of each epoch (and
    every ``checkpoints.save_every`` batches), restored first when resuming, and saved
    on SIGINT / SIGTERM before raising :class:`TrainingInterrupted`: a resumed run ends
    bit for bit where an uninterrupted one would (:mod:`textrnn.resume`).

    ``on_batch(state)`` is called after each optimizer step (benchmarks time the loop
    with it, and stop it by raising).

    Work per step is O(batch): rows gathered by index from ``x`` (which may be
    memory-mapped, :mod:`textrnn.token_ids`), their padding trimmed; what is O(corpus),
    the shuffled batch order, is drawn once per epoch.
    """
    model.to(device)
    # fused: one kernel per parameter instead of ~10 (same update; a third of the
    # optimizer's time on the 2.6M-weight embedding)
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point
                for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay,
                           fused=fused or None)
    epochs = planned_epochs(cfg, len(train[0]))
    steps = epochs * -(-len(train[0]) // cfg.batch_size)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if cfg.schedule == "cosine"
             else None)
    gen = torch.Generator().manual_seed(cfg.seed)
    x, y = train
    lengths = row_lengths(x)
    state = TrainState()
    net = distributed.wrap(model, device)  # DDP under torchrun, else the model itself
    members = classifiers(model) or [model]
    if checkpoints is not None:
        checkpoints.bind(cfg, fingerprint(x, y, *(val or ())), model, opt, sched, gen)
        if checkpoints.resume and (path := checkpoints.restore(state)) and verbose:
            tqdm.write(f"resuming from {path} (epoch {state.epoch + 1}, batch {state.batch})")
    # SIGINT / SIGTERM: save, then stop (without checkpoints they keep their usual effect;
    # under torchrun too: ranks would catch them at different batches, and torchrun's
    # restart goes on from the last checkpoint)
    catch = checkpoints is not None and not distributed.active()
    with catch_signals() if catch else nullcontext([]) as caught:
        while not state.done(epochs):
            if not state.order:
                state.start_epoch(bucketed_batches(lengths, cfg.batch_size, gen) if cfg.bucket
                                  else list(batches(len(x), cfg.batch_size, gen)))
            model.train()
            bar = tqdm(total=len(state.order), initial=state.batch, disable=not verbose,
                       desc=f"epoch {state.epoch + 1}/{epochs}", leave=False, unit="batch")
            for b in state.order[state.batch:]:
                xb = trim(x[b]) if cfg.mask else x[b]
                if cfg.word_dropout:  # a deleted token becomes padding: the masked cell skips it
                    xb = xb.masked_fill(torch.rand(xb.shape, generator=gen) < cfg.word_dropout, 0)
                # under torchrun: this rank's rows of the global batch (all of it alone)
                rows, weight = distributed.my_rows(len(b))
                distributed.seed_step(cfg.seed, state.step)
                xb = xb[rows].to(device)
                yb = y[b][rows].to(device)
                logits = net(xb)
                loss, mean_loss, correct = distributed.loss_and_stats(
                    logits, yb, len(b), weight, cfg.label_smoothing)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.clip:  # each member of an ensemble on its own, as if trained alone
                    for member in members:
                        nn.utils.clip_grad_norm_(member.parameters(), cfg.clip)
                opt.step()
                if sched is not None:
                    sched.step()
                state.add_batch(len(b), mean_loss, correct, int(lengths[b].sum()))
                bar.update()
                bar.set_postfix(loss=f"{state.loss_sum / state.seen:.4f}",
                                acc=f"{state.correct / state.seen:.4f}",
                                **{"tok/s": f"{state.tokens / state.epoch_seconds():,.0f}"})
                if on_batch is not None:
                    on_batch(state)
                if checkpoints is not None:
                    test_hook("batch")
                    if caught:
                        raise _interrupted(caught[0], checkpoints.save(state), state)
                    if checkpoints.due(state):
                        checkpoints.save(state)
            bar.close()
            seconds = state.epoch_seconds()
            row = {"epoch": state.epoch + 1, "train_loss": state.loss_sum / state.seen,
                   "train_acc": state.correct / state.seen, "seconds": seconds,
                   "tokens_per_second": state.tokens / seconds}
            if val is not None and len(val[0]):
                row["val_loss"], row["val_acc"] = evaluate(model, val[0], val[1], device, cfg.mask)
            if verbose:
                tqdm.write(f"epoch {row['epoch']:>3}  " + "  ".join(
                    f"{k} {v:,.0f}" if k == "tokens_per_second" else f"{k} {v:.4f}"
                    for k, v in row.items() if k != "epoch"))
            _keep(state, row, model, cfg)
            state.end_epoch(row, stop=bool(cfg.patience)
                            and state.bad_epochs >= cfg.patience)
            if checkpoints is not None:
                path = checkpoints.save(state)
                test_hook("epoch")
                if caught:
                    raise _interrupted(caught[0], path, state)
    if state.kept:
        model.load_state_dict(average_weights([w for _, _, w in state.kept]))
    for r in state.history:
        r["best"] = any(r["epoch"] == e for _, e, _ in state.kept)
    return state.history


def _keep(state: TrainState, row: dict, model: nn.Module, cfg: Config) -> None:
    """Count the epochs without a better score and keep the ``cfg.average`` best weights."""
    score, kept = _score(row, cfg.select), state.kept
    state.bad_epochs = 0 if not kept or score < kept[0][0] else state.bad_epochs + 1
    if len(kept) < cfg.average or score < kept[-1][0]:
        state.kept = sorted(kept + [(score, row["epoch"], copy.deepcopy(model.state_dict()))],
                            key=lambda k: k[:2])[:cfg.average]


def _interrupted(signum: int, path, state: TrainState) -> TrainingInterrupted:
    epoch = state.epoch + (1 if state.order else 0)
    return TrainingInterrupted(signum, path, epoch, state.batch if state.order else 0)


def planned_epochs(cfg: Config, n_train: int) -> int:
    """``cfg.epochs``, or with ``cfg.steps`` set, as many epochs as make about that many
    optimizer steps, capped at ``cfg.epochs``: a large corpus gets fewer passes over
    more batches (20 Newsgroups, 301 batches of 32: 6 epochs for 1,800 steps), a small
    one the cap (BBC, 49 batches: 15). The cosine schedule spans these epochs."""
    if not cfg.steps:
        return cfg.epochs
    per_epoch = -(-n_train // cfg.batch_size)
    return max(1, min(cfg.epochs, -(-cfg.steps // per_epoch)))


def planned_members(cfg: Config, n_train: int) -> int:
    """How many members to train on ``n_train`` documents: ``cfg.members``, or with
    ``cfg.fill_budget`` and ``cfg.steps`` set, as many as the step budget holds.

    The budget is ``K = cfg.members`` members of ``S = cfg.steps`` steps. A corpus too
    small to use it stops each member at the epoch cap, after ``E`` epochs of ``N``
    batches, and the steps left over become members:
    ``max(K, min(8, floor(K * S / (E * N))))``. 20 Newsgroups (about 319 batches of 32)
    uses its budget, and keeps the cell's K; BBC's split (49 batches, the RNN's 12
    epochs) trains 6 RNN members. More members cost no more time than the budget, but a
    larger model and a slower prediction: 8 bounds both."""
    k = cfg.members
    if not (cfg.fill_budget and cfg.steps):
        return k
    per_epoch = -(-n_train // cfg.batch_size)
    used = planned_epochs(cfg, n_train) * per_epoch
    return max(k, min(MAX_MEMBERS, k * cfg.steps // used))


def average_weights(states: list[dict]) -> dict:
    """The mean of several checkpoints of one run (Izmailov et al. 2018): the epochs
    near the best lie in one basin, and their mean often generalises better than any."""
    if len(states) == 1:
        return states[0]
    return {k: torch.stack([s[k] for s in states]).mean(0) if v.is_floating_point() else v
            for k, v in states[0].items()}


def _score(row: dict, select: str) -> tuple[float, ...]:
    """Lower is better. Accuracy moves in steps of one article, so on 'acc' the loss
    breaks ties; without a validation split both fall back to the training loss."""
    if "val_loss" not in row:
        return (row["train_loss"],)
    return (-row["val_acc"], row["val_loss"]) if select == "acc" else (row["val_loss"],)
