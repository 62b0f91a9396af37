// The GRU and Elman RNN step loops of textrnn.fused on CUDA: the same operators as
// recurrent.cpp (forward, and backward through time), with the same inputs, outputs
// and equations, in the namespace torch.ops.textrnn_cuda.
//
// Why this shape. On a GPU a step of batch 32 x hidden 128 is a few microseconds of
// arithmetic; what costs is launching it. The Python loops of fused.py launch about
// eight kernels per step, each behind the interpreter and the dispatcher. Here the
// time loop runs in C++ and a step is four launches, straight to cuBLAS and to two
// fused elementwise kernels:
//   GRU forward    s = h U_zr^T (cuBLAS); gates: z·m, r, r⊙h;  s = (r⊙h) U_h^T (cuBLAS);
//                  state: ĥ = tanh(s + x_h), h' = h + z (ĥ − h)
//   GRU backward   da_z, da_h; drh = da_h U_h (cuBLAS); da_r, g(1−z) + drh r;
//                  g += [da_z da_r] U_zr (cuBLAS)
//   RNN            y = h W_h^T (cuBLAS); tanh(y + x), carry on padding  (backward alike)
// The input projection of every step (x W^T + b) and the weight gradients stay single
// large products over all steps, done by the caller with torch's own cuBLAS calls.
//
// Layouts as in recurrent.cpp: time-major, rows of a step contiguous; masks (T,B,1) of
// 0/1 in the data's dtype. Products on row-major data go to column-major cuBLAS as the
// transposed problem: C = A op(W)  <=>  C^T = op(W)^T A^T.

#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <cublas_v2.h>
#include <torch/library.h>

#include <vector>

using at::Tensor;

namespace {

// The step products. By default cuBLAS itself, on torch's handle for the current
// stream (torch does not export its own gemm wrappers to extensions); built with
// TEXTRNN_ATEN_MM, torch's mm_out on views of the same memory instead (a fallback for
// a toolkit whose cuBLAS cannot be linked; a few microseconds more per product).
struct Blas {
  cublasHandle_t handle = nullptr;
  at::TensorOptions opts;
  explicit Blas(const Tensor& like) : opts(like.options()) {
#ifndef TEXTRNN_ATEN_MM
    handle = at::cuda::getCurrentCUDABlasHandle();   // bound to the current stream
#endif
  }
};

inline cublasStatus_t gemm(cublasHandle_t h, cublasOperation_t ta, int m, int n, int k,
                           const float* alpha, const float* A, int lda, const float* B,
                           int ldb, const float* beta, float* C, int ldc) {
  return cublasSgemm(h, ta, CUBLAS_OP_N, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
inline cublasStatus_t gemm(cublasHandle_t h, cublasOperation_t ta, int m, int n, int k,
                           const double* alpha, const double* A, int lda, const double* B,
                           int ldb, const double* beta, double* C, int ldc) {
  return cublasDgemm(h, ta, CUBLAS_OP_N, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}

// C (rows x cols, ldc) = A (rows x inner, lda) · op(W) + beta C, with op(W) = W^T when
// w_t (W: cols x inner, ldw) else W (W: inner x cols, ldw). All row-major.
template <typename T>
void mm(const Blas& blas, bool w_t, int64_t rows, int64_t cols, int64_t inner, const T* A,
        int64_t lda, const T* W, int64_t ldw, T beta, T* C, int64_t ldc) {
#ifdef TEXTRNN_ATEN_MM
  auto a = at::from_blob(const_cast<T*>(A), {rows, inner}, {lda, 1}, blas.opts);
  auto w = w_t ? at::from_blob(const_cast<T*>(W), {cols, inner}, {ldw, 1}, blas.opts).t()
               : at::from_blob(const_cast<T*>(W), {inner, cols}, {ldw, 1}, blas.opts);
  auto c = at::from_blob(C, {rows, cols}, {ldc, 1}, blas.opts);
  if (beta == T(0)) at::mm_out(c, a, w);
  else at::addmm_out(c, c, a, w, beta, 1);
#else
  const T one(1);
  const auto status = gemm(blas.handle, w_t ? CUBLAS_OP_T : CUBLAS_OP_N, int(cols), int(rows),
                           int(inner), &one, W, int(ldw), A, int(lda), &beta, C, int(ldc));
  TORCH_CHECK(status == CUBLAS_STATUS_SUCCESS, "textrnn CUDA loops: cuBLAS error ", int(status));
#endif
}

template <typename T> __device__ __forceinline__ T sigmoid(T x) { return T(1) / (T(1) + exp(-x)); }

constexpr int kThreads = 256;
inline int blocks(int64_t n) { return static_cast<int>((n + kThreads - 1) / kThreads); }

// s: (B,2H) = h U_zr^T; x: a step of xp, rows 3H apart; h: (B,H); m: (T..)[b] or null.
// zr <- [sigmoid(s_z + x_z) · m, sigmoid(s_r + x_r)],  rh <- r ⊙ h.
template <typename T>
__global__ void gru_gates(int64_t B, int64_t H, const T* __restrict__ s, const T* __restrict__ x,
                          const T* __restrict__ h, const T* __restrict__ m, T* __restrict__ zr,
                          T* __restrict__ rh) {
  const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i >= B * 2 * H) return;
  const int64_t b = i / (2 * H), c = i - b * 2 * H;
  const T v = sigmoid(s[i] + x[b * 3 * H + c]);
  if (c < H) {
    zr[i] = m ? v * m[b] : v;                                     // padded: z = 0
  } else {
    zr[i] = v;
    rh[b * H + c - H] = v * h[b * H + c - H];
  }
}

// s: (B,H) = (r ⊙ h) U_h^T.  hh <- ĥ = tanh(s + x_h);  out <- h + z (ĥ − h).
template <typename T>
__global__ void gru_state(int64_t B, int64_t H, const T* __restrict__ s, const T* __restrict__ x,
                          const T* __restrict__ h, const T* __restrict__ zr, T* __restrict__ hh,
                          T* __restrict__ out) {
  const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i >= B * H) return;
  const int64_t b = i / H, j = i - b * H;
  const T c = tanh(s[i] + x[b * 3 * H + 2 * H + j]);
  hh[i] = c;
  out[i] = h[i] + zr[b * 2 * H + j] * (c - h[i]);
}

// g <- g + dL/dh_t;  da_z = g (ĥ − h_prev) z (1 − z);  da_h = g z (1 − ĥ²).
template <typename T>
__global__ void gru_back_zh(int64_t B, int64_t H, const T* __restrict__ gin,
                            const T* __restrict__ zr, const T* __restrict__ hh,
                            const T* __restrict__ hp, T* __restrict__ g, T* __restrict__ da) {
  const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i >= B * H) return;
  const int64_t b = i / H, j = i - b * H;
  const T gj = g[i] + gin[i], z = zr[b * 2 * H + j], c = hh[i];
  g[i] = gj;
  da[b * 3 * H + j] = gj * (c - hp[i]) * z * (T(1) - z);
  da[b * 3 * H + 2 * H + j] = gj * z * (T(1) - c * c);
}

// drh = da_h U_h.  da_r = drh h_prev r (1 − r);  g <- g (1 − z) + drh r.
template <typename T>
__global__ void gru_back_r(int64_t B, int64_t H, const T* __restrict__ drh,
                           const T* __restrict__ zr, const T* __restrict__ hp,
                           T* __restrict__ g, T* __restrict__ da) {
  const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i >= B * H) return;
  const int64_t b = i / H, j = i - b * H;
  const T z = zr[b * 2 * H + j], r = zr[b * 2 * H + H + j], d = drh[i];
  da[b * 3 * H + H + j] = d * hp[i] * r * (T(1) - r);
  g[i] = g[i] * (T(1) - z) + d * r;
}

// y <- tanh(y + x); with a mask, out <- m ? y : h (a padded step carries the state).
template <typename T>
__global__ void rnn_step(int64_t B, int64_t H, const T* __restrict__ x, const T* __restrict__ h,
                         const T* __restrict__ m, T* __restrict__ y, T* __restrict__ out) {
  const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i >= B * H) return;
  const T v = tanh(y[i] + x[i]);
  y[i] = v;
  if (m) out[i] = m[i / H] != T(0) ? v : h[i];
}

// g <- g + dL/dh_t;  da = g (1 − y²) m;  g <- g (1 − m) (what passes around a padded step).
template <typename T>
__global__ void rnn_back_step(int64_t B, int64_t H, const T* __restrict__ gin,
                              const T* __restrict__ y, const T* __restrict__ m,
                              T* __restrict__ g, T* __restrict__ da) {
  const int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (i >= B * H) return;
  const T mi = m ? m[i / H] : T(1), gj = g[i] + gin[i], v = y[i];
  da[i] = gj * (T(1) - v * v) * mi;
  g[i] = gj * (T(1) - mi);
}

const Tensor none;
const Tensor& opt(const c10::optional<Tensor>& t) {
  return t.has_value() && t->defined() ? *t : none;
}

template <typename T> const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

}  // namespace

// GRU forward: recurrent.cpp's gru_forward without the fused input projection.
// xp: (T,B,3H); h0: (B,H); U_zr: (2H,H); U_h: (H,H); mask: (T,B,1) 0/1 or none.
// Returns hs (T,B,H) and, with save, zr (T,B,2H), hh and rh (T,B,H) for backward.
std::vector<Tensor> gru_forward(const Tensor& xp_, const Tensor& h0_, const Tensor& U_zr_,
                                const Tensor& U_h_, const c10::optional<Tensor>& mask_,
                                bool save) {
  const c10::cuda::CUDAGuard guard(xp_.device());
  const auto xp = xp_.contiguous(), h0 = h0_.contiguous();
  const auto U_zr = U_zr_.contiguous(), U_h = U_h_.contiguous();
  const auto mask = opt(mask_).defined() ? opt(mask_).contiguous() : none;
  const int64_t T = xp.size(0), B = xp.size(1), H = U_h.size(0);
  auto hs = at::empty({T, B, H}, xp.options());
  const int64_t TS = save ? T : 1;  // steps kept for backward
  auto zr = at::empty({TS, B, 2 * H}, xp.options());
  auto hh = at::empty({TS, B, H}, xp.options());
  auto rh = at::empty({TS, B, H}, xp.options());
  auto S = at::empty({B, 2 * H}, xp.options());
  if (T * B * H == 0) return {hs, zr, hh, rh};
  const auto stream = at::cuda::getCurrentCUDAStream();
  const Blas blas(xp);
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "gru_forward_cuda", [&] {
    using T_ = scalar_t;
    const T_ *X = xp.data_ptr<T_>(), *Uzr = U_zr.data_ptr<T_>(), *Uh = U_h.data_ptr<T_>();
    const T_* M = ptr_or_null<T_>(mask);
    T_ *Hs = hs.data_ptr<T_>(), *ZR = zr.data_ptr<T_>(), *HH = hh.data_ptr<T_>();
    T_ *RH = rh.data_ptr<T_>(), *s = S.data_ptr<T_>();
    const T_* h = h0.data_ptr<T_>();
    for (int64_t t = 0; t < T; ++t) {
      const int64_t k = save ? t : 0;
      T_ *zr_t = ZR + k * B * 2 * H, *hh_t = HH + k * B * H, *rh_t = RH + k * B * H;
      T_* h_t = Hs + t * B * H;
      const T_* x_t = X + t * B * 3 * H;
      mm<T_>(blas, true, B, 2 * H, H, h, H, Uzr, H, T_(0), s, 2 * H);              // h U_zr^T
      gru_gates<T_><<<blocks(B * 2 * H), kThreads, 0, stream>>>(
          B, H, s, x_t, h, M ? M + t * B : nullptr, zr_t, rh_t);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      mm<T_>(blas, true, B, H, H, rh_t, H, Uh, H, T_(0), s, H);                    // (r ⊙ h) U_h^T
      gru_state<T_><<<blocks(B * H), kThreads, 0, stream>>>(B, H, s, x_t, h, zr_t, hh_t, h_t);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      h = h_t;
    }
  });
  return {hs, zr, hh, rh};
}

// GRU backward through time, as recurrent.cpp's: returns da (T,B,3H) = dL/dxp and dL/dh0.
std::vector<Tensor> gru_backward(const Tensor& grad_hs_, const Tensor& h0_, const Tensor& hs_,
                                 const Tensor& zr_, const Tensor& hh_, const Tensor& U_zr_,
                                 const Tensor& U_h_) {
  const c10::cuda::CUDAGuard guard(grad_hs_.device());
  const auto grad_hs = grad_hs_.contiguous(), h0 = h0_.contiguous(), hs = hs_.contiguous();
  const auto zr = zr_.contiguous(), hh = hh_.contiguous();
  const auto U_zr = U_zr_.contiguous(), U_h = U_h_.contiguous();
  const int64_t T = grad_hs.size(0), B = grad_hs.size(1), H = grad_hs.size(2);
  auto da = at::empty({T, B, 3 * H}, grad_hs.options());
  auto g = at::zeros({B, H}, grad_hs.options());
  auto drh = at::empty({B, H}, grad_hs.options());
  if (T * B * H == 0) return {da, g};
  const auto stream = at::cuda::getCurrentCUDAStream();
  const Blas blas(grad_hs);
  AT_DISPATCH_FLOATING_TYPES(grad_hs.scalar_type(), "gru_backward_cuda", [&] {
    using T_ = scalar_t;
    const T_ *G = grad_hs.data_ptr<T_>(), *Hs = hs.data_ptr<T_>(), *ZR = zr.data_ptr<T_>();
    const T_ *HH = hh.data_ptr<T_>(), *Uzr = U_zr.data_ptr<T_>(), *Uh = U_h.data_ptr<T_>();
    T_ *D = da.data_ptr<T_>(), *g_ = g.data_ptr<T_>(), *d = drh.data_ptr<T_>();
    for (int64_t t = T - 1; t >= 0; --t) {
      const T_* hp = t > 0 ? Hs + (t - 1) * B * H : h0.data_ptr<T_>();       // h_{t-1}
      const T_ *zr_t = ZR + t * B * 2 * H, *hh_t = HH + t * B * H;
      T_* da_t = D + t * B * 3 * H;
      gru_back_zh<T_><<<blocks(B * H), kThreads, 0, stream>>>(
          B, H, G + t * B * H, zr_t, hh_t, hp, g_, da_t);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      mm<T_>(blas, false, B, H, H, da_t + 2 * H, 3 * H, Uh, H, T_(0), d, H);       // drh = da_h U_h
      gru_back_r<T_><<<blocks(B * H), kThreads, 0, stream>>>(B, H, d, zr_t, hp, g_, da_t);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      mm<T_>(blas, false, B, H, 2 * H, da_t, 3 * H, Uzr, H, T_(1), g_, H);         // g += da_zr U_zr
    }
  });
  return {da, g};
}

// Elman RNN forward: xp (T,B,H) = W_x x + b_h; returns hs and y = tanh(...) before
// masking (hs itself when unmasked).
std::vector<Tensor> rnn_forward(const Tensor& xp_, const Tensor& h0_, const Tensor& W_h_,
                                const c10::optional<Tensor>& mask_) {
  const c10::cuda::CUDAGuard guard(xp_.device());
  const auto xp = xp_.contiguous(), h0 = h0_.contiguous(), W_h = W_h_.contiguous();
  const auto mask = opt(mask_).defined() ? opt(mask_).contiguous() : none;
  const int64_t T = xp.size(0), B = xp.size(1), H = W_h.size(0);
  auto hs = at::empty({T, B, H}, xp.options());
  auto y = mask.defined() ? at::empty({T, B, H}, xp.options()) : hs;
  if (T * B * H == 0) return {hs, y};
  const auto stream = at::cuda::getCurrentCUDAStream();
  const Blas blas(xp);
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnn_forward_cuda", [&] {
    using T_ = scalar_t;
    const T_ *X = xp.data_ptr<T_>(), *W = W_h.data_ptr<T_>(), *M = ptr_or_null<T_>(mask);
    T_ *Hs = hs.data_ptr<T_>(), *Y = y.data_ptr<T_>();
    const T_* h = h0.data_ptr<T_>();
    for (int64_t t = 0; t < T; ++t) {
      T_ *y_t = Y + t * B * H, *h_t = Hs + t * B * H;
      mm<T_>(blas, true, B, H, H, h, H, W, H, T_(0), y_t, H);                      // h W_h^T
      rnn_step<T_><<<blocks(B * H), kThreads, 0, stream>>>(
          B, H, X + t * B * H, h, M ? M + t * B : nullptr, y_t, h_t);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      h = h_t;
    }
  });
  return {hs, y};
}

// Elman RNN backward through time, as recurrent.cpp's.
std::vector<Tensor> rnn_backward(const Tensor& grad_hs_, const Tensor& y_,
                                 const c10::optional<Tensor>& mask_, const Tensor& W_h_) {
  const c10::cuda::CUDAGuard guard(grad_hs_.device());
  const auto grad_hs = grad_hs_.contiguous(), y = y_.contiguous(), W_h = W_h_.contiguous();
  const auto mask = opt(mask_).defined() ? opt(mask_).contiguous() : none;
  const int64_t T = grad_hs.size(0), B = grad_hs.size(1), H = grad_hs.size(2);
  auto da = at::empty({T, B, H}, grad_hs.options());
  auto g = at::zeros({B, H}, grad_hs.options());
  if (T * B * H == 0) return {da, g};
  const auto stream = at::cuda::getCurrentCUDAStream();
  const Blas blas(grad_hs);
  AT_DISPATCH_FLOATING_TYPES(grad_hs.scalar_type(), "rnn_backward_cuda", [&] {
    using T_ = scalar_t;
    const T_ *G = grad_hs.data_ptr<T_>(), *Y = y.data_ptr<T_>(), *W = W_h.data_ptr<T_>();
    const T_* M = ptr_or_null<T_>(mask);
    T_ *D = da.data_ptr<T_>(), *g_ = g.data_ptr<T_>();
    for (int64_t t = T - 1; t >= 0; --t) {
      rnn_back_step<T_><<<blocks(B * H), kThreads, 0, stream>>>(
          B, H, G + t * B * H, Y + t * B * H, M ? M + t * B : nullptr, g_, D + t * B * H);
      C10_CUDA_KERNEL_LAUNCH_CHECK();
      mm<T_>(blas, false, B, H, H, D + t * B * H, H, W, H, M ? T_(1) : T_(0), g_, H);  // g (+)= da W_h
    }
  });
  return {da, g};
}

TORCH_LIBRARY(textrnn_cuda, m) {
  m.def("gru_forward(Tensor xp, Tensor h0, Tensor U_zr, Tensor U_h, Tensor? mask, bool save) "
        "-> Tensor[]", &gru_forward);
  m.def("gru_backward(Tensor grad_hs, Tensor h0, Tensor hs, Tensor zr, Tensor hh, "
        "Tensor U_zr, Tensor U_h) -> Tensor[]", &gru_backward);
  m.def("rnn_forward(Tensor xp, Tensor h0, Tensor W_h, Tensor? mask) -> Tensor[]", &rnn_forward);
  m.def("rnn_backward(Tensor grad_hs, Tensor y, Tensor? mask, Tensor W_h) -> Tensor[]",
        &rnn_backward);
}
