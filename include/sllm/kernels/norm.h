// LayerNorm and RMSNorm over the last dimension of [N, C] rows.
#pragma once

namespace sllm {

// out = (x - mean) * rstd * w + b. Saves mean and rstd [N] for backward. b may be null.
void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* w,
                       const float* b, int N, int C, float eps);
// Accumulates into dinp, dw and db (db may be null).
void layernorm_backward(float* dinp, float* dw, float* db, const float* dout, const float* inp,
                        const float* w, const float* mean, const float* rstd, int N, int C);

// out = x * rstd * (w + w_offset), rstd = 1 / sqrt(mean(x^2) + eps). Saves rstd [N].
// w_offset 1 is Gemma's x * (1 + w), which stores w around 0.
void rmsnorm_forward(float* out, float* rstd, const float* inp, const float* w, int N, int C,
                     float eps, float w_offset = 0.0f);
// Accumulates into dinp and dw.
void rmsnorm_backward(float* dinp, float* dw, const float* dout, const float* inp, const float* w,
                      const float* rstd, int N, int C, float w_offset = 0.0f);

// One row at a time, in the inference engine's form: sums in row order in float, nothing
// saved for backward. Its bits differ from the batched forwards above (which the training
// model's results are pinned to), so both forms stay.
void layernorm_row(float* out, const float* x, const float* w, const float* b, int C, float eps);
void rmsnorm_row(float* out, const float* x, const float* w, int C, float eps);

}  // namespace sllm
