// Multiple-choice evaluation as lm-evaluation-harness scores it: each choice's log-likelihood
// as a continuation of the context; acc when the best choice is the gold one, acc_norm when
// the best by log-likelihood per byte of the choice is; their standard errors as lm-eval
// computes them (sample standard deviation / sqrt(n)).
//
// Task files are JSONL, one item per line, in one of these layouts (detected per line):
//   sllm:      {"context": "...", "choices": ["...", ...], "gold": 0, "target_delimiter"?: " "}
//   HellaSwag: {"ctx_a", "ctx_b", "activity_label", "endings": [...], "label"}  (lm-eval's
//              preprocessing: "[title]" removed, double spaces collapsed)
//   ARC:       {"question", "choices": {"text": [...], "label": [...]}, "answerKey"}
//              ("Question: ...\nAnswer:", choices their text)
//   MMLU:      {"question", "choices": [...], "answer": 0, "subject"?}
//              ("...\nA. ...\nB. ...\nAnswer:", choices "A", "B", ...)
// A choice is scored as the continuation delimiter + choice (lm-eval's target_delimiter, " "
// unless the row gives another); the
// context and continuation are tokenized as lm-eval does (the continuation's tokens are what
// encoding context + continuation adds to encoding the context). Any defect throws naming the
// file and line.
#pragma once
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "sllm/infer/model.h"
#include "sllm/tokenizer/tokenizer.h"

namespace sllm {

struct ChoiceItem {
  std::string context;
  std::vector<std::string> choices;
  int gold = 0;
  int line = 0;
  std::string delimiter = " ";  // lm-eval's target_delimiter.
  std::string description;  // MMLU's "The following are ... about SUBJECT.\n\n" (few-shot head).
};

std::vector<ChoiceItem> parse_task_jsonl(std::string_view contents, const std::string& src);
std::vector<ChoiceItem> read_task_jsonl(const std::string& path);  // Throws if empty.

struct ChoiceOptions {
  // The first `fewshot` items are the examples (context + delimiter + gold, separated by a
  // blank line) before every scored item's context; the items after them are scored.
  int fewshot = 0;
  int batch = 16;  // Sequences per forward.
};

// What scoring one choice takes: the token ids of context and continuation, and the bytes of
// the choice for acc_norm. Exposed for references that score the same sequences.
struct ChoiceRequest {
  std::vector<int32_t> context, continuation;
  size_t choice_bytes = 0;
};
std::vector<std::vector<ChoiceRequest>> choice_requests(const std::vector<ChoiceItem>& items,
                                                        const Tokenizer& tok,
                                                        const ChoiceOptions& opt);

struct ChoiceResult {
  size_t n = 0;
  double acc = 0, acc_stderr = 0, acc_norm = 0, acc_norm_stderr = 0;
  std::vector<std::vector<double>> loglikelihoods;  // [item][choice]
};

// Scores the items after the few-shot ones; requests too long for the model's context lose
// the start of their context (lm-eval's left truncation).
ChoiceResult score_choices(InferenceModel& model, const std::vector<ChoiceItem>& items,
                           const Tokenizer& tok, const ChoiceOptions& opt);

// acc, acc_norm and their stderr from log-likelihoods (exposed for tests and references).
void choice_metrics(const std::vector<std::vector<double>>& ll,
                    const std::vector<std::vector<size_t>>& bytes, const std::vector<int>& gold,
                    ChoiceResult& r);

// lm-eval's results.json layout for one task.
nlohmann::json lm_eval_results(const std::string& task, const ChoiceResult& r, int fewshot);

}  // namespace sllm
