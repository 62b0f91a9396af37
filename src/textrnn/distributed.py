"""Several processes, one model: PyTorch's DistributedDataParallel, started by torchrun.

``torchrun --nproc-per-node N -m textrnn train ...`` starts N processes ("ranks") with
``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` in their environment; :func:`session`
joins them into one process group (gloo on CPU, nccl on CUDA). Without torchrun (or
with one process) every function here is a no-op and training runs the single-process
code path unchanged.

How a step is shared: every rank draws the SAME global batch order from the loop's
generator (seeded by ``seed``, saved in checkpoints), takes every ``world``-th row of
each global batch (:func:`my_rows`), and weights its loss so that DDP's average of the
ranks' gradients is the gradient of the mean loss over the whole global batch:

.. math::
    \\text{loss}_r = \\frac{W}{B} \\sum_{i \\in \\text{rows}_r} \\ell_i, \\qquad
    \\frac{1}{W} \\sum_r \\nabla \\text{loss}_r = \\frac{1}{B} \\sum_{i=1}^{B} \\nabla \\ell_i

(``W`` ranks, ``B`` rows in the global batch, even when ``B`` does not divide by ``W``.)
So N processes with ``batch_size`` B follow one process with ``batch_size`` B, to
float rounding. Why not ``torch.utils.data.DistributedSampler``: it shards *documents*
(each rank its own shuffled subset) and pads the last shard by repeating documents,
which breaks both the length bucketing (batches of similar length, drawn from the
whole corpus) and the exact equivalence (repeated documents count twice).
"""

from __future__ import annotations

import gc
import os
from contextlib import contextmanager
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .model import average_probabilities


def launched() -> bool:
    """Started by torchrun (or anything that sets its environment variables)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def active() -> bool:
    """In a process group of two or more ranks: the distributed code path."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    """Rank 0, or a single process: the one that writes files and logs."""
    return rank() == 0


def restarted() -> bool:
    """torchrun restarted the workers (``--max-restarts``) after one failed: the run
    goes on from its last checkpoint."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0") or 0) > 0


def barrier() -> None:
    if active():
        dist.barrier()


@contextmanager
def session(device: str):
    """Join torchrun's process group for the duration; yield this rank's device
    (``cuda:LOCAL_RANK`` on CUDA). Outside torchrun, yield ``device`` unchanged.

    On a normal exit every rank waits at a barrier, so that no rank leaves before
    rank 0 has written the run directory."""
    if not launched() or dist.is_initialized():
        yield device
        return
    if device.startswith("cuda"):
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device = f"cuda:{local}"
    timeout = timedelta(minutes=float(os.environ.get("TEXTRNN_DIST_TIMEOUT_MIN", "30")))
    dist.init_process_group("nccl" if device.startswith("cuda") else "gloo",
                            store=_store(timeout), rank=int(os.environ["RANK"]),
                            world_size=int(os.environ["WORLD_SIZE"]), timeout=timeout)
    try:
        yield device
        barrier()
    finally:
        # free the DDP wrappers no longer referenced (a module's reference cycles wait for
        # the collector) while the group lives: a reducer freed after it, at interpreter
        # exit, can leave gloo's threads to abort the process
        gc.collect()
        dist.destroy_process_group()


def _store(timeout: timedelta) -> dist.Store:
    """torchrun's key-value store (what ``init_method='env://'`` connects to), its keys
    prefixed by the attempt: torchrun keeps one store across ``--max-restarts``, and
    without the prefix the restarted ranks read the dead ones' gloo addresses from it
    (seen with torch 2.13: "Gloo connectFullMesh failed ... Connection refused")."""
    agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    store = dist.TCPStore(os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]),
                          int(os.environ["WORLD_SIZE"]),
                          is_master=not agent and int(os.environ["RANK"]) == 0,
                          timeout=timeout, **({} if agent else {"multi_tenant": True}))
    attempt = os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    return dist.PrefixStore(f"textrnn/attempt-{attempt}", store)


def wrap(model: nn.Module, device: str) -> nn.Module:
    """``model`` in DistributedDataParallel (which averages the gradients in
    ``backward``), or ``model`` itself outside a process group."""
    if not active():
        return model
    ids = [torch.device(device).index or 0] if device.startswith("cuda") else None
    return nn.parallel.DistributedDataParallel(model, device_ids=ids)


def my_rows(n: int) -> tuple[Tensor | slice, float]:
    """This rank's rows of a global batch of ``n`` rows, and the weight of their summed
    loss: every ``world``-th row from ``rank`` on, weight ``world / n``. A rank left
    without rows (``n < world``) takes row 0 with weight 0, so that it still joins
    the gradient all-reduce without changing it."""
    if not active():
        return slice(None), 1.0 / n
    r, w = rank(), world()
    if r >= n:
        return torch.tensor([0]), 0.0
    return torch.arange(r, n, w), w / n


def seed_step(seed: int, step: int) -> None:
    """Reseed torch's global generator (dropout's) from (seed, rank, step) in a
    process group: ranks then draw different dropout masks, and a run resumed on any
    step draws the masks an uninterrupted one would. Outside one: nothing."""
    if active():
        torch.manual_seed(hash((seed, rank(), step)) & 0x7FFF_FFFF_FFFF_FFFF)


def loss_and_stats(logits: Tensor, y: Tensor, n: int, weight: float,
                   label_smoothing: float) -> tuple[Tensor, float, int]:
    """The loss to back-propagate on this rank, and the global batch's mean loss and
    number of correct predictions (summed over ranks by one all-reduce).

    Inputs: ``logits`` (rows, classes), or (rows, members, classes) from an ensemble in
    training (the loss is the sum of the members' losses, so that each member gets the
    gradient it would get alone; the reported loss is their mean; predictions come from
    their averaged probabilities), ``y`` (rows,), ``n`` rows in the global batch,
    ``weight`` from :func:`my_rows`. Outside a process group: the mean cross-entropy,
    exactly as single-process training has always computed it."""
    if logits.dim() == 2 and not active():
        loss = nn.functional.cross_entropy(logits, y, label_smoothing=label_smoothing)
        return loss, loss.item(), int((logits.argmax(1) == y).sum().item())
    K = logits.shape[1] if logits.dim() == 3 else 1
    if logits.dim() == 3:
        per_row = nn.functional.cross_entropy(
            logits.flatten(0, 1), y.repeat_interleave(K), reduction="none",
            label_smoothing=label_smoothing).view(-1, K).sum(1)
        correct = average_probabilities(logits.detach()).argmax(1) == y
    else:
        per_row = nn.functional.cross_entropy(logits, y, reduction="none",
                                              label_smoothing=label_smoothing)
        correct = logits.argmax(1) == y
    if not active():
        loss = per_row.mean()
        return loss, loss.item() / K, int(correct.sum().item())
    loss = per_row.sum() * weight
    real = 1.0 if weight else 0.0
    stats = torch.stack([per_row.detach().sum() * real / K,
                         correct.sum() * real]).double().cpu()
    if logits.is_cuda:  # nccl reduces CUDA tensors only
        stats = stats.to(logits.device)
    dist.all_reduce(stats)
    return loss, stats[0].item() / n, int(round(stats[1].item()))
