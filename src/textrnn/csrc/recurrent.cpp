// The step loops of textrnn.fused, in C++: the same ATen calls in the same order,
// without the Python interpreter between them. At batch 32 a step is ~10 small ops,
// so interpreter overhead, not arithmetic, is what the Python version pays for.
// Python keeps the autograd.Function, the factors computed for all steps at once,
// and the weight gradients (single large products); only the loops live here.
//
// Rows of a batch are independent sequences, so each thread runs the whole time loop
// on its own block of rows (at::parallel_for over the batch). A step's products are
// too small to split well across cores; whole sequences per core need no per-step
// synchronisation at all. Ops inside a parallel region run single-threaded.
#include <ATen/ATen.h>
#include <cstdlib>
#include <ATen/Parallel.h>
#include <torch/library.h>

using at::Tensor;

// Split [0, B) into one block per thread (at least `min_rows` rows each).
// TEXTRNN_ROW_BLOCKS=1 turns the split off (to measure what it buys).
static int64_t max_blocks() {
  static const int64_t env = [] {
    const char* v = std::getenv("TEXTRNN_ROW_BLOCKS");
    return v ? std::max<int64_t>(1, std::atoll(v)) : int64_t(0);
  }();
  return env ? env : at::get_num_threads();
}

template <typename F>
void over_rows(int64_t B, F body, int64_t min_rows = 4) {
  const int64_t n = std::max<int64_t>(1, std::min<int64_t>(max_blocks(), B / min_rows));
  const int64_t block = (B + n - 1) / n;
  at::parallel_for(0, n, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const int64_t b0 = i * block, b1 = std::min(B, b0 + block);
      if (b0 < b1) body(b0, b1 - b0);
    }
  });
}

// GRU forward. xp: (T,B,3H) = [W_z x + b_z, W_r x + b_r, W_h x + b_h]; h0: (B,H);
// U_zr: (2H,H); U_h: (H,H); mask: (T,B,1) float or empty.
// Returns hs (T,B,H), zr = [z*m, r] (T,B,2H), hh = ĥ (T,B,H), rh = r*h_prev (T,B,H).
std::vector<Tensor> gru_forward(const Tensor& xp, const Tensor& h0, const Tensor& U_zr,
                                const Tensor& U_h, const c10::optional<Tensor>& mask) {
  const int64_t T = xp.size(0), B = xp.size(1), H = xp.size(2) / 3;
  auto hs = at::empty({T, B, H}, xp.options());
  auto zr = at::empty({T, B, 2 * H}, xp.options());
  auto hh = at::empty({T, B, H}, xp.options());
  auto rh = at::empty({T, B, H}, xp.options());
  const bool masked = mask.has_value() && mask->defined();
  const auto U_zr_t = U_zr.t(), U_h_t = U_h.t();
  over_rows(B, [&](int64_t b0, int64_t n) {
    auto diff = at::empty({n, H}, xp.options());
    Tensor h = h0.narrow(0, b0, n);
    for (int64_t t = 0; t < T; ++t) {
      auto xt = xp[t].narrow(0, b0, n);
      auto zr_t = zr[t].narrow(0, b0, n), hh_t = hh[t].narrow(0, b0, n);
      auto rh_t = rh[t].narrow(0, b0, n), hs_t = hs[t].narrow(0, b0, n);
      at::addmm_out(zr_t, xt.narrow(1, 0, 2 * H), h, U_zr_t);      // W x + U h + b
      zr_t.sigmoid_();
      auto z = zr_t.narrow(1, 0, H), r = zr_t.narrow(1, H, H);
      if (masked) z.mul_((*mask)[t].narrow(0, b0, n));             // padded step: z = 0
      at::mul_out(rh_t, r, h);
      at::addmm_out(hh_t, xt.narrow(1, 2 * H, H), rh_t, U_h_t);    // ĥ = tanh(...)
      hh_t.tanh_();
      at::sub_out(diff, hh_t, h);
      at::addcmul_out(hs_t, h, z, diff);                           // h + z (ĥ - h)
      h = hs_t;
    }
  });
  return {hs, zr, hh, rh};
}

// GRU backward loop. grad_hs: (T,B,H); the *_fac tensors are the gradient factors
// precomputed for all steps (see textrnn.fused). Returns da (T,B,3H) = d xp, and d h0.
std::vector<Tensor> gru_backward(const Tensor& grad_hs, const Tensor& dz_fac,
                                 const Tensor& dh_fac, const Tensor& dr_fac,
                                 const Tensor& one_minus_z, const Tensor& r,
                                 const Tensor& U_zr, const Tensor& U_h) {
  const int64_t T = grad_hs.size(0), B = grad_hs.size(1), H = grad_hs.size(2);
  auto da = at::empty({T, B, 3 * H}, grad_hs.options());
  auto dh0 = at::empty({B, H}, grad_hs.options());
  over_rows(B, [&](int64_t b0, int64_t n) {
    auto g = at::empty({n, H}, grad_hs.options());
    auto drh = at::empty({n, H}, grad_hs.options());
    auto dh = at::zeros({n, H}, grad_hs.options());
    auto dh_next = at::empty({n, H}, grad_hs.options());
    for (int64_t t = T - 1; t >= 0; --t) {
      auto da_t = da[t].narrow(0, b0, n);
      auto da_z = da_t.narrow(1, 0, H), da_r = da_t.narrow(1, H, H), da_h = da_t.narrow(1, 2 * H, H);
      at::add_out(g, dh, grad_hs[t].narrow(0, b0, n));
      at::mul_out(da_z, g, dz_fac[t].narrow(0, b0, n));
      at::mul_out(da_h, g, dh_fac[t].narrow(0, b0, n));
      at::mm_out(drh, da_h, U_h);
      at::mul_out(da_r, drh, dr_fac[t].narrow(0, b0, n));
      g.mul_(one_minus_z[t].narrow(0, b0, n)).addcmul_(drh, r[t].narrow(0, b0, n));
      at::addmm_out(dh_next, g, da_t.narrow(1, 0, 2 * H), U_zr);
      std::swap(dh, dh_next);
    }
    dh0.narrow(0, b0, n).copy_(dh);
  });
  return {da, dh0};
}

// Elman RNN forward. xp: (T,B,H) = W_x x + b_h; mask: (T,B,1) bool or empty.
// Returns hs (T,B,H) and y = tanh(...) before masking (the same tensor when unmasked).
std::vector<Tensor> rnn_forward(const Tensor& xp, const Tensor& h0, const Tensor& W_h,
                                const c10::optional<Tensor>& mask) {
  const int64_t T = xp.size(0), B = xp.size(1), H = xp.size(2);
  const bool masked = mask.has_value() && mask->defined();
  auto hs = at::empty({T, B, H}, xp.options());
  auto y = masked ? at::empty({T, B, H}, xp.options()) : hs;
  const auto W_h_t = W_h.t();
  over_rows(B, [&](int64_t b0, int64_t n) {
    Tensor h = h0.narrow(0, b0, n);
    for (int64_t t = 0; t < T; ++t) {
      auto y_t = y[t].narrow(0, b0, n);
      at::addmm_out(y_t, xp[t].narrow(0, b0, n), h, W_h_t);
      y_t.tanh_();
      auto hs_t = hs[t].narrow(0, b0, n);
      if (masked) at::where_out(hs_t, (*mask)[t].narrow(0, b0, n), y_t, h);
      h = hs_t;
    }
  });
  return {hs, y};
}

// Elman RNN backward loop. d_fac = tanh' (times the mask); keep = 1 - mask or empty.
std::vector<Tensor> rnn_backward(const Tensor& grad_hs, const Tensor& d_fac,
                                 const c10::optional<Tensor>& keep, const Tensor& W_h) {
  const int64_t T = grad_hs.size(0), B = grad_hs.size(1), H = grad_hs.size(2);
  const bool masked = keep.has_value() && keep->defined();
  auto da = at::empty({T, B, H}, grad_hs.options());
  auto dh0 = at::empty({B, H}, grad_hs.options());
  over_rows(B, [&](int64_t b0, int64_t n) {
    auto g = at::empty({n, H}, grad_hs.options());
    auto dh = at::zeros({n, H}, grad_hs.options());
    auto dh_next = at::empty({n, H}, grad_hs.options());
    for (int64_t t = T - 1; t >= 0; --t) {
      auto da_t = da[t].narrow(0, b0, n);
      at::add_out(g, dh, grad_hs[t].narrow(0, b0, n));
      at::mul_out(da_t, g, d_fac[t].narrow(0, b0, n));
      if (masked) {
        g.mul_((*keep)[t].narrow(0, b0, n));
        at::addmm_out(dh_next, g, da_t, W_h);
      } else {
        at::mm_out(dh_next, da_t, W_h);
      }
      std::swap(dh, dh_next);
    }
    dh0.narrow(0, b0, n).copy_(dh);
  });
  return {da, dh0};
}

TORCH_LIBRARY(textrnn, m) {
  m.def("gru_forward(Tensor xp, Tensor h0, Tensor U_zr, Tensor U_h, Tensor? mask) -> Tensor[]",
        &gru_forward);
  m.def("gru_backward(Tensor grad_hs, Tensor dz_fac, Tensor dh_fac, Tensor dr_fac, "
        "Tensor one_minus_z, Tensor r, Tensor U_zr, Tensor U_h) -> Tensor[]", &gru_backward);
  m.def("rnn_forward(Tensor xp, Tensor h0, Tensor W_h, Tensor? mask) -> Tensor[]", &rnn_forward);
  m.def("rnn_backward(Tensor grad_hs, Tensor d_fac, Tensor? keep, Tensor W_h) -> Tensor[]",
        &rnn_backward);
}
