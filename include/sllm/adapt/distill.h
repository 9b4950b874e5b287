// Distilling a teacher into a smaller student that shares its tokenizer (`sllm distill`):
//   logits:    the student learns alpha * tau^2 KL(teacher || student) + (1 - alpha) CE, with
//              the teacher run on the fly, or read from a top-k logit cache on disk;
//   synthetic: the teacher writes a corpus from prompts (sampling settings given) and the
//              student learns it with plain cross-entropy (sequence-level distillation);
//   ce:        the student alone on the data, the from-scratch baseline to compare against.
// Validation is always the student's cross-entropy on held-out real data.
#pragma once
#include <cstdint>
#include <string>

#include "sllm/adapt/adapt_train.h"
#include "sllm/adapt/distill_loss.h"
#include "sllm/adapt/synthetic.h"
#include "sllm/model/config.h"

namespace sllm {

struct StudentShape {
  int n_layer = 0, n_embd = 0, n_head = 0, n_kv_head = 0,
      intermediate_size = 0;  // 0: keep the teacher's
  // "layers=2,embd=128,heads=4,kv_heads=4,ffn=512" (any subset).
  static StudentShape parse(const std::string& spec);
  ModelConfig apply(const ModelConfig& teacher) const;  // Validates the result.
};

struct DistillConfig {
  std::string mode = "logits";   // logits | synthetic | ce
  std::string teacher, student;  // student: a model path to start from, or empty with shape
  StudentShape shape;
  std::string data, val_data, out, chat_template;
  int seq_len = 0;  // 0: the smaller block size of the two.
  double val_fraction = 0.1;
  DistillOptions loss;
  std::string teacher_cache;  // logits mode: read this top-k cache if it exists, else write it
  int topk = 32;              // entries per position in a new cache
  SyntheticOptions synthetic;
  // synthetic mode: the teacher's text generator (the CLI wires the inference engine). On
  // --resume, OUT/synthetic.txt is read back instead.
  SyntheticTeacher* generator = nullptr;
  // The Trainer's settings (out and the model come from above); loop.resume continues the
  // checkpoint in OUT, which must have been started with the same settings.
  TrainConfig loop = TrainConfig::defaults(TrainMode::Distill);
  int eval_rows = 64;  // Validation rows (the first ones of the val set, always the same).
};

struct DistillResult {
  AdaptRun loop;
  size_t student_params = 0, teacher_params = 0;
  double teacher_seconds = 0;   // Building the cache or the synthetic corpus.
  size_t synthetic_tokens = 0;  // Tokens the teacher generated (prompts not counted).
};

// Trains the student and writes OUT (a full sllm model directory, the Trainer's last
// checkpoint) with metrics.jsonl and distill.json. Throws sllm::Error when teacher and student
// tokenizers differ.
DistillResult run_distill(const DistillConfig& cfg);

}  // namespace sllm
