// The model's tokenizer in other tools' vocabulary formats, for the exporters.
#pragma once
#include <string>

#include "sllm/format/model_files.h"
#include "sllm/io/gguf.h"

namespace sllm {

// Sets tokenizer.ggml.* on `w`: copied from the source when it is a GGUF file, else built from
// the model's tokenizer ("llama" for SentencePiece, "gpt2" for byte-level ones). Returns false
// and says why in `note` when the tokenizer has no GGUF form (or the model has none).
bool add_gguf_vocab(const ModelFiles& files, GGUFWriter& w, std::string& note);

// Writes DIR/vocab.json + DIR/merges.txt (Hugging Face GPT-2 layout) for byte-level tokenizers.
// Returns false and says why in `note` otherwise.
bool write_hf_vocab(const ModelFiles& files, const std::string& dir, std::string& note);

}  // namespace sllm
