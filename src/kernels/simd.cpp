#include "simd.h"

// Static dispatch only (this file is built for -march=native). Highway 1.0.3 cannot otherwise
// compile for CPUs with AVX512-FP16 (Sapphire Rapids and later): its best baseline there is
// not among its dynamic targets, an #error.
#define HWY_COMPILE_ONLY_STATIC 1

#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

#include <algorithm>
#include <limits>

namespace sllm::simd {

namespace hn = hwy::HWY_NAMESPACE;
using D = hn::ScalableTag<float>;
using V = hn::Vec<D>;

namespace {

constexpr float kGeluScale = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kGeluCubic = 0.044715f;

// Runs f on full vectors, then once on a padded copy of the tail, so the tail gets exactly
// the same arithmetic as the body. f(d, i, n_valid) loads and stores through `load`/`store`.
template <typename Body>
void for_vectors(size_t n, Body&& body) {
  const D d;
  const size_t N = hn::Lanes(d);
  size_t i = 0;
  for (; i + N <= n; i += N) body(i, N);
  if (i < n) body(i, n - i);
}

// Loads lanes [i, i + count) of x, padding with `pad` when count < Lanes.
HWY_INLINE V load(const float* x, size_t i, size_t count, float pad = 0.0f) {
  const D d;
  if (count == hn::Lanes(d)) return hn::LoadU(d, x + i);
  HWY_ALIGN float buf[HWY_MAX_BYTES / sizeof(float)];
  std::fill(buf, buf + hn::Lanes(d), pad);
  std::copy(x + i, x + i + count, buf);
  return hn::Load(d, buf);
}

HWY_INLINE void store(V v, float* x, size_t i, size_t count) {
  const D d;
  if (count == hn::Lanes(d)) {
    hn::StoreU(v, d, x + i);
    return;
  }
  HWY_ALIGN float buf[HWY_MAX_BYTES / sizeof(float)];
  hn::Store(v, d, buf);
  std::copy(buf, buf + count, x + i);
}

HWY_INLINE V sigmoid(V x) {
  const D d;
  return hn::Div(hn::Set(d, 1.0f), hn::Add(hn::Set(d, 1.0f), hn::Exp(d, hn::Neg(x))));
}

}  // namespace

float max(const float* x, size_t n) {
  const D d;
  V m = hn::Set(d, -std::numeric_limits<float>::infinity());
  for_vectors(n, [&](size_t i, size_t c) {
    m = hn::Max(m, load(x, i, c, -std::numeric_limits<float>::infinity()));
  });
  return hn::GetLane(hn::MaxOfLanes(d, m));
}

float exp_shifted(float* out, const float* x, size_t n, float shift) {
  const D d;
  const V s = hn::Set(d, shift);
  V acc = hn::Zero(d);
  for_vectors(n, [&](size_t i, size_t c) {
    V e = hn::Exp(d, hn::Sub(load(x, i, c), s));
    if (c != hn::Lanes(d)) e = hn::IfThenElseZero(hn::FirstN(d, c), e);
    acc = hn::Add(acc, e);
    store(e, out, i, c);
  });
  return hn::GetLane(hn::SumOfLanes(d, acc));
}

float sum_exp_shifted(const float* x, size_t n, float shift) {
  const D d;
  const V s = hn::Set(d, shift);
  V acc = hn::Zero(d);
  for_vectors(n, [&](size_t i, size_t c) {
    V e = hn::Exp(d, hn::Sub(load(x, i, c), s));
    if (c != hn::Lanes(d)) e = hn::IfThenElseZero(hn::FirstN(d, c), e);
    acc = hn::Add(acc, e);
  });
  return hn::GetLane(hn::SumOfLanes(d, acc));
}

void exp_shifted_scaled(float* out, const float* x, size_t n, float shift, float scale) {
  const D d;
  const V s = hn::Set(d, shift), k = hn::Set(d, scale);
  for_vectors(n, [&](size_t i, size_t c) {
    store(hn::Mul(hn::Exp(d, hn::Sub(load(x, i, c), s)), k), out, i, c);
  });
}

namespace {

using DH = hn::Rebind<hwy::float16_t, D>;  // As many halves as D has floats.

// A vector of cache row elements from p (hn::Lanes(D) of them) as floats.
HWY_INLINE V load_row(const float* p) {
  return hn::LoadU(D(), p);
}
HWY_INLINE V load_row(const uint16_t* p) {
  return hn::PromoteTo(D(), hn::LoadU(DH(), reinterpret_cast<const hwy::float16_t*>(p)));
}
// Lanes [i, i + count) of row p as floats, zero-padded when count < Lanes.
HWY_INLINE V load_row(const float* p, size_t i, size_t count) {
  return load(p, i, count);
}
HWY_INLINE V load_row(const uint16_t* p, size_t i, size_t count) {
  if (count == hn::Lanes(D())) return load_row(p + i);
  HWY_ALIGN uint16_t buf[HWY_MAX_BYTES / sizeof(float)] = {};
  std::copy(p + i, p + i + count, buf);
  return load_row(buf);
}

// Gemma 2's softcap, cap * tanh(s / cap), on n scores; returns the capped max (tanh is
// increasing, so the max stays the max).
float cap_scores(float* s, size_t n, float mx, float cap) {
  for (size_t j = 0; j < n; ++j) s[j] = cap * std::tanh(s[j] / cap);
  return cap * std::tanh(mx / cap);
}

// G queries (heads sharing one KV head: q and out hold G rows of hd floats, scores G rows of n)
// with q in registers: each key and value row is read once for all G. Per query the arithmetic
// is the same whatever G, so grouping never changes a result.
template <class T, int G>
void attend_registers(float* out, float* scores, const float* q, const T* k, const T* v,
                      size_t stride, size_t n, size_t hd, float scale, float softcap) {
  const D d;
  const size_t N = hn::Lanes(d), nv = hd / N;
  V qv[G][16], acc[G][16], row[16];
  for (int g = 0; g < G; ++g)
    for (size_t i = 0; i < nv; ++i) qv[g][i] = hn::LoadU(d, q + g * hd + i * N);
  float mx[G];
  for (int g = 0; g < G; ++g) mx[g] = -std::numeric_limits<float>::infinity();
  // Rows may be far apart (stride): fetch the rows kAhead positions on by hand, where the
  // hardware prefetcher may not follow across pages.
  constexpr size_t kAhead = 8;
  const size_t line = 64 / sizeof(T);
  for (size_t j = 0; j < n; ++j) {
    const T* kj = k + j * stride;
    for (size_t i = 0; i < hd; i += line) __builtin_prefetch(kj + kAhead * stride + i);
    for (size_t i = 0; i < nv; ++i) row[i] = load_row(kj + i * N);
    for (int g = 0; g < G; ++g) {
      V s0 = hn::Mul(qv[g][0], row[0]), s1 = hn::Zero(d);
      for (size_t i = 1; i < nv; ++i) {
        if (i % 2)
          s1 = hn::MulAdd(qv[g][i], row[i], s1);
        else
          s0 = hn::MulAdd(qv[g][i], row[i], s0);
      }
      float* sc = scores + g * n;
      sc[j] = hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1))) * scale;
      mx[g] = std::max(mx[g], sc[j]);
    }
  }
  float inv[G];
  for (int g = 0; g < G; ++g) {
    if (softcap > 0.0f) mx[g] = cap_scores(scores + g * n, n, mx[g], softcap);
    inv[g] = 1.0f / exp_shifted(scores + g * n, scores + g * n, n, mx[g]);
    for (size_t i = 0; i < nv; ++i) acc[g][i] = hn::Zero(d);
  }
  for (size_t j = 0; j < n; ++j) {
    const T* vj = v + j * stride;
    for (size_t i = 0; i < hd; i += line) __builtin_prefetch(vj + kAhead * stride + i);
    for (size_t i = 0; i < nv; ++i) row[i] = load_row(vj + i * N);
    for (int g = 0; g < G; ++g) {
      const V a = hn::Set(d, scores[g * n + j] * inv[g]);
      for (size_t i = 0; i < nv; ++i) acc[g][i] = hn::MulAdd(a, row[i], acc[g][i]);
    }
  }
  for (int g = 0; g < G; ++g)
    for (size_t i = 0; i < nv; ++i) hn::StoreU(acc[g][i], d, out + g * hd + i * N);
}

// One query, any hd: padded vectors.
template <class T>
void attend_padded(float* out, float* scores, const float* q, const T* k, const T* v, size_t stride,
                   size_t n, size_t hd, float scale, float softcap) {
  const D d;
  float mx = -std::numeric_limits<float>::infinity();
  for (size_t j = 0; j < n; ++j) {
    const T* kj = k + j * stride;
    V s = hn::Zero(d);
    for_vectors(hd,
                [&](size_t i, size_t c) { s = hn::MulAdd(load(q, i, c), load_row(kj, i, c), s); });
    scores[j] = hn::GetLane(hn::SumOfLanes(d, s)) * scale;
    mx = std::max(mx, scores[j]);
  }
  if (softcap > 0.0f) mx = cap_scores(scores, n, mx, softcap);
  const float inv = 1.0f / exp_shifted(scores, scores, n, mx);
  std::fill(out, out + hd, 0.0f);
  for (size_t j = 0; j < n; ++j) {
    const V a = hn::Set(d, scores[j] * inv);
    const T* vj = v + j * stride;
    for_vectors(hd, [&](size_t i, size_t c) {
      store(hn::MulAdd(a, load_row(vj, i, c), load(out, i, c)), out, i, c);
    });
  }
}

template <class T>
void attend_rows(float* out, float* scores, const float* q, size_t queries, const T* k, const T* v,
                 size_t stride, size_t n, size_t hd, float scale, float softcap) {
  const size_t N = hn::Lanes(D());
  // A head is at most a few hundred floats: q and the output rows stay in registers when hd
  // is a multiple of the vector width (64 = 4 AVX-512 vectors), up to 4 queries at a time.
  if (hd % N == 0 && hd <= 16 * N) {
    size_t g = 0;
    for (; g + 4 <= queries; g += 4)
      attend_registers<T, 4>(out + g * hd, scores + g * n, q + g * hd, k, v, stride, n, hd, scale,
                             softcap);
    if (g + 2 <= queries) {
      attend_registers<T, 2>(out + g * hd, scores + g * n, q + g * hd, k, v, stride, n, hd, scale,
                             softcap);
      g += 2;
    }
    if (g < queries)
      attend_registers<T, 1>(out + g * hd, scores + g * n, q + g * hd, k, v, stride, n, hd, scale,
                             softcap);
    return;
  }
  for (size_t g = 0; g < queries; ++g)
    attend_padded(out + g * hd, scores + g * n, q + g * hd, k, v, stride, n, hd, scale, softcap);
}

}  // namespace

void attend(float* out, float* scores, const float* q, size_t queries, const float* k,
            const float* v, size_t stride, size_t n, size_t hd, float scale, float softcap) {
  attend_rows(out, scores, q, queries, k, v, stride, n, hd, scale, softcap);
}

void attend_f16(float* out, float* scores, const float* q, size_t queries, const uint16_t* k,
                const uint16_t* v, size_t stride, size_t n, size_t hd, float scale, float softcap) {
  attend_rows(out, scores, q, queries, k, v, stride, n, hd, scale, softcap);
}

void to_f16(uint16_t* out, const float* x, size_t n) {
  const D d;
  const DH dh;
  auto* o = reinterpret_cast<hwy::float16_t*>(out);
  for_vectors(n, [&](size_t i, size_t c) {
    const auto h = hn::DemoteTo(dh, load(x, i, c));
    if (c == hn::Lanes(d)) {
      hn::StoreU(h, dh, o + i);
    } else {
      HWY_ALIGN hwy::float16_t buf[HWY_MAX_BYTES / sizeof(float)];
      hn::Store(h, dh, buf);
      std::copy(buf, buf + c, o + i);
    }
  });
}

void from_f16(float* out, const uint16_t* x, size_t n) {
  for_vectors(n, [&](size_t i, size_t c) { store(load_row(x, i, c), out, i, c); });
}

void gelu(float* out, const float* x, size_t n) {
  const D d;
  const V half = hn::Set(d, 0.5f), one = hn::Set(d, 1.0f), k = hn::Set(d, kGeluScale),
          c3 = hn::Set(d, kGeluCubic);
  for_vectors(n, [&](size_t i, size_t c) {
    const V v = load(x, i, c);
    const V inner = hn::Mul(k, hn::MulAdd(hn::Mul(c3, hn::Mul(v, v)), v, v));
    store(hn::Mul(hn::Mul(half, v), hn::Add(one, hn::Tanh(d, inner))), out, i, c);
  });
}

void gelu_backward(float* dinp, const float* x, const float* dout, size_t n) {
  const D d;
  const V half = hn::Set(d, 0.5f), one = hn::Set(d, 1.0f), k = hn::Set(d, kGeluScale),
          c3 = hn::Set(d, kGeluCubic), c3x3 = hn::Set(d, 3.0f * kGeluCubic);
  for_vectors(n, [&](size_t i, size_t c) {
    const V v = load(x, i, c);
    const V v2 = hn::Mul(v, v);
    const V th = hn::Tanh(d, hn::Mul(k, hn::MulAdd(hn::Mul(c3, v2), v, v)));
    const V sech2 = hn::NegMulAdd(th, th, one);
    const V dinner = hn::Mul(k, hn::MulAdd(c3x3, v2, one));
    // 0.5 (1 + th) + 0.5 x sech^2 dinner
    const V grad = hn::Mul(half, hn::MulAdd(hn::Mul(v, sech2), dinner, hn::Add(one, th)));
    store(hn::Mul(grad, load(dout, i, c)), dinp, i, c);
  });
}

void swiglu(float* out, const float* g, const float* u, size_t n) {
  for_vectors(n, [&](size_t i, size_t c) {
    const V gv = load(g, i, c);
    store(hn::Mul(hn::Mul(gv, sigmoid(gv)), load(u, i, c)), out, i, c);
  });
}

void swiglu_backward(float* dg, float* du, const float* g, const float* u, const float* dout,
                     size_t n) {
  const D d;
  const V one = hn::Set(d, 1.0f);
  for_vectors(n, [&](size_t i, size_t c) {
    const V gv = load(g, i, c), uv = load(u, i, c), dv = load(dout, i, c);
    const V sig = sigmoid(gv);
    store(hn::Mul(dv, hn::Mul(gv, sig)), du, i, c);
    // d silu / dg = sig (1 + g (1 - sig))
    const V dsilu = hn::Mul(sig, hn::MulAdd(gv, hn::Sub(one, sig), one));
    store(hn::Mul(hn::Mul(dv, uv), dsilu), dg, i, c);
  });
}

}  // namespace sllm::simd
