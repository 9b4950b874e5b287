// ggml's k-quant and IQ4 quantizers and dequantizers (see sllm/quant/kquant.h). Every float
// expression keeps ggml's operand order: the point is ggml's bytes, not just a good fit. This file
// is built with -ffp-contract=off (CMakeLists.txt) because a fused multiply-add rounds once where
// ggml's plain C rounds twice, which moves codes at rounding boundaries.
#include "sllm/quant/kquant.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "quant_imatrix.h"
#include "sllm/common/error.h"
#include "sllm/quant/half.h"
#include "sllm/quant/kdot.h"

namespace sllm {

namespace {

constexpr float kGroupMaxEps = 1e-15f;

// Round to nearest, ties to even, through the float mantissa, as ggml's nearest_int (valid for
// |v| < 2^22, which every caller guarantees by construction of its scales).
int nearest_int(float v) {
  const float f = v + 12582912.f;
  int i;
  std::memcpy(&i, &f, sizeof i);
  return (i & 0x007fffff) - 0x00400000;
}

// Index of the grid value nearest to x in the sorted grid val[0..n) (n a power of two): level j
// wins once 2x reaches val[j-1] + val[j], both sides exact.
int best_index_int8(int n, const int8_t* val, float x) {
  const float x2 = x + x;
  int idx = 0;
  for (int step = n >> 1; step > 0; step >>= 1) {
    const int j = idx + step;
    idx = (x2 >= static_cast<float>(val[j - 1] + val[j])) ? j : idx;
  }
  return idx;
}

// Symmetric codes in [-nmax, nmax) with a least-squares scale search (weights qw, or x^2).
float make_qx_quants(int n, int nmax, const float* x, int8_t* L, const float* qw) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = qw ? qw[i] : x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * x[i]);
      l = std::max(-nmax, std::min(nmax - 1, l));
      const float w = qw ? qw[i] : x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * x[i]);
        L[i] = static_cast<int8_t>(nmax + std::max(-nmax, std::min(nmax - 1, l)));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

// Q3_K's symmetric codes: start from the max-abs grid, then move single codes while that
// improves the x^2-weighted fit.
float make_q3_quants(int n, int nmax, const float* x, int8_t* L) {
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) {
      amax = ax;
      max = x[i];
    }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  const float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::max(-nmax, std::min(nmax - 1, l));
    L[i] = static_cast<int8_t>(l);
    const float w = x[i] * x[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = x[i] * x[i];
      float slx = sumlx - w * x[i] * L[i];
      if (slx > 0) {
        float sl2 = suml2 - w * L[i] * L[i];
        int new_l = nearest_int(x[i] * sl2 / slx);
        new_l = std::max(-nmax, std::min(nmax - 1, new_l));
        if (new_l != L[i]) {
          slx += w * x[i] * new_l;
          sl2 += w * new_l * new_l;
          if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<int8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Affine codes in [0, nmax] (scale and a non-positive minimum) by a weighted least-squares
// search over nstep + 1 grid stretches; the error is absolute (use_mad) or squared.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* the_min, uint8_t* Laux, float rmin, float rdelta, int nstep,
                       bool use_mad) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    float diff = scale * L[i] + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best_error += weights[i] * diff;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = std::max(0, std::min(nmax, l));
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        cur_error += weights[i] * diff;
      }
      if (cur_error < best_error) {
        std::memcpy(L, Laux, static_cast<size_t>(n));
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// make_qkx2_quants' variant of the imatrix quantizers: clamps before rounding (the running
// minimum can sit at the maximum) and always has weights.
float make_qkx3_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L,
                       float* the_min, uint8_t* Laux, float rmin, float rdelta, int nstep) {
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max <= min) {
    std::memset(L, 0, static_cast<size_t>(n));
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_mad = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    float diff = scale * L[i] + min - x[i];
    diff = diff * diff;
    best_mad += weights[i] * diff;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const float v = iscale * (x[i] - min);
      const int l = v > 0 ? nearest_int(std::min(v, static_cast<float>(nmax))) : 0;
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float mad = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = diff * diff;
        mad += weights[i] * diff;
      }
      if (mad < best_mad) {
        std::memcpy(L, Laux, static_cast<size_t>(n));
        best_mad = mad;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

// Non-negative codes in [0, nmax] for the group scales of the imatrix quantizers.
float make_qp_quants(int n, int nmax, const float* x, uint8_t* L, const float* quant_weights) {
  float max = 0;
  for (int i = 0; i < n; ++i) max = std::max(max, x[i]);
  if (max < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = nmax / max;
  for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(nearest_int(iscale * x[i]));
  const float scale = 1 / iscale;
  float best_mse = 0;
  for (int i = 0; i < n; ++i) {
    const float diff = x[i] - scale * L[i];
    best_mse += quant_weights[i] * diff * diff;
  }
  for (int is = -4; is <= 4; ++is) {
    if (is == 0) continue;
    const float iscale_is = (0.1f * is + nmax) / max;
    const float scale_is = 1 / iscale_is;
    float mse = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale_is * x[i]);
      l = std::min(nmax, l);
      const float diff = x[i] - scale_is * l;
      mse += quant_weights[i] * diff * diff;
    }
    if (mse < best_mse) {
      best_mse = mse;
      iscale = iscale_is;
    }
  }
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = std::min(nmax, l);
    L[i] = static_cast<uint8_t>(l);
    const float w = quant_weights[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = quant_weights[i];
      float slx = sumlx - w * x[i] * L[i];
      float sl2 = suml2 - w * L[i] * L[i];
      if (slx > 0 && sl2 > 0) {
        int new_l = nearest_int(x[i] * sl2 / slx);
        new_l = std::min(nmax, new_l);
        if (new_l != L[i]) {
          slx += w * x[i] * new_l;
          sl2 += w * new_l * new_l;
          if (slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<uint8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

// Q4_K/Q5_K's 12 scale bytes: 8 6-bit scales and 8 6-bit mins.
void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
  }
}
void set_scale_min_k4(int j, uint8_t ls, uint8_t lm, uint8_t* s) {
  if (j < 4) {
    s[j] = ls;
    s[j + 4] = lm;
  } else {
    s[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
    s[j - 4] |= static_cast<uint8_t>((ls >> 4) << 6);
    s[j - 0] |= static_cast<uint8_t>((lm >> 4) << 6);
  }
}

// Codes of 2 bits, 4 per byte: byte l of each 32-byte chunk holds weights l, l+32, l+64, l+96
// of its 128.
void pack_2bit(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < kQK; j += 128)
    for (int l = 0; l < 32; ++l)
      qs[j / 4 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) |
                                           (L[j + l + 96] << 6));
}

// ---- Q2_K ----

void quantize_q2_k(const float* x, BlockQ2K* y, int64_t nb, const float* qw) {
  uint8_t L[kQK], Laux[16], Ls[kQK / 16], Lm[kQK / 16];
  float weights[16], mins[kQK / 16], scales[kQK / 16], sw[kQK / 16];
  const float q4scale = 15.f;
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    if (qw) {
      std::memset(sw, 0, sizeof sw);
      float sumx2 = 0;
      for (int j = 0; j < kQK; ++j) sumx2 += x[j] * x[j];
      const float sigma2 = sumx2 / kQK;
      for (int j = 0; j < kQK / 16; ++j) {
        const float* q = qw + kQK * i + 16 * j;
        for (int l = 0; l < 16; ++l)
          weights[l] = q[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
        for (int l = 0; l < kQK / 16; ++l) sw[j] += weights[l];
        scales[j] = make_qkx3_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.9f,
                                     0.05f, 36);
      }
      const float dm0 = make_qp_quants(kQK / 16, 15, scales, Ls, sw);
      const float mm0 = make_qp_quants(kQK / 16, 15, mins, Lm, sw);
      y[i].d = f32_to_f16(dm0);
      y[i].dmin = f32_to_f16(mm0);
      for (int j = 0; j < kQK / 16; ++j)
        y[i].scales[j] = static_cast<uint8_t>(Ls[j] | (Lm[j] << 4));
    } else {
      float max_scale = 0, max_min = 0;
      for (int j = 0; j < kQK / 16; ++j) {
        for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
        scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f,
                                     0.1f, 15, true);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
      }
      if (max_scale > 0) {
        const float iscale = q4scale / max_scale;
        for (int j = 0; j < kQK / 16; ++j)
          y[i].scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
        y[i].d = f32_to_f16(max_scale / q4scale);
      } else {
        for (int j = 0; j < kQK / 16; ++j) y[i].scales[j] = 0;
        y[i].d = f32_to_f16(0.f);
      }
      if (max_min > 0) {
        const float iscale = q4scale / max_min;
        for (int j = 0; j < kQK / 16; ++j)
          y[i].scales[j] |= static_cast<uint8_t>(nearest_int(iscale * mins[j]) << 4);
        y[i].dmin = f32_to_f16(max_min / q4scale);
      } else {
        y[i].dmin = f32_to_f16(0.f);
      }
    }
    const float dall = f16_to_f32(y[i].d), mall = f16_to_f32(y[i].dmin);
    for (int j = 0; j < kQK / 16; ++j) {
      const float d = dall * (y[i].scales[j] & 0xF);
      if (!d) continue;
      const float dm = mall * (y[i].scales[j] >> 4);
      for (int ii = 0; ii < 16; ++ii) {
        const int l = nearest_int((x[16 * j + ii] + dm) / d);
        L[16 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(3, l)));
      }
    }
    pack_2bit(L, y[i].qs);
  }
}

void dequantize_q2_k(const BlockQ2K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d), min = f16_to_f32(x[i].dmin);
    const uint8_t* q = x[i].qs;
    int is = 0;
    for (int n = 0; n < kQK; n += 128, q += 32) {
      for (int shift = 0; shift < 8; shift += 2) {
        for (int half = 0; half < 2; ++half) {
          const uint8_t sc = x[i].scales[is++];
          const float dl = d * (sc & 0xF), ml = min * (sc >> 4);
          for (int l = 0; l < 16; ++l) *y++ = dl * ((q[l + 16 * half] >> shift) & 3) - ml;
        }
      }
    }
  }
}

// ---- Q3_K ----

// The 16 6-bit scales: low nibbles in bytes 0..7, high 2 bits in bytes 8..11.
void set_q3_scale(uint8_t* s, int j, int l) {
  if (j < 8)
    s[j] = static_cast<uint8_t>(l & 0xF);
  else
    s[j - 8] |= static_cast<uint8_t>((l & 0xF) << 4);
  l >>= 4;
  s[j % 4 + 8] |= static_cast<uint8_t>(l << (2 * (j / 4)));
}
int get_q3_scale(const uint8_t* s, int j) {
  const int lo = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
  return (lo | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
}

void quantize_q3_k(const float* x, BlockQ3K* y, int64_t nb, const float* qw) {
  int8_t L[kQK], Ls[kQK / 16];
  float scales[kQK / 16], weight[16], sw[kQK / 16];
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    std::memset(y[i].scales, 0, 12);
    if (qw) {
      float sumx2 = 0;
      for (int j = 0; j < kQK; ++j) sumx2 += x[j] * x[j];
      const float sigma2 = 2 * sumx2 / kQK;
      for (int j = 0; j < kQK / 16; ++j) {
        const float* q = qw + kQK * i + 16 * j;
        for (int l = 0; l < 16; ++l)
          weight[l] = q[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
        float sumw = 0;
        for (int l = 0; l < 16; ++l) sumw += weight[l];
        sw[j] = sumw;
        scales[j] = make_qx_quants(16, 4, x + 16 * j, L + 16 * j, weight);
      }
      const float d_block = make_qx_quants(kQK / 16, 32, scales, Ls, sw);
      for (int j = 0; j < kQK / 16; ++j) set_q3_scale(y[i].scales, j, Ls[j]);
      y[i].d = f32_to_f16(d_block);
    } else {
      float max_scale = 0, amax = 0;
      for (int j = 0; j < kQK / 16; ++j) {
        scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j);
        const float scale = std::fabs(scales[j]);
        if (scale > amax) {
          amax = scale;
          max_scale = scales[j];
        }
      }
      if (max_scale) {
        const float iscale = -32.f / max_scale;
        for (int j = 0; j < kQK / 16; ++j) {
          int8_t l = static_cast<int8_t>(nearest_int(iscale * scales[j]));
          l = static_cast<int8_t>(std::max(-32, std::min(31, static_cast<int>(l))) + 32);
          set_q3_scale(y[i].scales, j, l);
        }
        y[i].d = f32_to_f16(1 / iscale);
      } else {
        y[i].d = f32_to_f16(0.f);
      }
    }
    for (int j = 0; j < kQK / 16; ++j) {
      const int8_t sc = static_cast<int8_t>(get_q3_scale(y[i].scales, j));
      const float d = f16_to_f32(y[i].d) * sc;
      if (!d) continue;
      for (int ii = 0; ii < 16; ++ii) {
        const int l = nearest_int(x[16 * j + ii] / d);
        L[16 * j + ii] = static_cast<int8_t>(std::max(-4, std::min(3, l)) + 4);
      }
    }
    // The high bit of code j goes to bit j / 32 of hmask byte j % 32.
    std::memset(y[i].hmask, 0, kQK / 8);
    for (int j = 0; j < kQK; ++j)
      if (L[j] > 3) {
        y[i].hmask[j % 32] |= static_cast<uint8_t>(1 << (j / 32));
        L[j] = static_cast<int8_t>(L[j] - 4);
      }
    pack_2bit(reinterpret_cast<const uint8_t*>(L), y[i].qs);
  }
}

void dequantize_q3_k(const BlockQ3K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d_all = f16_to_f32(x[i].d);
    const uint8_t* q = x[i].qs;
    const uint8_t* hm = x[i].hmask;
    uint8_t m = 1;
    int is = 0;
    for (int n = 0; n < kQK; n += 128, q += 32) {
      for (int shift = 0; shift < 8; shift += 2, m = static_cast<uint8_t>(m << 1)) {
        for (int half = 0; half < 2; ++half) {
          const float dl = d_all * static_cast<int8_t>(get_q3_scale(x[i].scales, is++));
          for (int l = 0; l < 16; ++l) {
            const int k = l + 16 * half;
            *y++ = dl * (((q[k] >> shift) & 3) - ((hm[k] & m) ? 0 : 4));
          }
        }
      }
    }
  }
}

// ---- Q4_K and Q5_K: the same scales, 4 or 5 code bits ----

template <int kBits>
void quantize_q45_k(const float* x, uint16_t* dd, uint16_t* dmin, uint8_t* sc, uint8_t* L,
                    const float* qw, int64_t i) {
  constexpr int nmax = (1 << kBits) - 1;
  uint8_t Laux[32], Ls[kQK / 32], Lm[kQK / 32];
  float weights[32], mins[kQK / 32], scales[kQK / 32], sw[kQK / 32];
  std::memset(sc, 0, 12);
  if (qw) {
    float sum_x2 = 0;
    for (int l = 0; l < kQK; ++l) sum_x2 += x[l] * x[l];
    const float sigma2 = 2 * sum_x2 / kQK;
    for (int j = 0; j < kQK / 32; ++j) {
      const float* q = qw + kQK * i + 32 * j;
      for (int l = 0; l < 32; ++l)
        weights[l] = q[l] * std::sqrt(sigma2 + x[32 * j + l] * x[32 * j + l]);
      float sumw = 0;
      for (int l = 0; l < 32; ++l) sumw += weights[l];
      sw[j] = sumw;
      scales[j] = make_qkx3_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -0.9f,
                                   0.05f, 36);
    }
    const float d_block = make_qp_quants(kQK / 32, 63, scales, Ls, sw);
    const float m_block = make_qp_quants(kQK / 32, 63, mins, Lm, sw);
    for (int j = 0; j < kQK / 32; ++j)
      set_scale_min_k4(j, std::min<uint8_t>(63, Ls[j]), std::min<uint8_t>(63, Lm[j]), sc);
    *dd = f32_to_f16(d_block);
    *dmin = f32_to_f16(m_block);
  } else {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < kQK / 32; ++j) {
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
      scales[j] = kBits == 4 ? make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j],
                                                Laux, -1.f, 0.1f, 20, false)
                             : make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j],
                                                Laux, -0.5f, 0.1f, 15, false);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < kQK / 32; ++j) {
      const auto ls = static_cast<uint8_t>(nearest_int(inv_scale * scales[j]));
      const auto lm = static_cast<uint8_t>(nearest_int(inv_min * mins[j]));
      set_scale_min_k4(j, std::min<uint8_t>(63, ls), std::min<uint8_t>(63, lm), sc);
    }
    *dd = f32_to_f16(max_scale / 63.f);
    *dmin = f32_to_f16(max_min / 63.f);
  }
  for (int j = 0; j < kQK / 32; ++j) {
    uint8_t s, m;
    get_scale_min_k4(j, sc, &s, &m);
    const float d = f16_to_f32(*dd) * s;
    if (!d) continue;
    const float dm = f16_to_f32(*dmin) * m;
    for (int ii = 0; ii < 32; ++ii) {
      const int l = nearest_int((x[32 * j + ii] + dm) / d);
      L[32 * j + ii] = static_cast<uint8_t>(std::max(0, std::min(nmax, l)));
    }
  }
}

void quantize_q4_k(const float* x, BlockQ4K* y, int64_t nb, const float* qw) {
  uint8_t L[kQK];
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    quantize_q45_k<4>(x, &y[i].d, &y[i].dmin, y[i].scales, L, qw, i);
    // Byte l of 32-byte chunk c: weight 64c + l low, 64c + 32 + l high.
    for (int j = 0; j < kQK; j += 64)
      for (int l = 0; l < 32; ++l)
        y[i].qs[j / 2 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
  }
}

void quantize_q5_k(const float* x, BlockQ5K* y, int64_t nb, const float* qw) {
  uint8_t L[kQK];
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    quantize_q45_k<5>(x, &y[i].d, &y[i].dmin, y[i].scales, L, qw, i);
    // Fifth bits: weight 64c + l sets bit 2c of qh[l], weight 64c + 32 + l bit 2c + 1.
    std::memset(y[i].qh, 0, kQK / 8);
    for (int n = 0, c = 0; n < kQK; n += 64, ++c)
      for (int j = 0; j < 32; ++j) {
        int l1 = L[n + j], l2 = L[n + j + 32];
        if (l1 > 15) {
          l1 -= 16;
          y[i].qh[j] |= static_cast<uint8_t>(1 << (2 * c));
        }
        if (l2 > 15) {
          l2 -= 16;
          y[i].qh[j] |= static_cast<uint8_t>(2 << (2 * c));
        }
        y[i].qs[n / 2 + j] = static_cast<uint8_t>(l1 | (l2 << 4));
      }
  }
}

void dequantize_q4_k(const BlockQ4K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d), min = f16_to_f32(x[i].dmin);
    const uint8_t* q = x[i].qs;
    for (int j = 0, is = 0; j < kQK; j += 64, q += 32, is += 2) {
      uint8_t sc, m;
      get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
    }
  }
}

void dequantize_q5_k(const BlockQ5K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d), min = f16_to_f32(x[i].dmin);
    const uint8_t* ql = x[i].qs;
    const uint8_t* qh = x[i].qh;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0, is = 0; j < kQK; j += 64, ql += 32, is += 2) {
      uint8_t sc, m;
      get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * ((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
      u1 = static_cast<uint8_t>(u1 << 2);
      u2 = static_cast<uint8_t>(u2 << 2);
    }
  }
}

// ---- Q6_K ----

void quantize_q6_k(const float* x, BlockQ6K* y, int64_t nb, const float* qw) {
  int8_t L[kQK];
  float scales[kQK / 16];
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    float max_scale = 0, max_abs_scale = 0;
    for (int ib = 0; ib < kQK / 16; ++ib) {
      const float scale =
          make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, qw ? qw + kQK * i + 16 * ib : nullptr);
      scales[ib] = scale;
      const float abs_scale = std::fabs(scale);
      if (abs_scale > max_abs_scale) {
        max_abs_scale = abs_scale;
        max_scale = scale;
      }
    }
    if (max_abs_scale < kGroupMaxEps) {
      std::memset(&y[i], 0, sizeof(BlockQ6K));
      continue;
    }
    const float iscale = -128.f / max_scale;
    y[i].d = f32_to_f16(1 / iscale);
    for (int ib = 0; ib < kQK / 16; ++ib)
      y[i].scales[ib] = static_cast<int8_t>(std::min(127, nearest_int(iscale * scales[ib])));
    for (int j = 0; j < kQK / 16; ++j) {
      const float d = f16_to_f32(y[i].d) * y[i].scales[j];
      if (!d) continue;
      for (int ii = 0; ii < 16; ++ii) {
        const int l = nearest_int(x[16 * j + ii] / d);
        L[16 * j + ii] = static_cast<int8_t>(std::max(-32, std::min(31, l)) + 32);
      }
    }
    // Per 128: ql byte l holds weights l (low) and l+64 (high), byte l+32 weights l+32 and
    // l+96; qh byte l holds the top 2 bits of l, l+32, l+64, l+96.
    uint8_t* ql = y[i].ql;
    uint8_t* qh = y[i].qh;
    for (int j = 0; j < kQK; j += 128, ql += 64, qh += 32)
      for (int l = 0; l < 32; ++l) {
        const int q1 = L[j + l], q2 = L[j + l + 32], q3 = L[j + l + 64], q4 = L[j + l + 96];
        ql[l] = static_cast<uint8_t>((q1 & 0xF) | ((q3 & 0xF) << 4));
        ql[l + 32] = static_cast<uint8_t>((q2 & 0xF) | ((q4 & 0xF) << 4));
        qh[l] = static_cast<uint8_t>((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) |
                                     ((q4 >> 4) << 6));
      }
  }
}

void dequantize_q6_k(const BlockQ6K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = f16_to_f32(x[i].d);
    const uint8_t* ql = x[i].ql;
    const uint8_t* qh = x[i].qh;
    const int8_t* sc = x[i].scales;
    for (int n = 0; n < kQK; n += 128, y += 128, ql += 64, qh += 32, sc += 8) {
      for (int l = 0; l < 32; ++l) {
        const int is = l / 16;
        const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
        const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
        const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
        const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
        y[l] = d * sc[is + 0] * q1;
        y[l + 32] = d * sc[is + 2] * q2;
        y[l + 64] = d * sc[is + 4] * q3;
        y[l + 96] = d * sc[is + 6] * q4;
      }
    }
  }
}

// ---- Q8_K (activations) ----

void quantize_q8_k(const float* x, BlockQ8K* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, x += kQK) {
    float max = 0, amax = 0;
    for (int j = 0; j < kQK; ++j) {
      const float ax = std::fabs(x[j]);
      if (ax > amax) {
        amax = ax;
        max = x[j];
      }
    }
    if (!amax) {
      std::memset(&y[i], 0, sizeof(BlockQ8K));
      continue;
    }
    const float iscale = -127.f / max;
    for (int j = 0; j < kQK; ++j)
      y[i].qs[j] = static_cast<int8_t>(std::min(127, nearest_int(iscale * x[j])));
    for (int j = 0; j < kQK / 16; ++j) {
      int sum = 0;
      for (int ii = 0; ii < 16; ++ii) sum += y[i].qs[j * 16 + ii];
      y[i].bsums[j] = static_cast<int16_t>(sum);
    }
    y[i].d = 1 / iscale;
  }
}

void dequantize_q8_k(const BlockQ8K* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i)
    for (int j = 0; j < kQK; ++j) *y++ = x[i].d * x[i].qs[j];
}

// ---- IQ4_NL and IQ4_XS ----

// One super block of `super` weights in groups of 32 (IQ4_NL: super = 32, one group whose
// scale is the f16 d; IQ4_XS: super = 256, 6-bit group scales under d). ggml tries 15 grid
// stretches per group and keeps the best weighted least-squares fit.
void quantize_iq4_block(int super, const float* x, uint16_t* dh, uint8_t* q4, uint16_t* scales_h,
                        uint8_t* scales_l, const float* qw) {
  constexpr int block = 32, ntry = 7;
  const int8_t* values = kIQ4NLValues;
  float scales[kQK / 32], weight[32];
  uint8_t L[kQK];
  float sigma2 = 0;
  for (int j = 0; j < super; ++j) sigma2 += x[j] * x[j];
  sigma2 *= 2.f / super;
  std::memset(q4, 0, static_cast<size_t>(super / 2));
  *dh = f32_to_f16(0.f);
  float max_scale = 0, amax_scale = 0;
  for (int ib = 0; ib < super / block; ++ib) {
    const float* xb = x + ib * block;
    uint8_t* Lb = L + ib * block;
    if (qw) {
      const float* q = qw + ib * block;
      for (int j = 0; j < block; ++j) weight[j] = q[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    } else {
      for (int j = 0; j < block; ++j) weight[j] = xb[j] * xb[j];
    }
    float amax = 0, max = 0;
    for (int j = 0; j < block; ++j) {
      const float ax = std::fabs(xb[j]);
      if (ax > amax) {
        amax = ax;
        max = xb[j];
      }
    }
    if (amax < kGroupMaxEps) {
      scales[ib] = 0;
      std::memset(Lb, 0, block);
      continue;
    }
    float d = -max / values[0];
    float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int j = 0; j < block; ++j) {
      const int l = best_index_int8(16, values, id * xb[j]);
      Lb[j] = static_cast<uint8_t>(l);
      const float q = values[l], w = weight[j];
      sumqx += w * q * xb[j];
      sumq2 += w * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    for (int itry = -ntry; itry <= ntry; ++itry) {
      id = (itry + values[0]) / max;
      sumqx = sumq2 = 0;
      for (int j = 0; j < block; ++j) {
        const int l = best_index_int8(16, values, id * xb[j]);
        const float q = values[l], w = weight[j];
        sumqx += w * q * xb[j];
        sumq2 += w * q * q;
      }
      if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
        d = sumqx / sumq2;
        best = d * sumqx;
      }
    }
    scales[ib] = d;
    const float abs_d = std::fabs(d);
    if (abs_d > amax_scale) {
      amax_scale = abs_d;
      max_scale = d;
    }
  }
  if (super / block > 1) {
    *scales_h = 0;
    const float d = -max_scale / 32;
    *dh = f32_to_f16(d);
    const float id = d ? 1 / d : 0.f;
    for (int ib = 0; ib < super / block; ++ib) {
      int l = nearest_int(id * scales[ib]);
      l = std::max(-32, std::min(31, l));
      const float dl = d * l;
      const float idl = dl ? 1 / dl : 0.f;
      for (int j = 0; j < block; ++j)
        L[ib * block + j] =
            static_cast<uint8_t>(best_index_int8(16, values, idl * x[ib * block + j]));
      l += 32;
      const auto l_l = static_cast<uint8_t>(l & 0xf), l_h = static_cast<uint8_t>(l >> 4);
      if (ib % 2 == 0)
        scales_l[ib / 2] = l_l;
      else
        scales_l[ib / 2] |= static_cast<uint8_t>(l_l << 4);
      *scales_h |= static_cast<uint16_t>(l_h << 2 * (ib % 8));
    }
  } else {
    *dh = f32_to_f16(scales[0]);
    const float id = scales[0] ? 1 / scales[0] : 0;
    for (int j = 0; j < super; ++j)
      L[j] = static_cast<uint8_t>(best_index_int8(16, values, id * x[j]));
  }
  for (int i = 0; i < super / 32; ++i)
    for (int j = 0; j < 16; ++j)
      q4[16 * i + j] = static_cast<uint8_t>(L[32 * i + j] | (L[32 * i + 16 + j] << 4));
}

void quantize_iq4_nl(const float* x, BlockIQ4NL* y, int64_t nb, const float* qw) {
  for (int64_t i = 0; i < nb; ++i)
    quantize_iq4_block(32, x + 32 * i, &y[i].d, y[i].qs, nullptr, nullptr,
                       qw ? qw + 32 * i : nullptr);
}

void quantize_iq4_xs(const float* x, BlockIQ4XS* y, int64_t nb, const float* qw) {
  for (int64_t i = 0; i < nb; ++i)
    quantize_iq4_block(kQK, x + kQK * i, &y[i].d, y[i].qs, &y[i].scales_h, y[i].scales_l,
                       qw ? qw + kQK * i : nullptr);
}

void dequantize_iq4_nl(const BlockIQ4NL* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i, y += 32) {
    const float d = f16_to_f32(x[i].d);
    for (int j = 0; j < 16; ++j) {
      y[j] = d * kIQ4NLValues[x[i].qs[j] & 0xf];
      y[j + 16] = d * kIQ4NLValues[x[i].qs[j] >> 4];
    }
  }
}

void dequantize_iq4_xs(const BlockIQ4XS* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const uint8_t* qs = x[i].qs;
    const float d = f16_to_f32(x[i].d);
    for (int ib = 0; ib < kQK / 32; ++ib, y += 32, qs += 16) {
      const int ls =
          ((x[i].scales_l[ib / 2] >> 4 * (ib % 2)) & 0xf) | (((x[i].scales_h >> 2 * ib) & 3) << 4);
      const float dl = d * (ls - 32);
      for (int j = 0; j < 16; ++j) {
        y[j] = dl * kIQ4NLValues[qs[j] & 0xf];
        y[j + 16] = dl * kIQ4NLValues[qs[j] >> 4];
      }
    }
  }
}

// ---- the table ----

struct KTraits {
  GGMLType type;
  int block;
  void (*quantize)(const float* x, void* y, int64_t nb, const float* qw);
  void (*dequantize)(const void* x, float* y, int64_t nb);
};

template <class B, void (*Q)(const float*, B*, int64_t, const float*),
          void (*D)(const B*, float*, int64_t)>
constexpr KTraits traits(GGMLType t, int block) {
  return {t, block,
          [](const float* x, void* y, int64_t nb, const float* qw) {
            Q(x, static_cast<B*>(y), nb, qw);
          },
          [](const void* x, float* y, int64_t nb) { D(static_cast<const B*>(x), y, nb); }};
}

void quantize_q8_k_table(const float* x, BlockQ8K* y, int64_t nb, const float* qw) {
  if (qw) fail("Q8_K is an activation type and takes no importance matrix");
  quantize_q8_k(x, y, nb);
}

constexpr KTraits kTraits[] = {
    traits<BlockQ2K, quantize_q2_k, dequantize_q2_k>(GGMLType::Q2_K, kQK),
    traits<BlockQ3K, quantize_q3_k, dequantize_q3_k>(GGMLType::Q3_K, kQK),
    traits<BlockQ4K, quantize_q4_k, dequantize_q4_k>(GGMLType::Q4_K, kQK),
    traits<BlockQ5K, quantize_q5_k, dequantize_q5_k>(GGMLType::Q5_K, kQK),
    traits<BlockQ6K, quantize_q6_k, dequantize_q6_k>(GGMLType::Q6_K, kQK),
    traits<BlockQ8K, quantize_q8_k_table, dequantize_q8_k>(GGMLType::Q8_K, kQK),
    traits<BlockIQ4NL, quantize_iq4_nl, dequantize_iq4_nl>(GGMLType::IQ4_NL, 32),
    traits<BlockIQ4XS, quantize_iq4_xs, dequantize_iq4_xs>(GGMLType::IQ4_XS, kQK),
};

// sigma^2: the row's mean square, so a weight's importance never drops to 0 with x.
float row_sigma2(const float* x, int64_t n) {
  float sum_x2 = 0;
  for (int64_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
  return sum_x2 / static_cast<float>(n);
}

}  // namespace

void quantize_q4_0_imatrix(const float* x, BlockQ4_0* y, int64_t n, const float* qw) {
  const float sigma2 = row_sigma2(x, n);
  float weight[kQBlock];
  int8_t L[kQBlock];
  for (int64_t ib = 0; ib < n / kQBlock; ++ib) {
    const float* xb = x + kQBlock * ib;
    const float* q = qw + kQBlock * ib;
    for (int j = 0; j < kQBlock; ++j) weight[j] = q[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    const float d = make_qx_quants(kQBlock, 8, xb, L, weight);
    y[ib].d = f32_to_f16(d);
    for (int j = 0; j < kQBlock / 2; ++j)
      y[ib].qs[j] = static_cast<uint8_t>(L[j] | (L[j + 16] << 4));
  }
}

void quantize_q4_1_imatrix(const float* x, BlockQ4_1* y, int64_t n, const float* qw) {
  const float sigma2 = row_sigma2(x, n);
  float weight[kQBlock];
  uint8_t L[kQBlock], Laux[kQBlock];
  for (int64_t ib = 0; ib < n / kQBlock; ++ib) {
    const float* xb = x + kQBlock * ib;
    const float* q = qw + kQBlock * ib;
    for (int j = 0; j < kQBlock; ++j) weight[j] = q[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    float min;
    const float d = make_qkx3_quants(kQBlock, 15, xb, weight, L, &min, Laux, -0.9f, 0.05f, 36);
    y[ib].d = f32_to_f16(d);
    y[ib].m = f32_to_f16(-min);
    for (int j = 0; j < kQBlock / 2; ++j)
      y[ib].qs[j] = static_cast<uint8_t>(L[j] | (L[j + 16] << 4));
  }
}

namespace {

const KTraits& ktraits(GGMLType t) {
  for (const KTraits& k : kTraits)
    if (k.type == t) return k;
  fail("{} is not a k-quant or IQ4 type", ggml_type_name(t));
}

void check_row(const KTraits& k, int64_t n) {
  if (n % k.block != 0)
    fail("{} rows need a multiple of {} values, got {}", ggml_type_name(k.type), k.block, n);
}

}  // namespace

bool is_kquant_type(GGMLType t) {
  return std::any_of(std::begin(kTraits), std::end(kTraits),
                     [t](const KTraits& k) { return k.type == t; });
}

GGMLType dot_activation_type(GGMLType t) {
  if (t == GGMLType::IQ4_NL) return GGMLType::Q8_0;
  return is_kquant_type(t) && t != GGMLType::Q8_K ? GGMLType::Q8_K : GGMLType::F32;
}

void quantize_row_kquant(GGMLType t, const float* x, void* dst, int64_t n, const float* imatrix) {
  const KTraits& k = ktraits(t);
  check_row(k, n);
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(x[i]))
      fail("cannot quantize to {}: weight {} is {}", ggml_type_name(t), i, x[i]);
  k.quantize(x, dst, n / k.block, imatrix);
}

void quantize_acts_q8_k(const float* x, BlockQ8K* y, int64_t n) {
  if (n % kQK != 0) fail("Q8_K activations need a multiple of {} values, got {}", kQK, n);
  for (int64_t b = 0; b < n / kQK; ++b, x += kQK) {
    bool finite = true;
    for (int j = 0; j < kQK; ++j) finite &= std::isfinite(x[j]);
    if (finite) {
      quantize_q8_k(x, y + b, 1);
      continue;
    }
    std::memset(&y[b], 0, sizeof(BlockQ8K));
    y[b].d = NAN;
  }
}

void dequantize_row_kquant(GGMLType t, const void* src, float* y, int64_t n) {
  const KTraits& k = ktraits(t);
  check_row(k, n);
  k.dequantize(src, y, n / k.block);
}

}  // namespace sllm
