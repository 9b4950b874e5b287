// Activations to int8 blocks (ActQ8) for the quantized dot kernels, in vectors: on stories15M's
// prefill the scalar loop, a serial max chain of 32 per block, took 11% of the time.
#include "sllm/quant/dot.h"

// Static dispatch only, as in kernels/simd.cpp: Highway 1.0.3 cannot compile its dynamic
// targets for CPUs with AVX512-FP16.
#define HWY_COMPILE_ONLY_STATIC 1

#include <hwy/highway.h>

#include <cmath>
#include <cstring>

namespace sllm {

namespace hn = hwy::HWY_NAMESPACE;

// d = amax / 127 and q = nearest-even(x / d), as ggml's Q8_0: the same IEEE operations on every
// lane as the one-element-at-a-time definition, so the bits do not depend on the vector width
// (the maximum of finite values does not depend on the order either).
void quantize_activations(const float* x, ActQ8* out, int64_t n) {
  const hn::CappedTag<float, kQBlock> df;  // Lanes: a power of two that divides a block.
  const hn::Rebind<int32_t, decltype(df)> di;
  const hn::Rebind<int8_t, decltype(df)> d8;
  const size_t N = hn::Lanes(df);
  for (int64_t b = 0; b < n / kQBlock; ++b, x += kQBlock) {
    auto amax = hn::Zero(df);
    bool finite = true;
    for (size_t j = 0; j < kQBlock; j += N) {
      const auto v = hn::LoadU(df, x + j);
      finite &= hn::AllTrue(df, hn::IsFinite(v));
      amax = hn::Max(amax, hn::Abs(v));
    }
    ActQ8& o = out[b];
    if (!finite) {  // Propagate NaN/inf instead of casting it to int.
      std::memset(o.qs, 0, kQBlock);
      o.d = o.s = NAN;
      o.sum = 0;
      continue;
    }
    const float d = hn::GetLane(hn::MaxOfLanes(df, amax)) / 127.0f, id = d ? 1.0f / d : 0.0f;
    const auto vid = hn::Set(df, id);
    auto sum = hn::Zero(di);
    for (size_t j = 0; j < kQBlock; j += N) {
      const auto q = hn::NearestInt(hn::Mul(hn::LoadU(df, x + j), vid));  // |q| <= 127
      sum = hn::Add(sum, q);
      hn::StoreU(hn::DemoteTo(d8, q), d8, o.qs + j);
    }
    o.sum = hn::GetLane(hn::SumOfLanes(di, sum));
    o.d = d;
    o.s = d * static_cast<float>(o.sum);
  }
}

}  // namespace sllm
