// Loading a model to fine-tune or distill: any model sllm imports (its own directory, GGUF,
// Hugging Face safetensors, llama2.c), with quantized or half-precision weights expanded to
// the trainable F32 Model, plus its tokenizer.
#pragma once
#include <memory>
#include <string>

#include "sllm/model/model.h"
#include "sllm/tokenizer/tokenizer.h"

namespace sllm {

struct TrainableModel {
  std::unique_ptr<Model> model;
  std::shared_ptr<Tokenizer> tokenizer;
  std::string source, format;  // Path and import format ("sllm", "gguf", "safetensors", "llama2c").
  std::string chat_template;   // The file's Jinja chat template, when it has one.
};

// tokenizer_path overrides the model's own tokenizer (a llama2.c tokenizer.bin, an .sllmtok).
TrainableModel load_trainable_model(const std::string& path, const std::string& tokenizer_path = "");

// Writes an sllm model directory (config.json, model.safetensors with F32 params and metadata
// {"format": "sllm"}, tokenizer.sllmtok), each file atomically; config.json last, so a
// directory with a config is complete.
void save_trainable_model(const std::string& dir, const Model& model, const Tokenizer& tok);

// A short hash of the vocabulary (every token's bytes and the special tokens): two models can
// exchange token ids exactly when their fingerprints match.
std::string tokenizer_fingerprint(const Tokenizer& tok);
// Throws sllm::Error naming both models when their tokenizers differ.
void check_same_tokenizer(const Tokenizer& a, const std::string& a_name, const Tokenizer& b, const std::string& b_name);

}  // namespace sllm
