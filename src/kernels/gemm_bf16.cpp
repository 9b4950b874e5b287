#include "gemm_bf16.h"

#include <omp.h>

#include <bit>
#include <cstdint>
#include <map>
#include <mutex>
#include <oneapi/dnnl/dnnl.hpp>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "sllm/kernels/gemm.h"

namespace sllm {

namespace {

using dnnl::memory;

memory::desc matrix_desc(int rows, int cols, bool trans, int ld, memory::data_type t) {
  // Logical [rows, cols]; stored row-major as is, or as its transpose when trans.
  const memory::dims strides = trans ? memory::dims{1, ld} : memory::dims{ld, 1};
  return memory::desc({rows, cols}, t, strides);
}

// oneDNN's names for kernels that compute bf16 natively (not by widening to fp32 inside).
bool native_bf16(const std::string& impl) {
  return impl.find("amx") != std::string::npos || impl.find("bf16") != std::string::npos;
}

// threads: oneDNN splits the work for omp_get_max_threads() at creation, and a primitive run
// by fewer threads than it was made for leaves the others' share undone.
struct Key {
  bool ta, tb;
  int M, N, K, lda, ldb, ldc;
  uint32_t alpha, beta;
  int threads;
  auto tie() const { return std::tie(ta, tb, M, N, K, lda, ldb, ldc, alpha, beta, threads); }
  bool operator<(const Key& o) const { return tie() < o.tie(); }
};

class OneDnn {
 public:
  OneDnn() : engine_(dnnl::engine::kind::cpu, 0) {}

  // A primitive and the scratchpad it needs: the caller passes its own (user scratchpad mode),
  // so threads can run the same primitive at once (model.cpp's batch shards do).
  struct Prim {
    dnnl::matmul matmul;
    memory::desc scratchpad;
  };

  // The cached primitive for this shape, or nothing when oneDNN has no native bf16 kernel.
  const Prim* get(const Key& k, std::string* impl_out = nullptr) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = cache_.find(k);
    if (it == cache_.end()) it = cache_.emplace(k, create(k, impl_out)).first;
    return it->second ? &*it->second : nullptr;
  }

  const dnnl::engine& engine() const { return engine_; }

 private:
  std::optional<Prim> create(const Key& k, std::string* impl_out) {
    try {
      const auto bf = memory::data_type::bf16, f32 = memory::data_type::f32;
      const memory::desc a = matrix_desc(k.M, k.K, k.ta, k.lda, bf);
      const memory::desc b = matrix_desc(k.K, k.N, k.tb, k.ldb, bf);
      const memory::desc c = matrix_desc(k.M, k.N, false, k.ldc, f32);
      dnnl::primitive_attr attr;
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      const float alpha = std::bit_cast<float>(k.alpha), beta = std::bit_cast<float>(k.beta);
      if (alpha != 1.0f) attr.set_output_scales(0, {alpha});
      if (beta != 0.0f) {
        dnnl::post_ops po;
        po.append_sum(beta);
        attr.set_post_ops(po);
      }
      const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(a, b, c), attr, engine_);
      const std::string impl = pd.impl_info_str();
      if (impl_out) *impl_out = impl;
      if (!native_bf16(impl)) return std::nullopt;
      return Prim{dnnl::matmul(pd), pd.scratchpad_desc()};
    } catch (const dnnl::error& e) {
      if (impl_out) *impl_out = std::string("none (") + e.what() + ")";
      return std::nullopt;
    }
  }

  dnnl::engine engine_;
  std::mutex mu_;
  std::map<Key, std::optional<Prim>> cache_;
};

OneDnn& onednn() {
  static OneDnn instance;
  return instance;
}

Key make_key(bool ta, bool tb, int M, int N, int K, int lda, int ldb, int ldc, float alpha,
             float beta) {
  return {ta,
          tb,
          M,
          N,
          K,
          lda,
          ldb,
          ldc,
          std::bit_cast<uint32_t>(alpha),
          std::bit_cast<uint32_t>(beta),
          omp_get_max_threads()};
}

Bf16MatmulSupport probe() {
  Bf16MatmulSupport s;
  if (detail::isa_forced_portable()) {
    s.implementation = "emulated: bf16 operands widened to fp32 for OpenBLAS (SLLM_ISA forces it)";
    return s;
  }
  // A linear layer's forward product, the most common shape class.
  std::string impl;
  const bool ok = onednn().get(make_key(false, true, 64, 64, 64, 64, 64, 64, 1.0f, 0.0f), &impl);
  s.fast = ok;
  s.implementation =
      ok ? "oneDNN " + impl
         : "emulated: bf16 operands widened to fp32 for OpenBLAS (oneDNN has no native bf16 "
           "kernel for this CPU, it offered " +
               impl + ")";
  return s;
}

}  // namespace

const Bf16MatmulSupport& bf16_matmul_support() {
  static const Bf16MatmulSupport s = probe();
  return s;
}

namespace detail {

// Inside an OpenMP parallel region oneDNN's own regions get one thread (nesting is off), but it
// would still split the work for omp_get_max_threads(): for this call the calling thread's
// count is 1 (the setting is the thread's own in a region, and restored after).
class OneThreadInsideParallel {
 public:
  OneThreadInsideParallel() : saved_(omp_in_parallel() ? omp_get_max_threads() : 1) {
    if (saved_ > 1) omp_set_num_threads(1);
  }
  ~OneThreadInsideParallel() {
    if (saved_ > 1) omp_set_num_threads(saved_);
  }
  OneThreadInsideParallel(const OneThreadInsideParallel&) = delete;
  OneThreadInsideParallel& operator=(const OneThreadInsideParallel&) = delete;

 private:
  int saved_;
};

bool bf16_gemm_onednn(bool ta, bool tb, int M, int N, int K, float alpha, const bf16* A, int lda,
                      const bf16* B, int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return true;
  if (K <= 0) return false;  // oneDNN rejects empty reductions; the emulation scales C.
  const OneThreadInsideParallel one_thread;
  const auto* p = onednn().get(make_key(ta, tb, M, N, K, lda, ldb, ldc, alpha, beta));
  if (!p) return false;
  const auto bf = memory::data_type::bf16, f32 = memory::data_type::f32;
  const dnnl::engine& eng = onednn().engine();
  memory a(matrix_desc(M, K, ta, lda, bf), eng, const_cast<bf16*>(A));
  memory b(matrix_desc(K, N, tb, ldb, bf), eng, const_cast<bf16*>(B));
  memory c(matrix_desc(M, N, false, ldc, f32), eng, C);
  thread_local std::vector<uint8_t> scratch;
  if (scratch.size() < p->scratchpad.get_size()) scratch.resize(p->scratchpad.get_size());
  memory pad(p->scratchpad, eng, scratch.data());
  dnnl::stream s(eng);
  p->matmul.execute(
      s, {{DNNL_ARG_SRC, a}, {DNNL_ARG_WEIGHTS, b}, {DNNL_ARG_DST, c}, {DNNL_ARG_SCRATCHPAD, pad}});
  s.wait();
  return true;
}

void bf16_gemm_emulated(bool ta, bool tb, int M, int N, int K, float alpha, const bf16* A, int lda,
                        const bf16* B, int ldb, float beta, float* C, int ldc) {
  if (M <= 0 || N <= 0) return;
  // The stored rows of each operand, widened into a dense fp32 copy.
  const auto widen = [](std::vector<float>& dst, const bf16* src, int rows, int cols, int ld) {
    dst.resize(static_cast<size_t>(rows) * cols);
    for (int r = 0; r < rows; ++r)
      from_bf16(dst.data() + static_cast<size_t>(r) * cols, src + static_cast<size_t>(r) * ld,
                static_cast<size_t>(cols));
  };
  thread_local std::vector<float> a, b;
  const int a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
  widen(a, A, a_rows, a_cols, lda);
  widen(b, B, b_rows, b_cols, ldb);
  sgemm(ta, tb, M, N, K, alpha, a.data(), a_cols, b.data(), b_cols, beta, C, ldc);
}

}  // namespace detail

namespace detail {

void bf16_gemm(bool ta, bool tb, int M, int N, int K, float alpha, const bf16* A, int lda,
               const bf16* B, int ldb, float beta, float* C, int ldc) {
  if (bf16_matmul_support().fast &&
      bf16_gemm_onednn(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
    return;
  bf16_gemm_emulated(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace detail

}  // namespace sllm
