// sllm export: write a model (any format sllm loads) for other tools: a GGUF file llama.cpp
// loads, or a Hugging Face folder (config.json + model.safetensors).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "command.h"
#include "sllm/common/error.h"
#include "sllm/common/runtime.h"
#include "sllm/format/export.h"
#include "sllm/quant/quant.h"

namespace {

int run_export(int argc, char** argv) {
  CLI::App app{"Export a model as GGUF (llama.cpp) or as a Hugging Face safetensors folder"};
  std::string model, out, format, type, tokenizer;
  app.add_option("--model,-m", model, "model path (sllm dir, .gguf, HF folder, llama2.c .bin)")
      ->required();
  app.add_option("--out,-o", out, "output: a .gguf file, or a folder for --format hf")->required();
  app.add_option("--format,-f", format, "gguf or hf (default: from --out's extension)")
      ->check(CLI::IsMember({"gguf", "hf"}));
  app.add_option("--type,-t", type,
                 std::string("GGUF only: convert the matrices (default: as stored) to ") +
                     sllm::quant_mix_names());
  app.add_option("--tokenizer", tokenizer,
                 "tokenizer for models that carry none (llama2.c tokenizer.bin)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (format.empty()) format = out.ends_with(".gguf") ? "gguf" : "hf";
  if (format == "hf" && !type.empty())
    sllm::fail("--type applies to GGUF; a Hugging Face export keeps F32/F16/BF16 as stored");
  sllm::set_num_threads(0);
  const sllm::ModelFiles files = sllm::load_model_files(model, tokenizer);
  sllm::ExportReport rep;
  if (format == "gguf") {
    rep = type.empty() ? sllm::export_gguf(files, out)
                       : sllm::export_gguf(files, out, sllm::parse_quant_mix(type));
  } else {
    rep = sllm::export_hf(files, out);
  }
  std::fprintf(stderr, "wrote %s (%s): %zu tensors, %.2f MB\n", out.c_str(), format.c_str(),
               rep.tensors, rep.bytes / 1e6);
  if (!rep.tokenizer)
    std::fprintf(stderr, "note: no tokenizer in the export: %s\n", rep.note.c_str());
  return 0;
}

sllm::cli::Registrar reg("export", "export a model as GGUF (llama.cpp) or Hugging Face safetensors",
                         run_export);

}  // namespace
