// Sample text from a model being trained: one full forward over the context per token (no KV
// cache; the inference engine has the fast path). Uses its own generator, so sampling during
// training never changes the training run.
#pragma once
#include <cstdint>
#include <string>

#include "sllm/model/model.h"
#include "sllm/model/sampler.h"
#include "sllm/tokenizer/tokenizer.h"

namespace sllm {

// Returns the prompt followed by the continuation, decoded. A prompt the tokenizer cannot
// encode (a character-level vocabulary lacks one of its characters) starts from the
// tokenizer's end-of-text token, or token 0. Stops early at the end-of-text token. Bytes that
// are not valid UTF-8 come out as U+FFFD.
// The tokens are drawn by the one Sampler that generate and serve use, with `sampling`.
std::string sample_text(Model& model, const Tokenizer& tok, const std::string& prompt,
                        const SamplingParams& sampling, int max_tokens);

}  // namespace sllm
