// Preference data in TRL's layouts, one JSON object per line:
//   standard:        {"prompt": "text", "chosen": "text", "rejected": "text"}
//   conversational:  {"prompt": [messages], "chosen": [messages], "rejected": [messages]}
//   implicit prompt: {"chosen": ..., "rejected": ...}: standard rows with no prompt; in
//                    conversational rows every message but the last is the shared prompt.
// A message is {"role", "content"}; the completions end with an assistant message. Other keys
// (ids, scores) are ignored, as TRL ignores extra columns. Blank lines are skipped; any defect
// (invalid JSON, a missing or empty chosen/rejected, mixed layouts) throws naming the file and
// line before anything is returned, so nothing trains on a half-read file.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "sllm/adapt/sft_data.h"

namespace sllm {

struct PreferenceExample {
  // Standard rows: the texts; conversational rows: the messages.
  std::string prompt_text, chosen_text, rejected_text;
  std::vector<ChatMessage> prompt, chosen, rejected;
  bool conversational = false;
  int line = 0;  // 1-based, for error messages.
};

std::vector<PreferenceExample> parse_preference_jsonl(std::string_view contents,
                                                      const std::string& source_name);
std::vector<PreferenceExample> read_preference_jsonl(const std::string& path);  // Throws if none.

// Pairs as training rows: each pair is a chosen row and a rejected row of T inputs with
// next-token targets on the completion's tokens only (-1 elsewhere and in the padding).
// A sequence longer than T + 1 tokens loses the start of its prompt first (TRL's keep_end),
// then the end of its completion.
struct PreferencePairs {
  int T = 0;
  size_t pairs = 0;
  std::vector<int32_t> inputs, targets;  // [pairs, 2, T]: chosen row, then rejected row.
  // The reference model's completion log-probs [pairs, 2], once computed (DPO, IPO).
  std::vector<double> ref_logps;
  const int32_t* row_inputs(size_t pair, int which) const {
    return inputs.data() + (pair * 2 + which) * T;
  }
  const int32_t* row_targets(size_t pair, int which) const {
    return targets.data() + (pair * 2 + which) * T;
  }
};

using ChatRenderFn = std::function<std::vector<TextSegment>(const std::vector<ChatMessage>&)>;

// Tokenizes every example: the prompt untrained, the completion trained (standard rows: the
// text plus eos_id when >= 0; conversational rows: what `render` marks trained in the last
// assistant turn). bos_id >= 0 starts each row unless the rendering printed it. Throws naming
// the line of an example whose completion has no token.
PreferencePairs pack_preferences(const std::vector<PreferenceExample>& examples,
                                 const ChatRenderFn& render, const EncodeFn& encode, int32_t bos_id,
                                 int32_t eos_id, int T, const std::string& source_name);

// Splits off the last `fraction` of the pairs (at least one when there are two or more).
void split_pairs(const PreferencePairs& all, double fraction, PreferencePairs& train,
                 PreferencePairs& val);

}  // namespace sllm
