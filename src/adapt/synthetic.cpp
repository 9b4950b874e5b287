#include "sllm/adapt/synthetic.h"

#include <algorithm>
#include <sstream>

#include "sllm/common/error.h"
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

SyntheticCorpus synthesize_corpus(SyntheticTeacher& teacher, const Tokenizer& tok,
                                  const std::vector<Prompt>& prompts, const SyntheticOptions& opt) {
  opt.validate();
  const int block = teacher.block_size();
  std::vector<TeacherJob> jobs;
  std::vector<size_t> prompt_of;
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
      TeacherJob job;
      job.prompt = ids;
      job.max_tokens = std::min(opt.max_tokens, block - static_cast<int>(ids.size()));
      job.sampling = opt.sampling;
      job.sampling.seed = opt.sampling.seed + i * opt.samples_per_prompt + j;
      jobs.push_back(std::move(job));
      prompt_of.push_back(i);
    }
  }
  const std::vector<TeacherText> texts = teacher.generate(jobs, opt.batch);
  if (texts.size() != jobs.size())
    fail("the teacher returned {} continuations for {} prompts", texts.size(), jobs.size());
  SyntheticCorpus out;
  for (size_t k = 0; k < jobs.size(); ++k) {
    out.text += prompts[prompt_of[k]].text + texts[k].text + "\n";
    out.generated_tokens += texts[k].tokens;
  }
  out.sequences = jobs.size();
  return out;
}

}  // namespace sllm
