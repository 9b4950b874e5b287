// Cross-entropy fused with the final softmax. Rows whose target is negative are ignored; the
// loss is the mean over the others. The softmax is never stored: forward keeps only the log-
// sum-exp per row, and backward turns the logits into their gradient in place.
#pragma once
#include <cstdint>

namespace sllm {

// Returns the mean loss over rows with target >= 0 (NaN when there are none) and writes
// lse [N] (log-sum-exp of each row) and *n_valid. Targets must be < V.
float cross_entropy_forward(float* lse, const float* logits, const int32_t* targets, int N, int V,
                            int* n_valid);

// logits [N, V] becomes d(loss * dloss_scale)/d(logits): (softmax - onehot) * dloss_scale /
// n_valid on valid rows and zero on ignored rows.
void cross_entropy_backward(float* logits, const float* lse, const int32_t* targets, int N, int V,
                            int n_valid, float dloss_scale);

}  // namespace sllm
