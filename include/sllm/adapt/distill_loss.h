// Logit distillation losses (Hinton et al. 2015) and their gradient w.r.t. the student logits.
//   forward KL:  tau^2 * KL(p_t || p_s),   p = softmax(z / tau)   (gradient tau * (p_s - p_t))
//   reverse KL:  tau^2 * KL(p_s || p_t)    (mode-seeking, as in MiniLLM)
//   total = alpha * KD + (1 - alpha) * CE(student, targets)
// Averaged over the positions whose target is >= 0 (the model's masking convention), so SFT
// masks apply to distillation too. The teacher is either dense logits [N, V] or its top-k.
#pragma once
#include <cstdint>

namespace sllm {

struct DistillOptions {
  float temperature = 2.0f;
  float alpha = 0.5f;  // Weight of the KD term; 1 - alpha weights the hard-label cross-entropy.
  bool reverse_kl = false;
  void validate() const;  // Throws sllm::Error naming the bad option.
};

struct DistillLoss {
  double total = 0, kd = 0, ce = 0;  // Means over the counted positions.
  int count = 0;                     // Positions with target >= 0.
};

// Dense teacher. targets [N] may be null (then every position counts and alpha must be 1).
// dstudent [N, V] (may be null) receives d(total)/d(student logits); zero at masked positions.
DistillLoss distill_loss_dense(const float* student, const float* teacher, const int32_t* targets,
                               int N, int V, const DistillOptions& opt, float* dstudent);

// Top-k teacher: ids/logits [N, k] hold the teacher's k largest raw logits per position; the
// teacher distribution is their softmax at temperature tau (the tail is taken as zero).
// Reverse KL needs the teacher's full support, so it is refused here.
DistillLoss distill_loss_topk(const float* student, const int32_t* ids, const float* tlogits, int k,
                              const int32_t* targets, int N, int V, const DistillOptions& opt,
                              float* dstudent);

// The k largest logits of each row, in descending order (ties: lower id first).
void topk_logits(const float* logits, int N, int V, int k, int32_t* ids, float* vals);

}  // namespace sllm
