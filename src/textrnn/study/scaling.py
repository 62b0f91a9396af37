"""What more machines buy: the bytes DDP all-reduces per step, measured, and a
projection of the time per epoch on N machines from measured figures.

Used by ``benchmarks/ddp_scaling.py`` (which measures) and its test. Two parts:

* :class:`CommMeter`, a DistributedDataParallel communication hook (DDP calls it once
  per gradient bucket, instead of its own all-reduce) that does what DDP's default
  does, ``allreduce_hook``, and records each bucket's bytes and the seconds from
  launching its all-reduce to its completion. With ``local = True`` it skips the
  all-reduce (each rank keeps its own gradient): the same step without communication,
  to measure compute alone under the same DDP wrapper.
* :func:`ring_allreduce_seconds` and :func:`project`: the time of a ring all-reduce
  under an *assumed* bandwidth and latency, and the time per epoch on N machines from a
  *measured* compute time per step (at the rows one rank gets of the global batch), the
  measured bytes and buckets per step, and the measured validation time.

The bandwidth-optimal ring all-reduce (Patarasuk & Yuan 2009) of ``S`` bytes over
``N`` ranks is ``N - 1`` reduce-scatter steps then ``N - 1`` all-gather steps, each
sending ``S / N`` bytes to the next rank:

.. math::
    t(N) = m \\cdot 2 (N - 1) \\alpha + \\frac{2 (N - 1)}{N} \\frac{S}{\\beta}

with ``m`` all-reduce calls per step (DDP's buckets, plus textrnn's one small all-reduce
of the loss and accuracy), latency ``alpha`` per message and bandwidth ``beta``.
"""

import threading
import time
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
from torch.distributed.algorithms.ddp_comm_hooks import default_hooks
from torch.nn.parallel import DistributedDataParallel

# textrnn.distributed.loss_and_stats all-reduces two float64 (loss sum, correct count)
# per step besides the gradients: one more message, 16 bytes.
STATS_BYTES = 16

# Assumed networks: (name, bandwidth in Gbit/s, latency per message in seconds). The
# latency is a typical figure for TCP inside one datacenter, not measured here.
NETWORKS = [("10 Gb/s Ethernet", 10.0, 50e-6), ("25 Gb/s Ethernet", 25.0, 50e-6)]
MACHINES = (1, 2, 4, 8, 16)


@dataclass
class CommMeter:
    """State of a DDP communication hook that counts what each step all-reduces.

    Register it with :meth:`attach`. Each bucket DDP hands the hook adds one record
    ``(bytes, seconds)`` to :attr:`records`: the bucket's flat gradient buffer
    (``numel * element_size``, what goes on the wire per rank before the ring splits
    it) and the time from launching its all-reduce to the future's completion (DDP
    overlaps these with the rest of backward, so they need not add up to the step's
    communication cost). :meth:`take` returns and clears them (once per step).

    Args:
        group: the process group (``None``: the default group, as DDP's own hook).
        local: skip the all-reduce and hand DDP the bucket unchanged (no bytes, no
            record): each rank then steps on its own gradient.
    """

    group: dist.ProcessGroup | None = None
    local: bool = False
    records: list[tuple[int, float]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def attach(self, ddp: DistributedDataParallel) -> "CommMeter":
        ddp.register_comm_hook(self, CommMeter.hook)
        return self

    @staticmethod
    def hook(state: "CommMeter", bucket: dist.GradBucket) -> torch.futures.Future[torch.Tensor]:
        # annotations evaluated (no ``from __future__ import annotations`` here):
        # register_comm_hook checks them against dist.GradBucket and Future[Tensor]
        buf = bucket.buffer()
        if state.local:
            fut: torch.futures.Future[torch.Tensor] = torch.futures.Future()
            fut.set_result(buf)
            return fut
        nbytes = buf.numel() * buf.element_size()
        start = time.perf_counter()
        fut = default_hooks.allreduce_hook(state.group, bucket)  # DDP's default, exactly

        def done(f: torch.futures.Future) -> torch.Tensor:
            # runs when the all-reduce has finished (possibly on gloo's thread)
            with state._lock:
                state.records.append((nbytes, time.perf_counter() - start))
            return f.value()
        return fut.then(done)

    def take(self) -> list[tuple[int, float]]:
        with self._lock:
            out, self.records = self.records, []
        return out


def gradient_bytes(model: torch.nn.Module) -> int:
    """Bytes of the gradients of the trainable parameters: what a dense all-reduce of
    every gradient should move per rank and step (to check :class:`CommMeter` against)."""
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)


def ring_allreduce_seconds(nbytes: float, messages: int, n: int, gbit_s: float,
                           latency_s: float) -> float:
    """Time of ``messages`` ring all-reduces moving ``nbytes`` in all over ``n`` ranks
    (see the module's formula); 0 for one rank.

    Args:
        nbytes: bytes all-reduced per step (summed over the messages).
        messages: all-reduce calls per step (each pays the latency ``2 (n - 1)`` times).
        n: ranks (machines).
        gbit_s: assumed bandwidth per link, Gbit/s (both directions at once).
        latency_s: assumed latency per message, seconds.
    """
    if n <= 1:
        return 0.0
    hops = 2 * (n - 1)
    return messages * hops * latency_s + hops / n * nbytes * 8 / (gbit_s * 1e9)


def project(compute_s: dict[int, float], nbytes: int, messages: int, steps_per_epoch: int,
            val_s: float, networks=NETWORKS) -> list[dict]:
    """Projected seconds per training step and per epoch on each number of machines.

    Per step: the measured compute of one rank (forward, backward, clipping and the
    optimizer step on its rows of the global batch: ``compute_s[N]``, measured with
    the rows rank 0 gets of ``N``) plus the ring all-reduce of the measured bytes under
    each assumed network, with no overlap (the embedding, the largest bucket, is the
    first layer: its gradient is ready last and its all-reduce cannot overlap backward).
    Per epoch: ``steps_per_epoch`` steps plus the validation pass, which every rank
    runs over the whole validation split (``docs/distributed.md``) and so does not
    shrink with N.

    Returns one dict per ``N`` in ``compute_s``: ``machines``, ``compute_s``, and per
    network name ``{"allreduce_s", "step_s", "epoch_s", "speedup"}`` (speed-up over
    one machine's epoch).
    """
    rows = []
    one = steps_per_epoch * compute_s[min(compute_s)] + val_s
    for n in sorted(compute_s):
        row = {"machines": n, "compute_s": compute_s[n], "networks": {}}
        for name, gbit, lat in networks:
            comm = ring_allreduce_seconds(nbytes, messages, n, gbit, lat)
            epoch = steps_per_epoch * (compute_s[n] + comm) + val_s
            row["networks"][name] = {"allreduce_s": comm, "step_s": compute_s[n] + comm,
                                     "epoch_s": epoch, "speedup": one / epoch}
        rows.append(row)
    return rows


def projection_table(rows: list[dict]) -> str:
    """The projection as a markdown table (milliseconds per step, seconds per epoch)."""
    names = list(rows[0]["networks"])
    head = ["machines", "rows per rank", "compute ms/step", "ideal ms: compute(1) / N"]
    for name in names:
        head += [f"all-reduce ms ({name})", f"s/epoch ({name})", f"speed-up ({name})"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---:|" * len(head)]
    for r in rows:
        cells = [str(r["machines"]), str(r.get("rows", "")), f"{r['compute_s'] * 1e3:.1f}",
                 f"{rows[0]['compute_s'] * 1e3 / r['machines']:.1f}"]
        for name in names:
            v = r["networks"][name]
            cells += [f"{v['allreduce_s'] * 1e3:.1f}", f"{v['epoch_s']:.2f}",
                      f"{v['speedup']:.2f}x"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
