// Fine-tuning data: preference rows (TRL's standard, conversational and implicit-prompt
// layouts) and SFT rows (messages, ShareGPT, prompt-completion, text), parsed and packed
// through the chatml template with a byte-level encoder.
#include <cstdint>
#include <string>
#include <string_view>

#include "sllm/adapt/preference_data.h"
#include "sllm/adapt/sft_data.h"
#include "sllm/common/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const sllm::EncodeFn enc = [](std::string_view s) {
    return std::vector<int32_t>(s.begin(), s.end());
  };
  const sllm::ChatRenderFn render = [](const std::vector<sllm::ChatMessage>& m) {
    return sllm::render_chat("chatml", m);
  };
  try {
    auto ex = sllm::parse_preference_jsonl(text, "fuzz");
    if (!ex.empty()) {
      auto p = sllm::pack_preferences(ex, render, enc, 1, 2, 16, "fuzz");
      if (p.inputs.size() != p.pairs * 2 * 16) __builtin_trap();
    }
  } catch (const sllm::Error&) {
  }
  try {
    auto ex = sllm::parse_sft_jsonl(text, "fuzz");
    if (!ex.empty()) sllm::pack_sft(ex, "chatml", enc, 1, 16, "fuzz");
  } catch (const sllm::Error&) {
  }
  return 0;
}
