// Rotary position embedding on interleaved pairs (2i, 2i+1), as Meta's Llama code, llama2.c
// and GGUF do: the pair at position t rotates by angle t * theta^(-2i/hd).
#pragma once

namespace sllm {

// cos and sin tables [T, hd/2], computed in double and rounded once.
void rope_tables(float* cos_t, float* sin_t, int T, int hd, float theta);

// Rotates, in place, the first n_heads*hd floats of each of the B*T rows (row stride
// `stride` floats) as n_heads heads at positions t = row % T.
void rope_forward(float* x, const float* cos_t, const float* sin_t, int B, int T, int n_heads,
                  int hd, int stride);
// The inference engine's form, one token at a time: inv_freq [hd/2] = theta^(-2i/hd) in float,
// and the angle pos * inv_freq[i] taken in float (its bits differ from rope_tables', which the
// training model is pinned to).
void rope_inv_freq(float* inv_freq, int hd, float theta);
void rope_row(float* x, int n_heads, int hd, int pos, const float* inv_freq);
// The inverse rotation (the transpose), applied in place to gradients.
void rope_backward(float* dx, const float* cos_t, const float* sin_t, int B, int T, int n_heads,
                   int hd, int stride);

}  // namespace sllm
