// The pre-tokenizer regexes by name: the well-known built-in patterns and llama.cpp's
// tokenizer.ggml.pre names, which GGUF import and export translate to and from.
#pragma once
#include <string>
#include <string_view>

namespace sllm {

// The patterns of the well-known tokenizers, by name: "gpt2" (also r50k/p50k), "cl100k",
// "o200k". Returns an empty string for other names.
std::string builtin_pattern(std::string_view name);

// The pre-tokenizer of a llama.cpp tokenizer.ggml.pre name (llama-bpe, qwen2, smollm,
// deepseek-llm, deepseek-v3, gpt-4o, tekken, ...): its regexes, applied one after the other,
// joined by NUL characters (BpeSpec::pattern's form), and whether whole pieces that are tokens
// skip merging. False for names sllm does not know.
bool llama_cpp_pre_tokenizer(std::string_view name, std::string* pattern, bool* ignore_merges);
// The llama.cpp name of a pattern (the first name in its table row), or "" when none has it.
std::string llama_cpp_pre_name(std::string_view pattern, bool ignore_merges);

}  // namespace sllm
