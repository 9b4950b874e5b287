// Multiple-choice task files (sllm eval --tasks): the sllm schema and the HellaSwag, ARC and
// MMLU layouts, parsed and turned into byte-level requests with few-shot context.
#include <cstdint>
#include <string_view>

#include "sllm/common/error.h"
#include "sllm/infer/multiple_choice.h"
#include "sllm/tokenizer/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const sllm::ByteTokenizer tok;
  try {
    const auto items =
        sllm::parse_task_jsonl(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
    for (const auto& it : items)
      if (it.gold < 0 || it.gold >= static_cast<int>(it.choices.size())) __builtin_trap();
    if (items.size() > 1) {
      sllm::ChoiceOptions opt;
      opt.fewshot = 1;
      sllm::choice_requests(items, tok, opt);
    }
  } catch (const sllm::Error&) {
  }
  return 0;
}
