// The one reader and writer of model files for everything that trains a model (`sllm train
// --init-from`, checkpoints, fine-tuning, distillation): any format sllm imports (its own
// directory, GGUF, Hugging Face safetensors, llama2.c) becomes the trainable F32 Model, with
// quantized or half-precision weights expanded; an sllm model directory is written back.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "sllm/io/safetensors.h"
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
TrainableModel load_trainable_model(const std::string& path,
                                    const std::string& tokenizer_path = "");

// Writes an sllm model directory (model.safetensors with F32 params and metadata
// {"format": "sllm"}, tokenizer.sllmtok, config.json), each file atomically and config.json
// last, so a directory with a config is complete. after_each_file runs after each file (the
// checkpoint writer's fault injection).
void save_model_dir(const std::string& dir, const Model& model, const Tokenizer& tok,
                    const std::function<void()>& after_each_file = {});

// Copies an sllm model.safetensors' tensors into the model, checking names, dtypes (F32) and
// shapes.
void load_model_params(Model& model, const std::string& safetensors_path);

// F32 tensors laid out by param specs (model weights, or AdamW moments under a name prefix):
// written as one safetensors file, or read back checking names, dtypes and shapes.
void write_f32_params(const std::string& path, const std::vector<ParamSpec>& specs,
                      const float* base, const std::string& prefix,
                      const std::map<std::string, std::string>& meta);
void read_f32_params(const SafetensorsReader& r, const std::vector<ParamSpec>& specs, float* base,
                     const std::string& prefix);

}  // namespace sllm
