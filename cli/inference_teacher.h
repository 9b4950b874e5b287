// The teacher of synthetic distillation (sllm/adapt/synthetic.h) run by the inference engine:
// adapt asks for continuations through SyntheticTeacher, and this glue, above both, answers
// with generate_batched (sllm/infer/generate_batch.h). Header-only so the tests use it too.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "sllm/adapt/synthetic.h"
#include "sllm/infer/generate_batch.h"
#include "sllm/infer/model.h"

namespace sllm::cli {

class InferenceTeacher final : public SyntheticTeacher {
 public:
  // The teacher model at `path`; tok: its tokenizer (decodes the continuations).
  InferenceTeacher(const std::string& path, std::shared_ptr<const Tokenizer> tok)
      : model_(InferenceModel::load(path)), tok_(std::move(tok)) {}

  int block_size() const override { return model_->config().block_size; }

  std::vector<TeacherText> generate(const std::vector<TeacherJob>& jobs, int batch) override {
    std::vector<BatchedJob> b(jobs.size());
    for (size_t i = 0; i < jobs.size(); ++i) {
      b[i].prompt = jobs[i].prompt;
      b[i].gen.max_tokens = jobs[i].max_tokens;
      b[i].gen.sampling = jobs[i].sampling;
      b[i].gen.stop_at_eos = true;
    }
    std::vector<TeacherText> out;
    for (BatchedText& t : generate_batched(*model_, *tok_, b, batch))
      out.push_back({std::move(t.text), t.tokens});
    return out;
  }

 private:
  std::unique_ptr<InferenceModel> model_;
  std::shared_ptr<const Tokenizer> tok_;
};

}  // namespace sllm::cli
