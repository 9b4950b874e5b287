// sllm merge: fold LoRA adapters into their base model, giving a plain sllm model directory.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "command.h"
#include "sllm/adapt/finetune.h"

namespace {

int run_merge(int argc, char** argv) {
  CLI::App app{"Merge LoRA adapters into their base model (W + alpha/r B A)."};
  std::string base, adapter, out, tokenizer;
  app.add_option("--base", base, "The base model the adapters were trained on")->required();
  app.add_option("--adapter", adapter, "Adapter folder (adapter_config.json + adapter_model.safetensors)")->required();
  app.add_option("--out", out, "Output sllm model directory")->required();
  app.add_option("--tokenizer", tokenizer, "Tokenizer file overriding the base's");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  sllm::merge_adapter(base, adapter, out, tokenizer);
  std::printf("merged %s into %s: written to %s\n", adapter.c_str(), base.c_str(), out.c_str());
  return 0;
}

sllm::cli::Registrar reg("merge", "fold LoRA adapters into their base model", run_merge);

}  // namespace
