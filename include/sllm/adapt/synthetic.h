// Sequence-level distillation data: the teacher continues prompts (sampling settings given) and
// its text becomes the student's corpus. The teacher is an interface: the CLI wires it to the
// inference engine (cli/inference_teacher.h), which decodes up to `batch` sequences together.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "sllm/model/sampler.h"
#include "sllm/tokenizer/tokenizer.h"

namespace sllm {

struct SyntheticOptions {
  std::string prompts;  // Text file, one prompt per line (blank lines skipped).
  int samples_per_prompt = 1;
  int max_tokens = 256;
  SamplingParams sampling = {.seed = 1};  // Its seed is sample 0's; see synthesize_corpus.
  int batch = 16;                         // Sequences decoded together.
  void validate() const;
};

struct Prompt {
  std::string text;
  int line = 0;  // 1-based line in the prompt file, for error messages.
};

// Non-blank lines of a prompt file; throws sllm::Error naming the file when it has none.
std::vector<Prompt> read_prompts(const std::string& path);

struct SyntheticCorpus {
  std::string text;  // Each sample as its prompt + continuation + "\n", by prompt then sample.
  size_t sequences = 0, generated_tokens = 0;
};

// One continuation to generate: prompt ids and sampling settings (stop at end of text).
struct TeacherJob {
  std::vector<int32_t> prompt;
  int max_tokens = 0;
  SamplingParams sampling;
};

struct TeacherText {
  std::string text;   // The continuation, without the prompt.
  size_t tokens = 0;  // Tokens generated.
};

class SyntheticTeacher {
 public:
  virtual ~SyntheticTeacher() = default;
  virtual int block_size() const = 0;  // The teacher's context.
  // Every job's continuation, in job order, decoding up to `batch` jobs together; the grouping
  // must not change the results.
  virtual std::vector<TeacherText> generate(const std::vector<TeacherJob>& jobs, int batch) = 0;
};

// Sample j of prompt i uses sampling seed opt.sampling.seed + i * samples_per_prompt + j, so the
// corpus does not depend on the batch size's grouping of the samples. A prompt that does not fit
// the teacher's context is an error naming its line.
SyntheticCorpus synthesize_corpus(SyntheticTeacher& teacher, const Tokenizer& tok,
                                  const std::vector<Prompt>& prompts, const SyntheticOptions& opt);

}  // namespace sllm
