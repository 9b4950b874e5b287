#include <cfloat>

#include "kernels.h"

namespace sllm::cuda {

namespace {

constexpr int kThreads = 256;

int blocks_for(size_t n, int threads = kThreads) {
  return static_cast<int>((n + threads - 1) / threads);
}

__device__ float f(bf16 x) {
  return __bfloat162float(x);
}
__device__ bf16 h(float x) {
  return __float2bfloat16(x);
}

__device__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Reduction over a block of kThreads threads; every thread gets the result.
template <bool kMax>
__device__ float block_reduce(float v) {
  __shared__ float part[kThreads / 32];
  __shared__ float result;
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  v = kMax ? warp_max(v) : warp_sum(v);
  if (lane == 0) part[warp] = v;
  __syncthreads();
  if (warp == 0) {
    float x = lane < kThreads / 32 ? part[lane] : (kMax ? -FLT_MAX : 0.0f);
    x = kMax ? warp_max(x) : warp_sum(x);
    if (lane == 0) result = x;
  }
  __syncthreads();
  const float r = result;
  __syncthreads();  // part/result may be reused by the next call
  return r;
}

__global__ void to_bf16_kernel(bf16* out, const float* in, size_t n) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = h(in[i]);
}
__global__ void to_f32_kernel(float* out, const bf16* in, size_t n) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = f(in[i]);
}

__global__ void embedding_forward_kernel(bf16* out, const int32_t* tokens, const bf16* wte,
                                         const bf16* wpe, int T, int C, size_t total) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= total) return;
  const size_t n = i / C;
  const int c = static_cast<int>(i % C), t = static_cast<int>(n % T);
  out[i] = h(f(wte[size_t(tokens[n]) * C + c]) + (wpe ? f(wpe[size_t(t) * C + c]) : 0.0f));
}

__global__ void embedding_backward_wte(float* dwte, const bf16* dout, const int32_t* tokens, int N,
                                       int C) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= C) return;
  for (int n = 0; n < N; ++n) dwte[size_t(tokens[n]) * C + c] += f(dout[size_t(n) * C + c]);
}

__global__ void embedding_backward_wpe(float* dwpe, const bf16* dout, int B, int T, int C) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= size_t(T) * C) return;
  float s = 0.0f;
  for (int b = 0; b < B; ++b) s += f(dout[size_t(b) * T * C + i]);
  dwpe[i] += s;
}

// One warp per row.
__global__ void layernorm_forward_kernel(bf16* out, float* mean, float* rstd, const bf16* x,
                                         const bf16* w, const bf16* b, int N, int C, float eps) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= N) return;
  const bf16* xr = x + size_t(row) * C;
  float s = 0.0f;
  for (int c = lane; c < C; c += 32) s += f(xr[c]);
  const float mu = warp_sum(s) / C;
  float var = 0.0f;
  for (int c = lane; c < C; c += 32) {
    const float d = f(xr[c]) - mu;
    var += d * d;
  }
  const float rs = rsqrtf(warp_sum(var) / C + eps);
  bf16* o = out + size_t(row) * C;
  for (int c = lane; c < C; c += 32)
    o[c] = h((f(xr[c]) - mu) * rs * f(w[c]) + (b ? f(b[c]) : 0.0f));
  if (lane == 0) mean[row] = mu, rstd[row] = rs;
}

__global__ void layernorm_backward_dx(bf16* dx, const bf16* dout, const bf16* x, const bf16* w,
                                      const float* mean, const float* rstd, int N, int C) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= N) return;
  const size_t o = size_t(row) * C;
  const float mu = mean[row], rs = rstd[row];
  float sd = 0.0f, sdx = 0.0f;
  for (int c = lane; c < C; c += 32) {
    const float dn = f(dout[o + c]) * f(w[c]);
    sd += dn;
    sdx += dn * (f(x[o + c]) - mu) * rs;
  }
  sd = warp_sum(sd) / C;
  sdx = warp_sum(sdx) / C;
  for (int c = lane; c < C; c += 32) {
    const float dn = f(dout[o + c]) * f(w[c]), xhat = (f(x[o + c]) - mu) * rs;
    dx[o + c] = h(f(dx[o + c]) + rs * (dn - sd - xhat * sdx));
  }
}

// Column sums over N rows for 32 columns per block: kRowGroups row groups, then a fixed-order
// combine.
// With x (LayerNorm), also sum dout * xhat into dw.
constexpr int kRowGroups = 32;

__global__ void column_sums_kernel(float* dw, float* db, const bf16* dout, const bf16* x,
                                   const float* mean, const float* rstd, int N, int C) {
  __shared__ float sw[kRowGroups][32], sb[kRowGroups][32];
  const int c = blockIdx.x * 32 + threadIdx.x;
  float aw = 0.0f, ab = 0.0f;
  if (c < C)
    for (int n = threadIdx.y; n < N; n += kRowGroups) {
      const float d = f(dout[size_t(n) * C + c]);
      ab += d;
      if (x) aw += d * (f(x[size_t(n) * C + c]) - (mean ? mean[n] : 0.0f)) * rstd[n];
    }
  sw[threadIdx.y][threadIdx.x] = aw;
  sb[threadIdx.y][threadIdx.x] = ab;
  __syncthreads();
  if (threadIdx.y == 0 && c < C) {
    float tw = 0.0f, tb = 0.0f;
    for (int y = 0; y < kRowGroups; ++y) tw += sw[y][threadIdx.x], tb += sb[y][threadIdx.x];
    if (db) db[c] += tb;
    if (dw) dw[c] += tw;
  }
}

__global__ void add_bias_kernel(bf16* out, const bf16* bias, int C, size_t total) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i < total) out[i] = h(f(out[i]) + f(bias[i % C]));
}

__global__ void residual_kernel(bf16* out, const bf16* a, const bf16* b, size_t n) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i < n) out[i] = h(f(a[i]) + f(b[i]));
}

constexpr float kGeluC = 0.7978845608028654f;  // sqrt(2/pi), GPT-2's tanh approximation

__global__ void gelu_forward_kernel(bf16* out, const bf16* in, size_t n) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const float x = f(in[i]);
  out[i] = h(0.5f * x * (1.0f + tanhf(kGeluC * (x + 0.044715f * x * x * x))));
}

__global__ void gelu_backward_kernel(bf16* dinp, const bf16* inp, const bf16* dout, size_t n) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const float x = f(inp[i]);
  const float u = kGeluC * (x + 0.044715f * x * x * x), t = tanhf(u);
  const float du = kGeluC * (1.0f + 3.0f * 0.044715f * x * x);
  dinp[i] = h(f(dout[i]) * (0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * du));
}

// Index maps between [B,T,3,H,hd] (or [B,T,H,hd]) and [3][B,H,T,hd] (or [B,H,T,hd]).
// qkv rows [B,T, H*hd | KV*hd | KV*hd] <-> q [B,H,T,hd], k and v [B,KV,T,hd] one after another.
__global__ void split_heads_kernel(bf16* qkvr, bf16* qkv, int B, int T, int H, int KV, int hd,
                                   bool inverse) {
  const size_t N = size_t(B) * T, S = size_t(H + 2 * KV) * hd;
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= N * S) return;
  const size_t qn = N * H * hd, kn = N * KV * hd;
  size_t r = i;
  int heads = H, first = 0;  // the region's head count and its first column in a qkv row
  if (r >= qn + kn) {
    r -= qn + kn, heads = KV, first = (H + KV) * hd;
  } else if (r >= qn) {
    r -= qn, heads = KV, first = H * hd;
  }
  const int d = r % hd;
  r /= hd;
  const int t = r % T;
  r /= T;
  const int hh = r % heads, b = static_cast<int>(r / heads);
  const size_t src = (size_t(b) * T + t) * S + first + size_t(hh) * hd + d;
  if (inverse)
    qkv[src] = qkvr[i];
  else
    qkvr[i] = qkv[src];
}

__global__ void heads_rows_kernel(bf16* out, const bf16* in, int B, int T, int H, int hd,
                                  bool to_rows) {
  const size_t n = size_t(B) * H * T * hd, i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  size_t r = i;  // i indexes [B,H,T,hd]
  const int d = r % hd;
  r /= hd;
  const int t = r % T;
  r /= T;
  const int hh = r % H, b = static_cast<int>(r / H);
  const size_t row = ((size_t(b) * T + t) * H + hh) * hd + d;
  if (to_rows)
    out[row] = in[i];
  else
    out[i] = in[row];
}

// One warp per row of T scores; row r is query position t = r % T, keys 0..t.
__global__ void causal_softmax_forward_kernel(bf16* att, int rows, int T) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= rows) return;
  const int t = row % T;
  bf16* a = att + size_t(row) * T;
  float mx = -FLT_MAX;
  for (int j = lane; j <= t; j += 32) mx = fmaxf(mx, f(a[j]));
  mx = warp_max(mx);
  float s = 0.0f;
  for (int j = lane; j <= t; j += 32) s += expf(f(a[j]) - mx);
  const float inv = 1.0f / warp_sum(s);
  for (int j = lane; j < T; j += 32) a[j] = h(j <= t ? expf(f(a[j]) - mx) * inv : 0.0f);
}

__global__ void causal_softmax_backward_kernel(bf16* dp, const bf16* p, int rows, int T) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= rows) return;
  const int t = row % T;
  const bf16* pr = p + size_t(row) * T;
  bf16* d = dp + size_t(row) * T;
  float dot = 0.0f;
  for (int j = lane; j <= t; j += 32) dot += f(pr[j]) * f(d[j]);
  dot = warp_sum(dot);
  for (int j = lane; j < T; j += 32) d[j] = h(j <= t ? f(pr[j]) * (f(d[j]) - dot) : 0.0f);
}

// One block per row.
__global__ void cross_entropy_forward_kernel(float* loss, float* lse, const bf16* logits,
                                             const int32_t* targets, int V) {
  const int n = blockIdx.x;
  const bf16* x = logits + size_t(n) * V;
  float mx = -FLT_MAX;
  for (int j = threadIdx.x; j < V; j += blockDim.x) mx = fmaxf(mx, f(x[j]));
  mx = block_reduce<true>(mx);
  float s = 0.0f;
  for (int j = threadIdx.x; j < V; j += blockDim.x) s += expf(f(x[j]) - mx);
  s = block_reduce<false>(s);
  if (threadIdx.x == 0) {
    const float l = mx + logf(s);
    lse[n] = l;
    loss[n] = targets[n] >= 0 ? l - f(x[targets[n]]) : 0.0f;
  }
}

__global__ void cross_entropy_backward_kernel(bf16* logits, const float* lse,
                                              const int32_t* targets, int V, float scale) {
  const int n = blockIdx.x, tgt = targets[n];
  bf16* x = logits + size_t(n) * V;
  const float l = lse[n];
  for (int j = threadIdx.x; j < V; j += blockDim.x)
    x[j] = h(tgt < 0 ? 0.0f : (expf(f(x[j]) - l) - (j == tgt ? 1.0f : 0.0f)) * scale);
}

__global__ void sum_squares_partial(float* partials, const float* g, size_t n) {
  float s = 0.0f;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n;
       i += size_t(gridDim.x) * blockDim.x)
    s += g[i] * g[i];
  s = block_reduce<false>(s);
  if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

__global__ void sum_partials(float* out, const float* partials, int n) {
  float s = 0.0f;
  for (int i = threadIdx.x; i < n; i += blockDim.x) s += partials[i];
  s = block_reduce<false>(s);
  if (threadIdx.x == 0) out[0] = s;
}

__global__ void scale_kernel(float* x, float s, size_t n) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i < n) x[i] *= s;
}

__global__ void adamw_kernel(float* p, bf16* pb, const float* g, float* m, float* v, size_t n,
                             float step, float b1, float b2, float eps, float keep, float gs,
                             float sqrt_bc2) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const float gi = g[i] * gs;
  const float mi = b1 * m[i] + (1.0f - b1) * gi;
  const float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
  m[i] = mi;
  v[i] = vi;
  const float pi = p[i] * keep - step * mi / (sqrtf(vi) / sqrt_bc2 + eps);
  p[i] = pi;
  pb[i] = h(pi);
}

// RMSNorm: one warp per row.
__global__ void rmsnorm_forward_kernel(bf16* out, float* rstd, const bf16* x, const bf16* w, int N,
                                       int C, float eps) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= N) return;
  const bf16* xr = x + size_t(row) * C;
  float ss = 0.0f;
  for (int c = lane; c < C; c += 32) ss += f(xr[c]) * f(xr[c]);
  const float rs = rsqrtf(warp_sum(ss) / C + eps);
  bf16* o = out + size_t(row) * C;
  for (int c = lane; c < C; c += 32) o[c] = h(f(xr[c]) * rs * f(w[c]));
  if (lane == 0) rstd[row] = rs;
}

__global__ void rmsnorm_backward_dx(bf16* dx, const bf16* dout, const bf16* x, const bf16* w,
                                    const float* rstd, int N, int C) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= N) return;
  const size_t o = size_t(row) * C;
  const float rs = rstd[row];
  float sdx = 0.0f;
  for (int c = lane; c < C; c += 32) sdx += f(dout[o + c]) * f(w[c]) * f(x[o + c]) * rs;
  sdx = warp_sum(sdx) / C;
  for (int c = lane; c < C; c += 32) {
    const float dn = f(dout[o + c]) * f(w[c]), xhat = f(x[o + c]) * rs;
    dx[o + c] = h(f(dx[o + c]) + rs * (dn - xhat * sdx));
  }
}

// Rotates the interleaved pairs (2i, 2i+1) of x [B, heads, T, hd] by position t (sign -1: the
// inverse rotation, which is the backward).
__global__ void rope_kernel(bf16* x, const float* cos_t, const float* sin_t, int T, int hd,
                            size_t pairs, float sign) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= pairs) return;
  const int half = hd / 2, k = i % half, t = (i / half) % T;
  bf16* v = x + 2 * i;
  const float c = cos_t[size_t(t) * half + k], sn = sign * sin_t[size_t(t) * half + k];
  const float x0 = f(v[0]), x1 = f(v[1]);
  v[0] = h(x0 * c - x1 * sn);
  v[1] = h(x0 * sn + x1 * c);
}

__device__ float silu(float g) {
  return g / (1.0f + expf(-g));
}

// hpre rows [gate F | up F] -> out [N, F] = silu(gate) * up.
__global__ void swiglu_forward_kernel(bf16* out, const bf16* hpre, int F, size_t total) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= total) return;
  const size_t n = i / F, j = i % F;
  const bf16* row = hpre + n * 2 * F;
  out[i] = h(silu(f(row[j])) * f(row[F + j]));
}

__global__ void swiglu_backward_kernel(bf16* dhpre, const bf16* hpre, const bf16* dout, int F,
                                       size_t total) {
  const size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x;
  if (i >= total) return;
  const size_t n = i / F, j = i % F;
  const bf16* row = hpre + n * 2 * F;
  bf16* drow = dhpre + n * 2 * F;
  const float g = f(row[j]), u = f(row[F + j]), d = f(dout[i]);
  const float sig = 1.0f / (1.0f + expf(-g));
  drow[j] = h(d * u * sig * (1.0f + g * (1.0f - sig)));
  drow[F + j] = h(d * g * sig);
}

int warp_rows_blocks(int rows) {
  return (rows + kThreads / 32 - 1) / (kThreads / 32);
}

}  // namespace

void to_bf16(bf16* out, const float* in, size_t n) {
  if (n) to_bf16_kernel<<<blocks_for(n), kThreads>>>(out, in, n);
}
void to_f32(float* out, const bf16* in, size_t n) {
  if (n) to_f32_kernel<<<blocks_for(n), kThreads>>>(out, in, n);
}

void embedding_forward(bf16* out, const int32_t* tokens, const bf16* wte, const bf16* wpe, int B,
                       int T, int C) {
  const size_t total = size_t(B) * T * C;
  embedding_forward_kernel<<<blocks_for(total), kThreads>>>(out, tokens, wte, wpe, T, C, total);
}

void embedding_backward(float* dwte, float* dwpe, const bf16* dout, const int32_t* tokens, int B,
                        int T, int C) {
  embedding_backward_wte<<<blocks_for(C, 128), 128>>>(dwte, dout, tokens, B * T, C);
  if (dwpe) embedding_backward_wpe<<<blocks_for(size_t(T) * C), kThreads>>>(dwpe, dout, B, T, C);
}

void layernorm_forward(bf16* out, float* mean, float* rstd, const bf16* x, const bf16* w,
                       const bf16* b, int N, int C, float eps) {
  layernorm_forward_kernel<<<warp_rows_blocks(N), kThreads>>>(out, mean, rstd, x, w, b, N, C, eps);
}

void layernorm_backward(bf16* dx, float* dw, float* db, const bf16* dout, const bf16* x,
                        const bf16* w, const float* mean, const float* rstd, int N, int C) {
  layernorm_backward_dx<<<warp_rows_blocks(N), kThreads>>>(dx, dout, x, w, mean, rstd, N, C);
  column_sums_kernel<<<(C + 31) / 32, dim3(32, kRowGroups)>>>(dw, db, dout, x, mean, rstd, N, C);
}

void rmsnorm_forward(bf16* out, float* rstd, const bf16* x, const bf16* w, int N, int C,
                     float eps) {
  rmsnorm_forward_kernel<<<warp_rows_blocks(N), kThreads>>>(out, rstd, x, w, N, C, eps);
}

void rmsnorm_backward(bf16* dx, float* dw, const bf16* dout, const bf16* x, const bf16* w,
                      const float* rstd, int N, int C) {
  rmsnorm_backward_dx<<<warp_rows_blocks(N), kThreads>>>(dx, dout, x, w, rstd, N, C);
  column_sums_kernel<<<(C + 31) / 32, dim3(32, kRowGroups)>>>(dw, nullptr, dout, x, nullptr, rstd,
                                                              N, C);
}

void rope(bf16* x, const float* cos_t, const float* sin_t, int B, int heads, int T, int hd,
          bool inverse) {
  const size_t pairs = size_t(B) * heads * T * (hd / 2);
  rope_kernel<<<blocks_for(pairs), kThreads>>>(x, cos_t, sin_t, T, hd, pairs,
                                               inverse ? -1.0f : 1.0f);
}

void swiglu_forward(bf16* out, const bf16* hpre, int N, int F) {
  const size_t total = size_t(N) * F;
  swiglu_forward_kernel<<<blocks_for(total), kThreads>>>(out, hpre, F, total);
}

void swiglu_backward(bf16* dhpre, const bf16* hpre, const bf16* dout, int N, int F) {
  const size_t total = size_t(N) * F;
  swiglu_backward_kernel<<<blocks_for(total), kThreads>>>(dhpre, hpre, dout, F, total);
}

void add_bias(bf16* out, const bf16* bias, int N, int C) {
  const size_t total = size_t(N) * C;
  add_bias_kernel<<<blocks_for(total), kThreads>>>(out, bias, C, total);
}

void bias_backward(float* dbias, const bf16* dout, int N, int C) {
  column_sums_kernel<<<(C + 31) / 32, dim3(32, kRowGroups)>>>(nullptr, dbias, dout, nullptr,
                                                              nullptr, nullptr, N, C);
}

void residual_forward(bf16* out, const bf16* a, const bf16* b, size_t n) {
  residual_kernel<<<blocks_for(n), kThreads>>>(out, a, b, n);
}
void gelu_forward(bf16* out, const bf16* in, size_t n) {
  gelu_forward_kernel<<<blocks_for(n), kThreads>>>(out, in, n);
}
void gelu_backward(bf16* dinp, const bf16* inp, const bf16* dout, size_t n) {
  gelu_backward_kernel<<<blocks_for(n), kThreads>>>(dinp, inp, dout, n);
}

void split_heads(bf16* qkvr, const bf16* qkv, int B, int T, int H, int KV, int hd) {
  const size_t n = size_t(B) * T * (H + 2 * KV) * hd;
  split_heads_kernel<<<blocks_for(n), kThreads>>>(qkvr, const_cast<bf16*>(qkv), B, T, H, KV, hd,
                                                  false);
}
void merge_qkv_grads(bf16* dqkv, const bf16* dqkvr, int B, int T, int H, int KV, int hd) {
  const size_t n = size_t(B) * T * (H + 2 * KV) * hd;
  split_heads_kernel<<<blocks_for(n), kThreads>>>(const_cast<bf16*>(dqkvr), dqkv, B, T, H, KV, hd,
                                                  true);
}
void heads_to_rows(bf16* out, const bf16* y, int B, int T, int H, int hd) {
  heads_rows_kernel<<<blocks_for(size_t(B) * T * H * hd), kThreads>>>(out, y, B, T, H, hd, true);
}
void rows_to_heads(bf16* out, const bf16* x, int B, int T, int H, int hd) {
  heads_rows_kernel<<<blocks_for(size_t(B) * T * H * hd), kThreads>>>(out, x, B, T, H, hd, false);
}

void causal_softmax_forward(bf16* att, int rows, int T) {
  causal_softmax_forward_kernel<<<warp_rows_blocks(rows), kThreads>>>(att, rows, T);
}
void causal_softmax_backward(bf16* dp, const bf16* p, int rows, int T) {
  causal_softmax_backward_kernel<<<warp_rows_blocks(rows), kThreads>>>(dp, p, rows, T);
}

void cross_entropy_forward(float* loss, float* lse, const bf16* logits, const int32_t* targets,
                           int N, int V) {
  cross_entropy_forward_kernel<<<N, kThreads>>>(loss, lse, logits, targets, V);
}
void cross_entropy_backward(bf16* logits, const float* lse, const int32_t* targets, int N, int V,
                            float scale) {
  cross_entropy_backward_kernel<<<N, kThreads>>>(logits, lse, targets, V, scale);
}

void sum_squares(float* out, float* partials, const float* g, size_t n) {
  sum_squares_partial<<<kSumSquaresBlocks, kThreads>>>(partials, g, n);
  sum_partials<<<1, kThreads>>>(out, partials, kSumSquaresBlocks);
}

void scale_inplace(float* x, float s, size_t n) {
  if (n) scale_kernel<<<blocks_for(n), kThreads>>>(x, s, n);
}

void adamw(float* p, bf16* p_bf16, const float* g, float* m, float* v, size_t n, float lr,
           float beta1, float beta2, float eps, float weight_decay, float grad_scale,
           float bias_corr1, float bias_corr2, bool decay) {
  if (!n) return;
  adamw_kernel<<<blocks_for(n), kThreads>>>(p, p_bf16, g, m, v, n, lr / bias_corr1, beta1, beta2,
                                            eps, decay ? 1.0f - lr * weight_decay : 1.0f,
                                            grad_scale, sqrtf(bias_corr2));
}

}  // namespace sllm::cuda
