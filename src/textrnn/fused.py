"""Whole-sequence recurrences with backpropagation through time written by hand.

Autograd over a Python loop records a node for every op of every time step and
replays them one by one; at batch 32 that bookkeeping, not arithmetic, is most of what
a step costs (``python benchmarks/profile_gru.py`` shows where a step's time goes). Here each
layer direction is one ``torch.autograd.Function``:

  forward   the input products of all steps are one matrix product (done by the
            caller, so autograd handles W and b); the loop does only the recurrent
            product(s) and elementwise work, into preallocated time-major buffers.
  backward  every factor that does not depend on the incoming gradient is computed
            for all steps at once before the loop; the loop is then a few
            elementwise ops and one or two small products per step; the recurrent
            weight gradients are one large product over all steps.

Masking: a padded step must leave the state unchanged. For the GRU that is a step
whose update gate is zero, so the mask is folded into ``z`` (``z <- z * m``) and the
backward pass needs no mask at all (``z (1 - z) = 0`` where ``m = 0``).

The step loops exist three times: here in Python (readable, runs on any device and
dtype); in ``csrc/recurrent.cpp`` for CPU (compiled on first use with torch's extension
builder and cached), where a step is two BLAS calls on raw pointers and two fused,
vectorised elementwise passes, and each thread runs the whole time loop for its own
block of batch rows; and in ``csrc/recurrent_cuda.cu`` for CUDA (built the same way
with nvcc), where the time loop runs in C++ and a step is two cuBLAS products and two
fused elementwise kernels (the Python loops launch about eight kernels per step, each
behind the interpreter). float32/float64 tensors use the compiled loops of their device
when they build (:func:`step_loops`); ``TEXTRNN_NATIVE=0`` forces the Python ones.

The equations are those of :mod:`textrnn.cells`; tests hold this module to them in
outputs and in every gradient, with and without the C++ loops.
"""

from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import Tensor

_native_state: bool | None = None
_cuda_state: bool | None = None
_NATIVE = "textrnn_recurrent"
_CUDA = "textrnn_recurrent_cuda"


def native_available() -> bool:
    """Build (first time only: a C++ compile, then cached) and load the C++ step loops;
    False if impossible."""
    global _native_state
    if _native_state is None:
        _native_state = False
        if os.environ.get("TEXTRNN_NATIVE", "1") != "0":
            try:
                if not hasattr(torch.ops.textrnn, "gru_forward"):
                    _build(_NATIVE, "recurrent.cpp", "native recurrence", extra_cflags=_cflags(),
                           extra_ldflags=_openmp())
                _native_state = True
            except Exception as e:  # no compiler, no headers: the Python loops still work
                warnings.warn(f"native recurrence unavailable, using Python loops "
                              f"({str(e).splitlines()[0][:120]})", stacklevel=2)
    return _native_state


def cuda_loops_available() -> bool:
    """Build (first time only: an nvcc compile of ``csrc/recurrent_cuda.cu``, then cached)
    and load the CUDA step loops; False where there is no CUDA device or no nvcc. The
    build links cuBLAS; where no cuBLAS library can be found or linked, it is built again
    with torch's own products (``TEXTRNN_ATEN_MM``) instead."""
    global _cuda_state
    if _cuda_state is None:
        _cuda_state = False
        if os.environ.get("TEXTRNN_NATIVE", "1") != "0" and torch.cuda.is_available():
            if hasattr(torch.ops.textrnn_cuda, "gru_forward"):
                _cuda_state = True
                return True
            errors = []
            for name, defines, ldflags in ((_CUDA, [], _cublas_ldflags()),
                                           (_CUDA + "_aten", ["-DTEXTRNN_ATEN_MM"], [])):
                if ldflags is None:
                    errors.append(f"{name}: no libcublas found")
                    continue
                try:
                    _build(name, "recurrent_cuda.cu", "CUDA recurrence",
                           extra_cflags=["-O3", *defines],
                           extra_cuda_cflags=["-O3", *defines], extra_ldflags=ldflags)
                    _cuda_state = True
                    break
                except Exception as e:  # no nvcc, no headers: the Python loops still work
                    cause = f" ({e.__cause__})" if e.__cause__ else ""
                    errors.append(f"{name}: {str(e).splitlines()[0][:200]}{cause}")
            if not _cuda_state:
                warnings.warn("CUDA recurrence unavailable, using Python loops: "
                              + "; ".join(errors), stacklevel=2)
    return _cuda_state


def _build(name: str, source: str, what: str, **flags) -> None:
    """Compile ``csrc/<source>`` into the extension ``name`` (cached by torch's builder
    under its build directory) and load it, one build at a time."""
    from torch.utils.cpp_extension import _get_build_directory, load
    build_dir = Path(_get_build_directory(name, False))
    if not (build_dir / f"{name}.so").exists():
        print(f"textrnn: compiling the {what} (first use only; cached afterwards)",
              file=sys.stderr, flush=True)
    with _build_lock(build_dir):
        load(name, [str(Path(__file__).with_name("csrc") / source)], is_python_module=False,
             verbose=False, **flags)


def _cublas_ldflags() -> list[str] | None:
    """How to link cuBLAS: the toolkit's libcublas (CUDA_HOME/lib64), else the one that
    torch's wheel brings (nvidia/*/lib), by full path; None if neither is there."""
    import glob
    from torch.utils.cpp_extension import CUDA_HOME
    dirs = [f"{CUDA_HOME}/lib64", f"{CUDA_HOME}/lib"] if CUDA_HOME else []
    try:
        import nvidia
        dirs += [str(Path(p) / "*" / "lib") for p in nvidia.__path__]
    except ImportError:
        pass
    for d in dirs:
        found = sorted(glob.glob(f"{d}/libcublas.so*"), key=len)
        if found:
            return [f"-L{Path(found[0]).parent}", "-lcublas"] if found[0].endswith(".so") \
                else [found[0]]
    return None


def step_loops(t: Tensor):
    """The compiled step loops for ``t``'s device and dtype: ``torch.ops.textrnn`` (C++,
    CPU), ``torch.ops.textrnn_cuda`` (CUDA), or None (the Python loops of this module:
    another dtype or device, or the build failed). Both namespaces hold ``gru_forward``,
    ``gru_backward``, ``rnn_forward`` and ``rnn_backward`` with the same signatures."""
    if t.dtype not in (torch.float32, torch.float64):
        return None
    if t.device.type == "cpu":
        return torch.ops.textrnn if native_available() else None
    if t.device.type == "cuda":
        return torch.ops.textrnn_cuda if cuda_loops_available() else None
    return None


@contextmanager
def _build_lock(build_dir: Path):
    """One build at a time, under a lock the kernel releases if its holder dies. torch's
    own lock is a plain file that a build killed midway leaves behind, after which every
    later load waits for it forever; holding this lock, any such file is stale."""
    try:
        import fcntl
    except ImportError:  # not POSIX: torch's lock alone
        yield
        return
    build_dir.mkdir(parents=True, exist_ok=True)
    with open(build_dir / "textrnn.flock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        (build_dir / "lock").unlink(missing_ok=True)
        yield


def _openmp() -> list[str]:
    """-fopenmp where torch itself runs on OpenMP (Linux wheels): ``at::parallel_for``
    is a header template whose ``#pragma omp parallel`` a build without the flag drops,
    and the loops' blocks of batch rows then run one after another on one thread (they
    did until issue 15: at 2 threads only MKL's products used the second core)."""
    return ["-fopenmp"] if torch.backends.openmp.is_available() and sys.platform.startswith("linux") else []


def _cflags() -> list[str]:
    """-O3, plus AVX2/FMA where this CPU has them, so the elementwise loops vectorise
    8 floats wide (the build happens on the machine that runs it), and OpenMP."""
    flags = ["-O3", "-fno-trapping-math", "-fno-math-errno", *_openmp()]
    if torch.backends.cpu.get_cpu_capability() in ("AVX2", "AVX512"):
        flags += ["-mavx2", "-mfma"]
    if torch.backends.cpu.get_cpu_capability() == "AVX512":
        flags += ["-mavx512f"]
    return flags


def _use_native(t: Tensor) -> bool:
    """The C++ (CPU) loops serve ``t``: what the CPU-only kernels (the projection, the
    forward with the projection folded in) need."""
    return t.device.type == "cpu" and step_loops(t) is not None


def _wants_grad(*tensors: Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def project(x: Tensor, W: Tensor, b: Tensor) -> Tensor:
    """The input half of every step at once, ``x W^T + b``: ``(T, B, I) -> (T, B, G)``.
    :class:`Projection` (C++ row kernel, both directions) where the C++ loops serve
    ``x``, else ``torch.nn.functional.linear``."""
    if _use_native(x):
        return Projection.apply(x, W, b)
    return torch.nn.functional.linear(x, W, b)


class Projection(torch.autograd.Function):
    """``x W^T + b`` over all steps, with the two products whose shapes BLAS handles
    worst (a narrow weight against tens of thousands of rows) done by the C++ row
    kernel: ``x W^T + b`` itself (the bias is where each tile's sums start, not a
    broadcast copy written over the output first) and the input gradient ``g W``. The
    weight gradient ``g^T x``, a long reduction, stays with BLAS.

    x: (T, B, I) contiguous; W: (G, I); b: (G). Returns (T, B, G).
    """

    @staticmethod
    def forward(ctx, x: Tensor, W: Tensor, b: Tensor) -> Tensor:
        x2 = x.reshape(-1, x.shape[-1])
        ctx.save_for_backward(x2, W)
        ctx.x_shape = x.shape
        return torch.ops.textrnn.rows_product(x2, W, True, b).view(*x.shape[:-1], W.shape[0])

    @staticmethod
    def backward(ctx, g: Tensor):
        x2, W = ctx.saved_tensors
        g2 = g.reshape(-1, g.shape[-1])
        dx = (torch.ops.textrnn.rows_product(g2, W, False).view(ctx.x_shape)
              if ctx.needs_input_grad[0] else None)
        dW = g2.t() @ x2 if ctx.needs_input_grad[1] else None
        db = g2.sum(0) if ctx.needs_input_grad[2] else None
        return dx, dW, db


def infers_natively(x: Tensor, *tensors: Tensor) -> bool:
    """True when no gradient is wanted of ``x`` or any of ``tensors`` (inference_mode,
    no_grad, or nothing requires one) and the C++ loops serve ``x``'s device and dtype:
    then :func:`gru_infer` / :func:`rnn_infer` apply."""
    return not _wants_grad(x, *tensors) and _use_native(x)


def gru_infer(x: Tensor, h0: Tensor, W_x: Tensor, b_x: Tensor, U_zr: Tensor, U_h: Tensor,
              mask: Tensor | None) -> Tensor:
    """GRU states of a whole sequence, forward only, with the input projection folded into
    the C++ step loop: each step projects its own rows into a one-step buffer, so the
    (T, B, 3H) projection is never written out, and no gate buffer outlives its step.

    Inputs: x (T, B, I), any strides with a unit last one (a time-major view of a
    batch-first tensor is read in place); h0 (B, H); W_x = [W_z; W_r; W_h] (3H, I);
    b_x = [b_z; b_r; b_h] (3H); U_zr (2H, H); U_h (H, H); mask (T, B, 1) 0/1 or None.
    Output: the state after every step, (T, B, H).
    """
    return torch.ops.textrnn.gru_forward(x, h0, U_zr, U_h, mask, False, W_x.contiguous(),
                                         b_x.contiguous())[0]


def rnn_infer(x: Tensor, h0: Tensor, W_x: Tensor, b_h: Tensor, W_h: Tensor,
              mask: Tensor | None) -> Tensor:
    """Elman RNN states, forward only, input projection folded into the C++ step loop as
    in :func:`gru_infer`. x (T, B, I); W_x (H, I); b_h (H); W_h (H, H); mask (T, B, 1)
    bool or None. Output: (T, B, H)."""
    m = mask.to(x.dtype) if mask is not None else None
    return torch.ops.textrnn.rnn_forward(x, h0, W_h, m, W_x.contiguous(), b_h.contiguous())[0]


def gru_sequence(xp: Tensor, h0: Tensor, U_zr: Tensor, U_h: Tensor,
                 mask: Tensor | None) -> Tensor:
    """:class:`GRUSequence`, or, when no gradient is wanted, the native forward alone
    keeping one step of gate buffers instead of T (inference)."""
    ops = step_loops(xp)
    if ops is not None and not _wants_grad(xp, h0, U_zr, U_h):
        return ops.gru_forward(xp, h0, U_zr, U_h, mask, False)[0]
    return GRUSequence.apply(xp, h0, U_zr, U_h, mask)


class GRUSequence(torch.autograd.Function):
    """GRU over a whole sequence, time-major.

    xp: (T, B, 3H) = [W_z x + b_z, W_r x + b_r, W_h x + b_h];  h0: (B, H)
    U_zr: (2H, H) = [U_z; U_r];  U_h: (H, H);  mask: (T, B, 1) float or None.
    Returns the state after every step, (T, B, H) (padded steps repeat the state).
    """

    @staticmethod
    def forward(ctx, xp: Tensor, h0: Tensor, U_zr: Tensor, U_h: Tensor,
                mask: Tensor | None) -> Tensor:
        ops = step_loops(xp)
        if ops is not None:
            hs, zr, hh, rh = ops.gru_forward(xp, h0, U_zr, U_h, mask, True)
            ctx.save_for_backward(h0, U_zr, U_h, hs, zr, hh, rh)
            return hs
        T, B, G = xp.shape
        H = G // 3
        hs = xp.new_empty(T, B, H)       # h_t
        zr = xp.new_empty(T, B, 2 * H)   # [z * m, r]
        hh = xp.new_empty(T, B, H)       # candidate ĥ_t
        rh = xp.new_empty(T, B, H)       # r ⊙ h_{t-1}
        diff = xp.new_empty(B, H)
        U_zr_t, U_h_t = U_zr.t(), U_h.t()
        h = h0
        for t in range(T):
            torch.addmm(xp[t, :, :2 * H], h, U_zr_t, out=zr[t])          # W x + U h + b
            zr[t].sigmoid_()
            z, r = zr[t, :, :H], zr[t, :, H:]
            if mask is not None:
                z.mul_(mask[t])                                           # padded: z = 0
            torch.mul(r, h, out=rh[t])
            torch.addmm(xp[t, :, 2 * H:], rh[t], U_h_t, out=hh[t]).tanh_()  # ĥ
            torch.sub(hh[t], h, out=diff)
            torch.addcmul(h, z, diff, out=hs[t])                          # h + z (ĥ - h)
            h = hs[t]
        ctx.save_for_backward(h0, U_zr, U_h, hs, zr, hh, rh)
        return hs

    @staticmethod
    def backward(ctx, grad_hs: Tensor):
        h0, U_zr, U_h, hs, zr, hh, rh = ctx.saved_tensors
        T, B, H = hs.shape
        h_prev = torch.cat([h0.unsqueeze(0), hs[:-1]])
        ops = step_loops(hs)
        if ops is not None:   # computes the factors below inside its loop
            da, dh = ops.gru_backward(grad_hs, h0, hs, zr, hh, U_zr, U_h)
        else:
            z, r = zr[..., :H], zr[..., H:]
            # factors of each gradient that do not depend on it, for all steps at once
            dz_fac = (hh - h_prev) * z * (1 - z)          # d a_z = g * dz_fac
            dh_fac = z * (1 - hh * hh)                    # d a_h = g * dh_fac
            dr_fac = h_prev * r * (1 - r)                 # d a_r = (d(rh)) * dr_fac
            da, dh = GRUSequence._backward_loop(grad_hs, dz_fac, dh_fac, dr_fac, 1 - z,
                                                r, U_zr, U_h)
        flat = da.view(T * B, 3 * H)
        dU_zr = flat[:, :2 * H].t() @ h_prev.reshape(T * B, H)
        dU_h = flat[:, 2 * H:].t() @ rh.view(T * B, H)
        return da, dh, dU_zr, dU_h, None

    @staticmethod
    def _backward_loop(grad_hs, dz_fac, dh_fac, dr_fac, one_minus_z, r, U_zr, U_h):
        T, B, H = grad_hs.shape
        da = grad_hs.new_empty(T, B, 3 * H)           # gradient of xp
        g = grad_hs.new_empty(B, H)
        drh = grad_hs.new_empty(B, H)
        dh = grad_hs.new_zeros(B, H)
        for t in range(T - 1, -1, -1):
            torch.add(dh, grad_hs[t], out=g)
            torch.mul(g, dz_fac[t], out=da[t, :, :H])
            torch.mul(g, dh_fac[t], out=da[t, :, 2 * H:])
            torch.mm(da[t, :, 2 * H:], U_h, out=drh)
            torch.mul(drh, dr_fac[t], out=da[t, :, H:2 * H])
            dh = g.mul_(one_minus_z[t]).addcmul_(drh, r[t])
            dh = torch.addmm(dh, da[t, :, :2 * H], U_zr)
        return da, dh


class RNNSequence(torch.autograd.Function):
    """Elman RNN over a whole sequence, time-major.

    xp: (T, B, H) = W_x x + b_h;  h0: (B, H);  W_h: (H, H);  mask: (T, B, 1) bool or None.
    Returns the state after every step, (T, B, H).
    """

    @staticmethod
    def forward(ctx, xp: Tensor, h0: Tensor, W_h: Tensor, mask: Tensor | None) -> Tensor:
        ops = step_loops(xp)
        if ops is not None:
            m = mask.to(xp.dtype) if mask is not None else None
            hs, y = ops.rnn_forward(xp, h0, W_h, m)
            ctx.save_for_backward(h0, W_h, hs, y, mask)
            return hs
        T, B, H = xp.shape
        hs = xp.new_empty(T, B, H)
        y = xp.new_empty(T, B, H) if mask is not None else hs   # tanh output, unmasked
        W_h_t = W_h.t()
        h = h0
        for t in range(T):
            torch.addmm(xp[t], h, W_h_t, out=y[t]).tanh_()
            if mask is not None:
                torch.where(mask[t], y[t], h, out=hs[t])
            h = hs[t]
        ctx.save_for_backward(h0, W_h, hs, y, mask)
        return hs

    @staticmethod
    def backward(ctx, grad_hs: Tensor):
        h0, W_h, hs, y, mask = ctx.saved_tensors
        T, B, H = hs.shape
        ops = step_loops(hs)
        if ops is not None:
            m = mask.to(hs.dtype) if mask is not None else None
            da, dh = ops.rnn_backward(grad_hs, y, m, W_h)
        else:
            d_fac = 1 - y * y                              # tanh'
            if mask is not None:
                d_fac = d_fac * mask
            keep = (~mask).to(hs.dtype) if mask is not None else None  # padded: gradient passes
            da, dh = RNNSequence._backward_loop(grad_hs, d_fac, keep, W_h)
        h_prev = torch.cat([h0.unsqueeze(0), hs[:-1]])
        dW_h = da.view(T * B, H).t() @ h_prev.reshape(T * B, H)
        return da, dh, dW_h, None

    @staticmethod
    def _backward_loop(grad_hs, d_fac, keep, W_h):
        T, B, H = grad_hs.shape
        da = grad_hs.new_empty(T, B, H)
        g = grad_hs.new_empty(B, H)
        dh = grad_hs.new_zeros(B, H)
        for t in range(T - 1, -1, -1):
            torch.add(dh, grad_hs[t], out=g)
            torch.mul(g, d_fac[t], out=da[t])
            if keep is not None:
                dh = torch.addmm(g.mul_(keep[t]), da[t], W_h)
            else:
                dh = torch.mm(da[t], W_h)
        return da, dh
