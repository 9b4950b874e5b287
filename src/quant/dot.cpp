#include "sllm/quant/dot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "dot_isa.h"
#include "sllm/common/error.h"
#include "sllm/quant/half.h"

namespace sllm {

namespace {

// ---- Portable kernels: one loop over blocks, int32 block sums, float accumulation. Each
// block type says how to dot one weight block with 32 int8 activations and how to scale it. ----

struct Q8_0Block {
  using Block = BlockQ8_0;
  static constexpr bool has_min = false;
  static int idot(const Block& w, const int8_t* x) {
    int sum = 0;
    for (int j = 0; j < kQBlock; ++j) sum += w.qs[j] * x[j];
    return sum;
  }
};

struct Q4_0Block {
  using Block = BlockQ4_0;
  static constexpr bool has_min = false;
  static int idot(const Block& w, const int8_t* x) {
    int sum = 0;
    for (int j = 0; j < kQBlock / 2; ++j)
      sum += ((w.qs[j] & 0xf) - 8) * x[j] + ((w.qs[j] >> 4) - 8) * x[j + 16];
    return sum;
  }
};

struct Q4_1Block {
  using Block = BlockQ4_1;
  static constexpr bool has_min = true;  // w = d * q + m: m times the activations' sum.
  static int idot(const Block& w, const int8_t* x) {
    int sum = 0;
    for (int j = 0; j < kQBlock / 2; ++j)
      sum += (w.qs[j] & 0xf) * x[j] + (w.qs[j] >> 4) * x[j + 16];
    return sum;
  }
};

template <class T>
void qdot_portable(const void* wv, const ActQ8* a, size_t as, int na, int64_t nb, float* out) {
  const auto* w = static_cast<const typename T::Block*>(wv);
  for (int k = 0; k < na; ++k) {
    float acc = 0;
    for (int64_t b = 0; b < nb; ++b) {
      const ActQ8& x = a[k * as + b];
      float v = f16_to_f32(w[b].d) * x.d * static_cast<float>(T::idot(w[b], x.qs));
      if constexpr (T::has_min) v += f16_to_f32(w[b].m) * x.s;
      acc += v;
    }
    out[k] = acc;
  }
}

void f32_portable(const float* w, const float* a, size_t as, int na, int64_t n, float* out) {
  for (int k = 0; k < na; ++k) {
    float acc = 0;
    for (int64_t i = 0; i < n; ++i) acc += w[i] * a[k * as + i];
    out[k] = acc;
  }
}

constexpr DotKernels kPortable{"portable",
                               qdot_portable<Q8_0Block>,
                               qdot_portable<Q4_0Block>,
                               qdot_portable<Q4_1Block>,
                               f32_portable,
                               detail::rows4_by_one<qdot_portable<Q8_0Block>>,
                               detail::rows4_by_one<qdot_portable<Q4_0Block>>,
                               detail::rows4_by_one<qdot_portable<Q4_1Block>>,
                               nullptr,
                               nullptr,
                               nullptr,
                               nullptr};

}  // namespace

std::vector<const DotKernels*> supported_dot_kernels() {
  std::vector<const DotKernels*> out{&kPortable};
  if (detail::cpu_has_avx2()) out.push_back(&detail::kDotAvx2);
  if (detail::cpu_has_avx512_vnni()) out.push_back(&detail::kDotAvx512);
  return out;
}

const DotKernels& dot_kernels() {
  static const DotKernels& k = []() -> const DotKernels& {
    const auto all = supported_dot_kernels();
    const char* isa = std::getenv("SLLM_ISA");
    if (!isa || !*isa) return *all.back();
    for (const DotKernels* k : all)
      if (std::strcmp(isa, k->isa) == 0) return *k;
    // A level this CPU lacks (or a typo) must not crash: say so once and use the best there is.
    std::fprintf(stderr, "sllm: SLLM_ISA=%s is not available here (have:", isa);
    for (const DotKernels* k : all) std::fprintf(stderr, " %s", k->isa);
    std::fprintf(stderr, "); using %s\n", all.back()->isa);
    return *all.back();
  }();
  return k;
}

const DotKernels& portable_dot_kernels() {
  return kPortable;
}

namespace {
// The kernel of one quantized type out of a DotKernels' three of one shape.
template <class F>
F pick(GGMLType t, F q8_0, F q4_0, F q4_1) {
  switch (t) {
    case GGMLType::Q8_0:
      return q8_0;
    case GGMLType::Q4_0:
      return q4_0;
    case GGMLType::Q4_1:
      return q4_1;
    default:
      fail("no quantized dot kernel for {}", ggml_type_name(t));
  }
}
}  // namespace

QDot4Fn qdot4_for(const DotKernels& k, GGMLType t) {
  return pick(t, k.q8_0_x4, k.q4_0_x4, k.q4_1_x4);
}

QDot16Fn qdot16_for(const DotKernels& k, GGMLType t) {
  return pick(t, k.q8_0_x16, k.q4_0_x16, k.q4_1_x16);
}

QDotFn qdot_for(const DotKernels& k, GGMLType t) {
  return pick(t, k.q8_0, k.q4_0, k.q4_1);
}

}  // namespace sllm
