// sllm quantize: write a quantized copy of a model (any format sllm loads) as an sllm model
// directory with the weights in GGUF: one type for every matrix (Q8_0, Q4_0, Q4_1, mapped in
// place when loaded) or one of llama.cpp's mixes (q4_k_m, ...: a k-quant per tensor).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "command.h"
#include "sllm/common/runtime.h"
#include "sllm/format/quant_mix.h"
#include "sllm/format/quantize.h"
#include "sllm/quant/quant.h"

namespace {

int run_quantize(int argc, char** argv) {
  CLI::App app{
      "Quantize a model's weights (q8_0, q4_0, q4_1: sllm's better 4-bit, or llama.cpp's k-quant "
      "mixes such as q4_k_m) into an sllm model directory"};
  std::string model, out, type = "q8_0", tokenizer;
  app.add_option("--model,-m", model, "model path (sllm dir, .gguf, HF folder, llama2.c .bin)")
      ->required();
  app.add_option("--out,-o", out, "output directory")->required();
  app.add_option("--type,-t", type, sllm::quant_mix_names())->capture_default_str();
  app.add_option("--tokenizer", tokenizer,
                 "tokenizer for models that carry none (llama2.c tokenizer.bin)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  sllm::set_num_threads(0);
  auto rep = sllm::quantize_model(model, out, sllm::parse_quant_mix(type), tokenizer);
  std::string types;
  for (const auto& [name, count] : rep.tensors_by_type)
    types += (types.empty() ? "" : ", ") + name + " " + std::to_string(count);
  std::fprintf(stderr,
               "quantized %zu parameters to %s: %.2f MB -> %.2f MB (%.2f bits/weight; tensors: "
               "%s), wrote %s\n",
               rep.params, type.c_str(), rep.bytes_in / 1e6, rep.bytes_out / 1e6,
               8.0 * rep.bytes_out / rep.params, types.c_str(), out.c_str());
  return 0;
}

sllm::cli::Registrar reg("quantize", "quantize a model (q8_0, q4_0, q4_1, q4_k_m, q5_k_m, ...)",
                         run_quantize);

}  // namespace
