#include "sllm/adapt/synthetic.h"

#include <memory>
#include <span>
#include <sstream>

#include "sllm/common/error.h"
#include "sllm/infer/generate.h"
#include "sllm/io/file.h"

namespace sllm {

void SyntheticOptions::validate() const {
  if (samples_per_prompt < 1)
    fail("synthetic data: samples per prompt {} must be >= 1", samples_per_prompt);
  if (max_tokens < 1) fail("synthetic data: tokens per generation {} must be >= 1", max_tokens);
  if (batch < 1) fail("synthetic data: generation batch {} must be >= 1", batch);
}

std::vector<Prompt> read_prompts(const std::string& path) {
  if (path.empty()) fail("synthetic distillation needs a prompt file (--prompts FILE)");
  std::vector<Prompt> prompts;
  std::istringstream in(read_file(path));
  int line_no = 0;
  for (std::string line; std::getline(in, line);) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") != std::string::npos) prompts.push_back({line, line_no});
  }
  if (prompts.empty()) fail("prompt file {} holds no prompts (one per line)", path);
  return prompts;
}

namespace {

struct Job {
  size_t prompt = 0;
  std::vector<int32_t> ids;
  GenerateOptions gen;
};

// The whole continuation: finish() releases any text the stream held back into text().
std::string completed_text(Generation& g) {
  g.finish();
  return g.text();
}

struct Slot {
  KVCache cache;
  std::unique_ptr<Generation> gen;
  size_t job = 0;
};

}  // namespace

SyntheticCorpus synthesize_corpus(InferenceModel& teacher, const Tokenizer& tok,
                                  const std::vector<Prompt>& prompts, const SyntheticOptions& opt) {
  opt.validate();
  const int block = teacher.config().block_size;
  const int V = teacher.config().vocab_size;
  std::vector<Job> jobs;
  for (size_t i = 0; i < prompts.size(); ++i) {
    std::vector<int32_t> ids;
    try {
      ids = tok.encode(prompts[i].text);
    } catch (const Error& e) {
      fail("{}:{}: cannot tokenize this prompt: {}", opt.prompts, prompts[i].line, e.what());
    }
    if (ids.empty()) continue;
    if (static_cast<int>(ids.size()) >= block)
      fail("{}:{}: the prompt ({} tokens) does not fit the teacher's context of {}", opt.prompts,
           prompts[i].line, ids.size(), block);
    for (int j = 0; j < opt.samples_per_prompt; ++j) {
      Job job{i, ids, {}};
      job.gen.max_tokens = std::min(opt.max_tokens, block - static_cast<int>(ids.size()));
      job.gen.sampling.temperature = opt.temperature;
      job.gen.sampling.top_k = opt.top_k;
      job.gen.sampling.top_p = opt.top_p;
      job.gen.sampling.seed = opt.seed + i * opt.samples_per_prompt + j;
      job.gen.stop_at_eos = true;
      jobs.push_back(std::move(job));
    }
  }

  std::vector<std::string> texts(jobs.size());
  SyntheticCorpus out;
  std::vector<Slot> slots(std::min<size_t>(opt.batch, jobs.size()));
  for (auto& s : slots) s.cache = teacher.new_cache(0);
  size_t next_job = 0, active = 0;
  std::vector<InferenceModel::Seq> seqs;
  std::vector<Slot*> running;
  std::vector<float> logits;
  auto start = [&](Slot& s) {
    while (next_job < jobs.size()) {
      Job& j = jobs[next_job];
      s.job = next_job++;
      s.cache.clear();
      s.gen = std::make_unique<Generation>(tok, j.ids, j.gen);
      if (!s.gen->done()) return true;
      texts[s.job] = prompts[j.prompt].text + completed_text(*s.gen) + "\n";
    }
    s.gen.reset();
    return false;
  };
  for (auto& s : slots) active += start(s);
  while (active > 0) {
    seqs.clear();
    running.clear();
    for (auto& s : slots)
      if (s.gen) {
        seqs.push_back({&s.cache, s.gen->input()});
        running.push_back(&s);
      }
    teacher.forward_batch(seqs, logits);
    for (size_t r = 0; r < running.size(); ++r) {
      Slot& s = *running[r];
      s.gen->fed(seqs[r].tokens.size());
      s.gen->next(std::span<float>(logits.data() + r * V, V));
      if (!s.gen->done()) continue;
      out.generated_tokens += s.gen->tokens().size();
      texts[s.job] = prompts[jobs[s.job].prompt].text + completed_text(*s.gen) + "\n";
      active -= !start(s);
    }
  }
  for (const auto& t : texts) out.text += t;
  out.sequences = jobs.size();
  return out;
}

}  // namespace sllm
