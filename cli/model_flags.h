// The flags of every command that loads one model for inference (generate, eval): the model,
// the type its weights are stored in, a tokenizer for models that carry none, threads and the
// KV cache's element type.
#pragma once
#include <CLI/CLI.hpp>
#include <memory>
#include <string>

#include "sllm/common/runtime.h"
#include "sllm/infer/model.h"
#include "sllm/quant/quant.h"

namespace sllm::cli {

// --kv-type, for every command that runs a model (generate, eval, serve).
inline void add_kv_type_option(CLI::App& app, std::string& kv_type) {
  app.add_option("--kv-type", kv_type,
                 "KV cache element type: f32 (exact) or f16 (half the cache memory and reads, "
                 "llama.cpp's default)")
      ->check(CLI::IsMember({"f32", "f16"}))
      ->capture_default_str();
}

struct ModelFlags {
  std::string path, quant, tokenizer, kv_type = "f32";
  int threads = 0;

  void add_to(CLI::App& app, const std::string& quant_help) {
    app.add_option("--model,-m", path, "model path (sllm dir, .gguf, HF folder, llama2.c .bin)")
        ->required();
    app.add_option("--quant,-q", quant, quant_help);
    app.add_option("--tokenizer", tokenizer,
                   "tokenizer for models that carry none (llama2.c tokenizer.bin, .sllmtok)");
    app.add_option("--threads", threads, "threads (default: all cores)");
    add_kv_type_option(app, kv_type);
  }

  LoadOptions load_options() const {
    LoadOptions lo;
    lo.tokenizer = tokenizer;
    if (!quant.empty()) lo.weight_type = parse_weight_type(quant);
    lo.kv_type = parse_kv_type(kv_type);
    return lo;
  }

  // Sets the thread count first: loading converts weights on every thread.
  std::unique_ptr<InferenceModel> load() const {
    set_num_threads(threads);
    return InferenceModel::load(path, load_options());
  }
};

}  // namespace sllm::cli
