#include "sllm/infer/generate_batch.h"

#include <algorithm>
#include <memory>
#include <span>

#include "sllm/common/error.h"

namespace sllm {

namespace {

struct Slot {
  KVCache cache;
  std::unique_ptr<Generation> gen;
  size_t job = 0;
};

}  // namespace

std::vector<BatchedText> generate_batched(InferenceModel& model, const Tokenizer& tok,
                                          const std::vector<BatchedJob>& jobs, int batch) {
  if (batch < 1) fail("generation batch {} must be >= 1", batch);
  const int V = model.config().vocab_size;
  std::vector<BatchedText> out(jobs.size());
  std::vector<Slot> slots(std::min<size_t>(static_cast<size_t>(batch), jobs.size()));
  for (auto& s : slots) s.cache = model.new_cache(0);
  size_t next_job = 0, active = 0;
  // The whole continuation: finish() releases any text the stream held back into text().
  auto complete = [&](Slot& s) {
    s.gen->finish();
    out[s.job] = {s.gen->text(), s.gen->tokens().size()};
  };
  auto start = [&](Slot& s) {
    while (next_job < jobs.size()) {
      s.job = next_job++;
      s.cache.clear();
      s.gen = std::make_unique<Generation>(tok, jobs[s.job].prompt, jobs[s.job].gen);
      if (!s.gen->done()) return true;
      complete(s);
    }
    s.gen.reset();
    return false;
  };
  for (auto& s : slots) active += start(s);
  std::vector<InferenceModel::Seq> seqs;
  std::vector<Slot*> running;
  std::vector<float> logits;
  while (active > 0) {
    seqs.clear();
    running.clear();
    for (auto& s : slots)
      if (s.gen) {
        seqs.push_back({&s.cache, s.gen->input()});
        running.push_back(&s);
      }
    model.forward_batch(seqs, logits);
    for (size_t r = 0; r < running.size(); ++r) {
      Slot& s = *running[r];
      s.gen->fed(seqs[r].tokens.size());
      s.gen->next(std::span<float>(logits.data() + r * V, V));
      if (!s.gen->done()) continue;
      complete(s);
      active -= !start(s);
    }
  }
  return out;
}

}  // namespace sllm
