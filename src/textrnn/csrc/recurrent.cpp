// The step loops of textrnn.fused in C++, the hot path of every training run.
//
// A step at batch 32 is tiny: two small matrix products and a few thousand
// elementwise operations. Issued as ATen calls, each op of a step pays dispatcher and
// tensor-view overhead that rivals its arithmetic (python benchmarks/profile_gru.py
// shows where a step's time goes; textrnn bench compares it with impl="loop"). So here a
// step is: one product on raw pointers, one fused elementwise pass written as a plain
// loop the compiler vectorises, one product, one fused pass. Nothing is allocated
// inside the loops. The products: a register-tiled kernel on weights packed once per
// sequence (Panels), a vector-matrix kernel at batch 1 (row_times), BLAS past 512
// hidden units (StepWeight picks). In inference the input projection is folded into
// the loop too (InputStep); rows_product does training's projection and its input
// gradient with the same tiles.
//
//   GRU forward   S = h U_zr^T;  z = σ(S_z + xp_z)·m,  r = σ(S_r + xp_r),  rh = r ⊙ h
//                 S = rh U_h^T;  ĥ = tanh(S + xp_h),  h' = h + z ⊙ (ĥ − h)
//   GRU backward  g += dL/dh_t;  da_z = g (ĥ − h) z(1 − z);  da_h = g z (1 − ĥ²)
//                 drh = da_h U_h;  da_r = drh h r(1 − r);  g = g (1 − z) + drh r
//                 g += [da_z, da_r] U_zr                      (g is now dL/dh_{t-1})
//
// The padding mask is folded into z (a padded step has z = 0, so h' = h and every
// gradient through the gates vanishes there). Float tensors use a rational tanh
// (Eigen's, accurate to a few ulp) and σ(x) = (1 + tanh(x/2)) / 2, so the loops
// vectorise; double tensors use libm, so float64 tests can hold the fast path to the
// reference cells at 1e-12.
//
// Threads: the rows of a batch are split into blocks, one per intra-op thread
// (at::get_num_threads()), and each thread runs the whole time loop for its block
// with single-threaded products inside (over_rows below). Batches of fewer than
// 2 * kMinRowsPerThread rows, or one thread, run on the calling thread.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstring>

using at::Tensor;

// BLAS as linked into libtorch (MKL on x86 wheels). Weak: a torch built without a
// Fortran-style BLAS still loads this file and takes the ATen fallback below.
extern "C" {
void sgemm_(const char*, const char*, const int*, const int*, const int*, const float*,
            const float*, const int*, const float*, const int*, const float*, float*,
            const int*) __attribute__((weak));
void dgemm_(const char*, const char*, const int*, const int*, const int*, const double*,
            const double*, const int*, const double*, const int*, const double*, double*,
            const int*) __attribute__((weak));
// MKL's packed products: pack a weight once per sequence instead of once per step.
size_t cblas_sgemm_pack_get_size(int, int, int, int) __attribute__((weak));
void cblas_sgemm_pack(int, int, int, int, int, int, float, const float*, int, float*)
    __attribute__((weak));
void cblas_sgemm_compute(int, int, int, int, int, int, const float*, int, const float*, int,
                         float, float*, int) __attribute__((weak));
}
// Bytes of one vector register the kernels below are written for: 64 where the build
// targets AVX-512 (fewer instructions per multiply-add and 32 registers to tile with),
// else 32 (AVX2, or two SSE registers).
#ifdef __AVX512F__
constexpr int kVecBytes = 64;
#else
constexpr int kVecBytes = 32;
#endif
enum { kRowMajor = 101, kNoTrans = 111, kTrans = 112, kPacked = 151, kBMatrix = 162 };

// Row-major C[rows, cols] = A[rows, inner] · (w_t ? W^T : W) + beta · C, where W is
// row-major (cols × inner if w_t, inner × cols otherwise). BLAS is column-major, so
// this computes C^T = op(W)^T A^T.
template <typename T>
static void mm(bool w_t, int64_t rows, int64_t cols, int64_t inner, const T* A, int64_t lda,
               const T* W, int64_t ldw, T beta, T* C, int64_t ldc) {
  const int m = cols, n = rows, k = inner, la = ldw, lb = lda, lc = ldc;
  const char ta = w_t ? 'T' : 'N', tb = 'N';
  const T one = 1;
  if constexpr (std::is_same_v<T, float>) {
    if (sgemm_) return sgemm_(&ta, &tb, &m, &n, &k, &one, W, &la, A, &lb, &beta, C, &lc);
  } else {
    if (dgemm_) return dgemm_(&ta, &tb, &m, &n, &k, &one, W, &la, A, &lb, &beta, C, &lc);
  }
  auto opt = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
  auto a = at::from_blob(const_cast<T*>(A), {rows, inner}, {lda, 1}, opt);
  auto w = w_t ? at::from_blob(const_cast<T*>(W), {cols, inner}, {ldw, 1}, opt).t()
               : at::from_blob(const_cast<T*>(W), {inner, cols}, {ldw, 1}, opt);
  auto c = at::from_blob(C, {rows, cols}, {ldc, 1}, opt);
  if (beta == T(0)) at::mm_out(c, a, w);
  else c.addmm_(a, w, beta, 1);
}

// One batch row times a weight laid out inner × cols (row k is what a[k] scales):
// c = a · K + beta · c. At batch 1 a step's product is this vector-matrix product,
// and a BLAS call's fixed cost (argument checks, dispatch, packing the one row) is
// larger than its arithmetic at hidden 128. Here the columns are swept in register
// blocks of 8 vectors (64 floats), each accumulated over all of `inner` without
// touching memory; K's rows are contiguous for this access pattern, so each step
// streams the weight once, in order.
template <typename T>
static void row_times(int64_t cols, int64_t inner, const T* __restrict a,
                      const T* __restrict K, T beta, T* __restrict c) {
  typedef T V __attribute__((vector_size(kVecBytes), aligned(alignof(T))));  // unaligned
  constexpr int64_t L = kVecBytes / sizeof(T), NV = 8;
  int64_t j0 = 0;
  for (; j0 + NV * L <= cols; j0 += NV * L) {
    V acc[NV];
    for (int64_t v = 0; v < NV; ++v) acc[v] = V{};
    for (int64_t k = 0; k < inner; ++k) {
      const V* w = reinterpret_cast<const V*>(K + k * cols + j0);
      const T x = a[k];
      for (int64_t v = 0; v < NV; ++v) acc[v] += x * w[v];
    }
    V* out = reinterpret_cast<V*>(c + j0);
    for (int64_t v = 0; v < NV; ++v) out[v] = beta == T(0) ? acc[v] : acc[v] + beta * out[v];
  }
  for (; j0 < cols; ++j0) {                                   // columns left over
    T acc = 0;
    for (int64_t k = 0; k < inner; ++k) acc += a[k] * K[k * cols + j0];
    c[j0] = beta == T(0) ? acc : acc + beta * c[j0];
  }
}

// Blocks of at most this many rows take row_times instead of BLAS.
constexpr int64_t kMaxVectorRows = 1;

// The step product for a block of a few to a few dozen rows, C = A · K + beta · C, with
// K packed once per sequence into panels of NR = 2 vectors of columns (panel p holds
// K[k][p NR .. p NR + NR) for every k, contiguously; the last one zero-padded). An MR × NR
// tile of C stays in 12 vector registers while k runs over `inner`: per k, two aligned
// loads of the panel, MR broadcasts of A, 2 MR fused multiply-adds. MKL's packed product
// does the same arithmetic but copies A into its own layout and scales C on every call,
// which at 16 rows and hidden 128 cost a third as much as the arithmetic itself
// (perf record on the forward loop); here A is read where it lies.
template <typename T>
struct Panels {
  typedef T V __attribute__((vector_size(kVecBytes)));
  static constexpr int64_t L = kVecBytes / sizeof(T), NR = 2 * L, MR = 6;
  int64_t cols = 0, inner = 0, np = 0;
  Tensor buf, bias;
  void pack(bool w_t, int64_t cols_, int64_t inner_, const T* W, int64_t ldw) {
    cols = cols_, inner = inner_, np = (cols + NR - 1) / NR;
    auto opt = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
    buf = at::zeros({np * inner * NR}, opt);                     // 64-byte aligned
    T* P = buf.data_ptr<T>();
    for (int64_t p = 0; p < np; ++p)
      for (int64_t k = 0; k < inner; ++k)
        for (int64_t j = p * NR; j < std::min(cols, p * NR + NR); ++j)
          P[(p * inner + k) * NR + j - p * NR] = w_t ? W[j * ldw + k] : W[k * ldw + j];
  }
  template <int64_t M>
  void tile(const T* __restrict A, int64_t lda, const T* __restrict P, const V* bp, T beta,
            T* C, int64_t ldc, int64_t ncols) const {
    V acc[M][2];
    for (int64_t r = 0; r < M; ++r) {
      acc[r][0] = bp ? bp[0] : V{};                               // the bias, or zero
      acc[r][1] = bp ? bp[1] : V{};
    }
    for (int64_t k = 0; k < inner; ++k) {
      const V b0 = *reinterpret_cast<const V*>(P + k * NR);
      const V b1 = *reinterpret_cast<const V*>(P + k * NR + L);
      for (int64_t r = 0; r < M; ++r) {
        const T a = A[r * lda + k];
        acc[r][0] += a * b0;
        acc[r][1] += a * b1;
      }
    }
    for (int64_t r = 0; r < M; ++r) {
      T* c = C + r * ldc;
      if (ncols == NR) {
        typedef T U __attribute__((vector_size(kVecBytes), aligned(alignof(T))));
        U* u = reinterpret_cast<U*>(c);
        u[0] = beta == T(0) ? acc[r][0] : acc[r][0] + beta * u[0];
        u[1] = beta == T(0) ? acc[r][1] : acc[r][1] + beta * u[1];
      } else {                                                    // the last, narrow panel
        for (int64_t j = 0; j < ncols; ++j) {
          const T x = j < L ? acc[r][0][j] : acc[r][1][j - L];
          c[j] = beta == T(0) ? x : x + beta * c[j];
        }
      }
    }
  }
  // Optional: every tile starts from b (cols values) instead of zero: C = b + A · K.
  void set_bias(const T* b) {
    bias = at::zeros({np * NR}, buf.options());
    std::memcpy(bias.data_ptr<T>(), b, cols * sizeof(T));
  }
  void operator()(int64_t rows, const T* A, int64_t lda, T beta, T* C, int64_t ldc) const {
    const T* P = buf.data_ptr<T>();
    for (int64_t p = 0; p < np; ++p) {
      const int64_t j0 = p * NR, ncols = std::min(NR, cols - j0);
      const T* Pp = P + p * inner * NR;
      const V* bp = bias.defined() ? reinterpret_cast<const V*>(bias.data_ptr<T>() + j0) : nullptr;
      T* Cp = C + j0;
      int64_t r = 0;
      for (; r + MR <= rows; r += MR)
        tile<MR>(A + r * lda, lda, Pp, bp, beta, Cp + r * ldc, ldc, ncols);
      const T* Ar = A + r * lda;
      T* Cr = Cp + r * ldc;
      switch (rows - r) {
        case 5: tile<5>(Ar, lda, Pp, bp, beta, Cr, ldc, ncols); break;
        case 4: tile<4>(Ar, lda, Pp, bp, beta, Cr, ldc, ncols); break;
        case 3: tile<3>(Ar, lda, Pp, bp, beta, Cr, ldc, ncols); break;
        case 2: tile<2>(Ar, lda, Pp, bp, beta, Cr, ldc, ncols); break;
        case 1: tile<1>(Ar, lda, Pp, bp, beta, Cr, ldc, ncols); break;
        default: break;
      }
    }
  }
};
// Weights with more inner (hidden) units than this go to BLAS, whose cache blocking
// pays off once a panel no longer fits the level-1 cache.
constexpr int64_t kMaxPanelInner = 512;

// The input projection folded into the step loop (inference): xp_t = x_t W^T + b for
// one block of rows, into a buffer of a few steps that stays in cache, instead of a
// (T, B, G) tensor written by one large product and read back by the loop. x is read
// where it lies: row b of step t at X + t st + b sb (batch-first or time-major alike).
// A block of at least a tile's rows projects one step at a time; a smaller one (batch
// 1: serving) projects kChunk steps at a time, each row's steps forming the tile's rows,
// so that the weight loaded for a multiply-add serves several of them.
template <typename T>
struct InputStep {
  static constexpr int64_t kChunk = 4 * Panels<T>::MR;
  const T *X = nullptr, *bias = nullptr;
  int64_t T_ = 0, st = 0, sb = 0, G = 0;
  Panels<T> W;
  bool defined() const { return X != nullptr; }
  static int64_t chunk(int64_t n) { return n >= Panels<T>::MR ? 1 : kChunk; }
  // Rows [b0, b0 + n) of step t's xp (row stride G), computed into buf (chunk(n) n G
  // values, this block's own) when t starts a chunk.
  const T* operator()(int64_t t, int64_t b0, int64_t n, T* buf) const {
    const int64_t C = chunk(n), c = t % C;
    if (c == 0) {
      const int64_t steps = std::min(C, T_ - t);
      for (int64_t r = 0; r < steps * n; ++r) std::memcpy(buf + r * G, bias, G * sizeof(T));
      if (C == 1) {
        W(n, X + t * st + b0 * sb, sb, T(1), buf, G);
      } else {
        for (int64_t b = 0; b < n; ++b)   // row b's steps t .. t + steps - 1
          W(steps, X + t * st + (b0 + b) * sb, st, T(1), buf + b * G, n * G);
      }
    }
    return buf + c * n * G;
  }
};

// x: (T, B, I) with unit stride on I; W_x: (G, I); b_x: (G).
template <typename T>
static void input_step(InputStep<T>& in, const Tensor& x, const Tensor& W_x,
                       const Tensor& b_x) {
  TORCH_CHECK(x.dim() == 3 && x.stride(2) == 1, "x must be (T, B, I) with unit stride on I");
  TORCH_CHECK(W_x.is_contiguous() && b_x.is_contiguous(), "W_x, b_x must be contiguous");
  in.X = x.data_ptr<T>(), in.bias = b_x.data_ptr<T>(), in.T_ = x.size(0);
  in.st = x.stride(0), in.sb = x.stride(1), in.G = W_x.size(0);
  in.W.pack(true, W_x.size(0), W_x.size(1), W_x.data_ptr<T>(), W_x.size(1));
}

// A recurrent weight as the right-hand factor of every step's product, for one block
// of `rows` batch rows: C = A · op(W) + beta · C. With MKL, op(W) is packed into its
// kernel's layout once here, not again at every step (at batch 32 and hidden 128 the
// repacking is a large part of each small product). A single row (batch 1: serving one
// document) takes row_times on op(W) copied once per sequence to inner × cols.
template <typename T>
struct StepWeight {
  bool w_t;
  int64_t rows, cols, inner, ldw;
  const T* W;
  Tensor packed;
  Tensor K;  // op(W) as inner × cols, contiguous (rows <= kMaxVectorRows)
  Panels<T> panels;
  StepWeight(bool w_t, int64_t rows, int64_t cols, int64_t inner, const T* W, int64_t ldw)
      : w_t(w_t), rows(rows), cols(cols), inner(inner), ldw(ldw), W(W) {
    if (rows <= kMaxVectorRows) {
      auto opt = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
      K = at::empty({inner, cols}, opt);
      T* k = K.data_ptr<T>();
      for (int64_t i = 0; i < inner; ++i)
        for (int64_t j = 0; j < cols; ++j)
          k[i * cols + j] = w_t ? W[j * ldw + i] : W[i * ldw + j];
      return;
    }
    if (inner <= kMaxPanelInner) {
      panels.pack(w_t, cols, inner, W, ldw);
      return;
    }
    if constexpr (std::is_same_v<T, float>) {
      if (cblas_sgemm_pack && cblas_sgemm_compute && cblas_sgemm_pack_get_size) {
        const size_t bytes = cblas_sgemm_pack_get_size(kBMatrix, rows, cols, inner);
        packed = at::empty({static_cast<int64_t>(bytes)}, at::kByte);  // 64-byte aligned
        cblas_sgemm_pack(kRowMajor, kBMatrix, w_t ? kTrans : kNoTrans, rows, cols, inner,
                         1.0f, W, ldw, reinterpret_cast<float*>(packed.data_ptr()));
      }
    }
  }
  void operator()(const T* A, int64_t lda, T beta, T* C, int64_t ldc) const {
    if (K.defined()) {
      for (int64_t b = 0; b < rows; ++b)
        row_times(cols, inner, A + b * lda, K.data_ptr<T>(), beta, C + b * ldc);
      return;
    }
    if (panels.buf.defined()) return panels(rows, A, lda, beta, C, ldc);
    if constexpr (std::is_same_v<T, float>) {
      if (packed.defined())
        return cblas_sgemm_compute(kRowMajor, kNoTrans, kPacked, rows, cols, inner, A, lda,
                                   reinterpret_cast<const float*>(packed.data_ptr()), cols,
                                   beta, C, ldc);
    }
    mm<T>(w_t, rows, cols, inner, A, lda, W, ldw, beta, C, ldc);
  }
};

static inline float tanh_(float x) {
  // Eigen's generic_fast_tanh_float: odd 13/6 rational approximation on [-7.9, 7.9].
  const float c = 7.90531110763549805f;
  x = std::min(std::max(x, -c), c);
  const float x2 = x * x;
  float p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  float q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return x * p / q;
}
static inline float sigmoid_(float x) { return 0.5f + 0.5f * tanh_(0.5f * x); }
static inline double tanh_(double x) { return std::tanh(x); }
static inline double sigmoid_(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// The elementwise halves of a GRU step, one batch row each. __restrict and plain
// loops let the compiler vectorise them (with -fno-trapping-math for the clamp).
template <typename T>
static void gru_gates(int64_t H, const T* __restrict s, const T* __restrict x,
                      const T* __restrict h, T m, T* __restrict z, T* __restrict r,
                      T* __restrict rh) {
  for (int64_t j = 0; j < H; ++j) z[j] = sigmoid_(s[j] + x[j]) * m;      // padded: z = 0
  for (int64_t j = 0; j < H; ++j) {
    r[j] = sigmoid_(s[H + j] + x[H + j]);
    rh[j] = r[j] * h[j];
  }
}

template <typename T>
static void gru_state(int64_t H, const T* __restrict s, const T* __restrict x,
                      const T* __restrict h, const T* __restrict z, T* __restrict hh,
                      T* __restrict out) {
  for (int64_t j = 0; j < H; ++j) {
    const T c = tanh_(s[j] + x[j]);
    hh[j] = c;
    out[j] = h[j] + z[j] * (c - h[j]);                                    // h + z (ĥ − h)
  }
}

template <typename T>
static void gru_back_zh(int64_t H, const T* __restrict gin, const T* __restrict z,
                        const T* __restrict c, const T* __restrict hp, T* __restrict g,
                        T* __restrict da_z, T* __restrict da_h) {
  for (int64_t j = 0; j < H; ++j) {
    const T gj = g[j] + gin[j];
    g[j] = gj;
    da_z[j] = gj * (c[j] - hp[j]) * z[j] * (T(1) - z[j]);
    da_h[j] = gj * z[j] * (T(1) - c[j] * c[j]);
  }
}

template <typename T>
static void gru_back_r(int64_t H, const T* __restrict drh, const T* __restrict z,
                       const T* __restrict r, const T* __restrict hp, T* __restrict g,
                       T* __restrict da_r) {
  for (int64_t j = 0; j < H; ++j) {
    da_r[j] = drh[j] * hp[j] * r[j] * (T(1) - r[j]);
    g[j] = g[j] * (T(1) - z[j]) + drh[j] * r[j];
  }
}

template <typename T>
static void add_tanh(int64_t H, const T* __restrict x, T* __restrict y) {
  for (int64_t j = 0; j < H; ++j) y[j] = tanh_(y[j] + x[j]);
}

template <typename T>
static void rnn_back_step(int64_t H, const T* __restrict gin, const T* __restrict y, T m,
                          T* __restrict g, T* __restrict da) {
  for (int64_t j = 0; j < H; ++j) {
    const T gj = g[j] + gin[j];
    da[j] = gj * (T(1) - y[j] * y[j]) * m;                               // through tanh
    g[j] = gj * (T(1) - m);                                              // around a padded step
  }
}

// Rows of a batch are independent recurrences. Give each thread one block of rows
// for the whole time loop, with single-threaded BLAS inside: no fork and join per
// product. Small batches stay on one thread. Whether it pays on a machine: run
// textrnn bench --quick under OMP_NUM_THREADS=1 and under the default thread count
// (the benchmark prints the thread count it ran with).
constexpr int64_t kMinRowsPerThread = 8;
template <typename F>
static void over_rows(int64_t B, const F& body) {
  const int64_t n = std::min<int64_t>(at::get_num_threads(), B / kMinRowsPerThread);
  if (n < 2 || at::in_parallel_region()) return body(0, B);
  at::parallel_for(0, B, (B + n - 1) / n, body);
}

static const Tensor none;
static const Tensor& opt(const c10::optional<Tensor>& t) {
  return t.has_value() && t->defined() ? *t : none;
}

// GRU forward. xp: (T,B,3H) = [W_z x + b_z, W_r x + b_r, W_h x + b_h]; h0: (B,H);
// U_zr: (2H,H) = [U_z; U_r]; U_h: (H,H); mask: (T,B,1) of 0/1 in xp's dtype, or none.
// Returns hs (T,B,H); with save, also zr = [z·m, r] (T,B,2H), hh = ĥ and rh = r ⊙ h_prev
// (T,B,H) for backward; without (inference) those live only for one step.
// With W_x (3H,I) and b_x (3H) given, xp is instead the input x (T,B,I), any strides
// with a unit last one, and each step projects its own rows (InputStep).
std::vector<Tensor> gru_forward(const Tensor& xp_, const Tensor& h0_, const Tensor& U_zr_,
                                const Tensor& U_h_, const c10::optional<Tensor>& mask_,
                                bool save, const c10::optional<Tensor>& W_x_,
                                const c10::optional<Tensor>& b_x_) {
  const bool project = opt(W_x_).defined();
  const auto xp = project && xp_.stride(2) == 1 ? xp_ : xp_.contiguous(), h0 = h0_.contiguous();
  const auto U_zr = U_zr_.contiguous(), U_h = U_h_.contiguous();
  const auto mask = opt(mask_).defined() ? opt(mask_).contiguous() : none;
  const int64_t T = xp.size(0), B = xp.size(1), H = U_h.size(0);
  auto hs = at::empty({T, B, H}, xp.options());
  const int64_t TS = save ? T : 1;  // steps kept for backward
  auto zr = at::empty({TS, B, 2 * H}, xp.options());
  auto hh = at::empty({TS, B, H}, xp.options());
  auto rh = at::empty({TS, B, H}, xp.options());
  auto S = at::empty({B, 2 * H}, xp.options());
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "gru_forward", [&] {
    using T_ = scalar_t;
    const T_ *X = xp.data_ptr<T_>(), *Uzr = U_zr.data_ptr<T_>(), *Uh = U_h.data_ptr<T_>();
    const T_* M = mask.defined() ? mask.data_ptr<T_>() : nullptr;
    T_ *Hs = hs.data_ptr<T_>(), *ZR = zr.data_ptr<T_>(), *HH = hh.data_ptr<T_>();
    T_ *RH = rh.data_ptr<T_>(), *S_ = S.data_ptr<T_>();
    InputStep<T_> in;
    Tensor XP;                                                   // one step of xp
    if (project) {                      // each block's own chunk(n) x n x 3H, from b0 on
      input_step(in, xp, *W_x_, *b_x_);
      XP = at::empty({InputStep<T_>::kChunk * B * 3 * H}, xp.options());
    }
    over_rows(B, [&](int64_t b0, int64_t b1) {                   // rows [b0, b1) of the batch
      const int64_t n = b1 - b0;
      T_* s = S_ + b0 * 2 * H;
      const T_* h = h0.data_ptr<T_>() + b0 * H;
      const StepWeight<T_> Wzr(true, n, 2 * H, H, Uzr, H), Wh(true, n, H, H, Uh, H);
      for (int64_t t = 0; t < T; ++t) {
        const int64_t k = (save ? t : 0) * B + b0;                // first row of this block
        T_ *zr_t = ZR + k * 2 * H, *hh_t = HH + k * H, *rh_t = RH + k * H;
        T_* h_t = Hs + (t * B + b0) * H;
        const T_* x_t = in.defined() ? in(t, b0, n, XP.data_ptr<T_>() + b0 * in.chunk(n) * 3 * H)
                                     : X + (t * B + b0) * 3 * H;
        Wzr(h, H, T_(0), s, 2 * H);                                        // h U_zr^T
        for (int64_t b = 0; b < n; ++b)
          gru_gates(H, s + b * 2 * H, x_t + b * 3 * H, h + b * H,
                    M ? M[t * B + b0 + b] : T_(1), zr_t + b * 2 * H, zr_t + b * 2 * H + H,
                    rh_t + b * H);
        Wh(rh_t, H, T_(0), s, H);                                          // (r ⊙ h) U_h^T
        for (int64_t b = 0; b < n; ++b)
          gru_state(H, s + b * H, x_t + b * 3 * H + 2 * H, h + b * H, zr_t + b * 2 * H,
                    hh_t + b * H, h_t + b * H);
        h = h_t;
      }
    });
  });
  return {hs, zr, hh, rh};
}

// GRU backward through time. grad_hs: (T,B,H) = dL/dh_t from above; the rest as saved
// by gru_forward. Returns da (T,B,3H) = dL/dxp and dL/dh0. The weight gradients are
// single products over all steps, done by the caller.
std::vector<Tensor> gru_backward(const Tensor& grad_hs_, const Tensor& h0_, const Tensor& hs_,
                                 const Tensor& zr_, const Tensor& hh_, const Tensor& U_zr_,
                                 const Tensor& U_h_) {
  const auto grad_hs = grad_hs_.contiguous(), h0 = h0_.contiguous(), hs = hs_.contiguous();
  const auto zr = zr_.contiguous(), hh = hh_.contiguous();
  const auto U_zr = U_zr_.contiguous(), U_h = U_h_.contiguous();
  const int64_t T = grad_hs.size(0), B = grad_hs.size(1), H = grad_hs.size(2);
  auto da = at::empty({T, B, 3 * H}, grad_hs.options());
  auto g = at::zeros({B, H}, grad_hs.options());
  auto drh = at::empty({B, H}, grad_hs.options());
  AT_DISPATCH_FLOATING_TYPES(grad_hs.scalar_type(), "gru_backward", [&] {
    using T_ = scalar_t;
    const T_ *G = grad_hs.data_ptr<T_>(), *Hs = hs.data_ptr<T_>(), *ZR = zr.data_ptr<T_>();
    const T_ *HH = hh.data_ptr<T_>(), *Uzr = U_zr.data_ptr<T_>(), *Uh = U_h.data_ptr<T_>();
    T_ *D = da.data_ptr<T_>(), *G0 = g.data_ptr<T_>(), *DRH = drh.data_ptr<T_>();
    over_rows(B, [&](int64_t b0, int64_t b1) {
      const int64_t n = b1 - b0;
      T_ *g_ = G0 + b0 * H, *d = DRH + b0 * H;
      const StepWeight<T_> Wzr(false, n, H, 2 * H, Uzr, H), Wh(false, n, H, H, Uh, H);
      for (int64_t t = T - 1; t >= 0; --t) {
        const int64_t k = t * B + b0;                             // first row of this block
        const T_* hp = t > 0 ? Hs + (k - B) * H : h0.data_ptr<T_>() + b0 * H;  // h_{t-1}
        const T_ *G_t = G + k * H, *zr_t = ZR + k * 2 * H, *hh_t = HH + k * H;
        T_* da_t = D + k * 3 * H;
        for (int64_t b = 0; b < n; ++b)
          gru_back_zh(H, G_t + b * H, zr_t + b * 2 * H, hh_t + b * H, hp + b * H, g_ + b * H,
                      da_t + b * 3 * H, da_t + b * 3 * H + 2 * H);
        Wh(da_t + 2 * H, 3 * H, T_(0), d, H);                              // drh = da_h U_h
        for (int64_t b = 0; b < n; ++b)
          gru_back_r(H, d + b * H, zr_t + b * 2 * H, zr_t + b * 2 * H + H, hp + b * H,
                     g_ + b * H, da_t + b * 3 * H + H);
        Wzr(da_t, 3 * H, T_(1), g_, H);                                    // g += da_zr U_zr
      }
    });
  });
  return {da, g};
}

// Elman RNN forward. xp: (T,B,H) = W_x x + b_h; mask: (T,B,1) of 0/1 in xp's dtype, or
// none. Returns hs (T,B,H) and y = tanh(...) before masking (hs itself when unmasked).
// With W_x (H,I) and b_x (H) given, xp is the input x (T,B,I), as in gru_forward.
std::vector<Tensor> rnn_forward(const Tensor& xp_, const Tensor& h0_, const Tensor& W_h_,
                                const c10::optional<Tensor>& mask_,
                                const c10::optional<Tensor>& W_x_,
                                const c10::optional<Tensor>& b_x_) {
  const bool project = opt(W_x_).defined();
  const auto xp = project && xp_.stride(2) == 1 ? xp_ : xp_.contiguous();
  const auto h0 = h0_.contiguous(), W_h = W_h_.contiguous();
  const auto mask = opt(mask_).defined() ? opt(mask_).contiguous() : none;
  const int64_t T = xp.size(0), B = xp.size(1), H = W_h.size(0);
  auto hs = at::empty({T, B, H}, xp.options());
  auto y = mask.defined() ? at::empty({T, B, H}, xp.options()) : hs;
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnn_forward", [&] {
    using T_ = scalar_t;
    const T_ *X = xp.data_ptr<T_>(), *W = W_h.data_ptr<T_>();
    const T_* M = mask.defined() ? mask.data_ptr<T_>() : nullptr;
    T_ *Hs = hs.data_ptr<T_>(), *Y = y.data_ptr<T_>();
    InputStep<T_> in;
    Tensor XP;                                                   // one step of xp
    if (project) {                      // each block's own chunk(n) x n x H, from b0 on
      input_step(in, xp, *W_x_, *b_x_);
      XP = at::empty({InputStep<T_>::kChunk * B * H}, xp.options());
    }
    over_rows(B, [&](int64_t b0, int64_t b1) {
      const int64_t n = b1 - b0;
      const T_* h = h0.data_ptr<T_>() + b0 * H;
      const StepWeight<T_> Wt(true, n, H, H, W, H);
      for (int64_t t = 0; t < T; ++t) {
        const int64_t k = t * B + b0;
        T_ *y_t = Y + k * H, *h_t = Hs + k * H;
        const T_* x_t = in.defined() ? in(t, b0, n, XP.data_ptr<T_>() + b0 * in.chunk(n) * H)
                                     : X + k * H;
        Wt(h, H, T_(0), y_t, H);                                            // h W_h^T
        for (int64_t b = 0; b < n; ++b) {
          add_tanh(H, x_t + b * H, y_t + b * H);
          if (M) {  // padded step: carry the state over
            const T_* keep = M[k + b] != T_(0) ? y_t + b * H : h + b * H;
            std::memcpy(h_t + b * H, keep, H * sizeof(T_));
          }
        }
        h = h_t;
      }
    });
  });
  return {hs, y};
}

// Elman RNN backward through time. y: tanh outputs from rnn_forward; mask as there.
std::vector<Tensor> rnn_backward(const Tensor& grad_hs_, const Tensor& y_,
                                 const c10::optional<Tensor>& mask_, const Tensor& W_h_) {
  const auto grad_hs = grad_hs_.contiguous(), y = y_.contiguous(), W_h = W_h_.contiguous();
  const auto mask = opt(mask_).defined() ? opt(mask_).contiguous() : none;
  const int64_t T = grad_hs.size(0), B = grad_hs.size(1), H = grad_hs.size(2);
  auto da = at::empty({T, B, H}, grad_hs.options());
  auto g = at::zeros({B, H}, grad_hs.options());
  AT_DISPATCH_FLOATING_TYPES(grad_hs.scalar_type(), "rnn_backward", [&] {
    using T_ = scalar_t;
    const T_ *G = grad_hs.data_ptr<T_>(), *Y = y.data_ptr<T_>(), *W = W_h.data_ptr<T_>();
    const T_* M = mask.defined() ? mask.data_ptr<T_>() : nullptr;
    T_ *D = da.data_ptr<T_>(), *G0 = g.data_ptr<T_>();
    over_rows(B, [&](int64_t b0, int64_t b1) {
      const int64_t n = b1 - b0;
      T_* g_ = G0 + b0 * H;
      const StepWeight<T_> Wn(false, n, H, H, W, H);
      for (int64_t t = T - 1; t >= 0; --t) {
        const int64_t k = t * B + b0;
        for (int64_t b = 0; b < n; ++b)
          rnn_back_step(H, G + (k + b) * H, Y + (k + b) * H, M ? M[k + b] : T_(1),
                        g_ + b * H, D + (k + b) * H);
        Wn(D + k * H, H, M ? T_(1) : T_(0), g_, H);                        // g (+)= da W_h
      }
    });
  });
  return {da, g};
}

// Row-wise product of a tall matrix with a small weight, for the input projection of
// every step (forward: x W^T + b) and its input gradient (backward: da W): out (N, C) =
// A (N, K) · op(W) (+ b), op(W) = W^T (W: C × K) if w_t, else W (K × C). The rows are
// split across threads in blocks, each block swept by the register tiles of Panels with
// op(W) packed once. BLAS handles these narrow shapes worst: the (12800, 768) · (768, 64)
// input gradient at batch 32, 400 steps, hidden 256 ran at 37 GFLOP/s on one core
// against 53-57 for the square weight gradients (benchmarks/profile_gru.py --shapes),
// and x W^T + b first wrote the broadcast bias to the whole (N, C) output.
Tensor rows_product(const Tensor& A_, const Tensor& W_, bool w_t, const c10::optional<Tensor>& b_) {
  const auto A = A_.stride(-1) == 1 ? A_ : A_.contiguous(), W = W_.contiguous();
  TORCH_CHECK(A.dim() == 2 && W.dim() == 2, "rows_product: 2-d A and W");
  const int64_t N = A.size(0), K = A.size(1), C = w_t ? W.size(0) : W.size(1);
  TORCH_CHECK((w_t ? W.size(1) : W.size(0)) == K, "rows_product: inner sizes differ");
  auto out = at::empty({N, C}, A.options());
  AT_DISPATCH_FLOATING_TYPES(A.scalar_type(), "rows_product", [&] {
    using T_ = scalar_t;
    Panels<T_> P;
    P.pack(w_t, C, K, W.data_ptr<T_>(), W.size(1));
    if (opt(b_).defined()) P.set_bias(opt(b_).contiguous().data_ptr<T_>());
    const T_* a = A.data_ptr<T_>();
    T_* o = out.data_ptr<T_>();
    const int64_t lda = A.stride(0);
    at::parallel_for(0, N, 16 * Panels<T_>::MR, [&](int64_t r0, int64_t r1) {
      P(r1 - r0, a + r0 * lda, lda, T_(0), o + r0 * C, C);
    });
  });
  return out;
}

TORCH_LIBRARY(textrnn, m) {
  m.def("rows_product(Tensor A, Tensor W, bool w_t, Tensor? b=None) -> Tensor", &rows_product);
  m.def("gru_forward(Tensor xp, Tensor h0, Tensor U_zr, Tensor U_h, Tensor? mask, bool save, "
        "Tensor? W_x=None, Tensor? b_x=None) -> Tensor[]", &gru_forward);
  m.def("gru_backward(Tensor grad_hs, Tensor h0, Tensor hs, Tensor zr, Tensor hh, "
        "Tensor U_zr, Tensor U_h) -> Tensor[]", &gru_backward);
  m.def("rnn_forward(Tensor xp, Tensor h0, Tensor W_h, Tensor? mask, Tensor? W_x=None, "
        "Tensor? b_x=None) -> Tensor[]", &rnn_forward);
  m.def("rnn_backward(Tensor grad_hs, Tensor y, Tensor? mask, Tensor W_h) -> Tensor[]",
        &rnn_backward);
}
