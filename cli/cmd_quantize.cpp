// sllm quantize: write a quantized copy of a model (any format sllm loads) as an sllm model
// directory with the weights in GGUF: one type for every matrix (Q8_0, Q4_0, Q4_1, mapped in
// place when loaded) or one of llama.cpp's mixes (q4_k_m, ...: a k-quant per tensor).
#include <CLI/CLI.hpp>
#include <cstdio>
#include <optional>

#include "command.h"
#include "sllm/common/runtime.h"
#include "sllm/format/imatrix_file.h"
#include "sllm/format/quant_mix.h"
#include "sllm/format/quantize.h"
#include "sllm/quant/quant.h"

namespace {

int run_quantize(int argc, char** argv) {
  CLI::App app{
      "Quantize a model's weights (q8_0, q4_0, q4_1: sllm's better 4-bit, or llama.cpp's k-quant "
      "mixes such as q4_k_m) into an sllm model directory"};
  std::string model, out, type = "q8_0", tokenizer, imatrix_path;
  app.add_option("--model,-m", model, "model path (sllm dir, .gguf, HF folder, llama2.c .bin)")
      ->required();
  app.add_option("--out,-o", out, "output directory")->required();
  app.add_option("--type,-t", type, sllm::quant_mix_names())->capture_default_str();
  app.add_option("--tokenizer", tokenizer,
                 "tokenizer for models that carry none (llama2.c tokenizer.bin)");
  app.add_option("--imatrix", imatrix_path,
                 "importance matrix (sllm imatrix's or llama.cpp's, .dat or .gguf): weights the "
                 "error of q4_0, q4_1 and the k-quants");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  sllm::set_num_threads(0);
  std::optional<sllm::Imatrix> imatrix;
  if (!imatrix_path.empty()) imatrix = sllm::read_imatrix(imatrix_path);
  auto rep = sllm::quantize_model(model, out, sllm::parse_quant_mix(type), tokenizer,
                                  imatrix ? &*imatrix : nullptr);
  std::string types;
  for (const auto& [name, count] : rep.tensors_by_type)
    types += (types.empty() ? "" : ", ") + name + " " + std::to_string(count);
  std::fprintf(stderr,
               "quantized %zu parameters to %s: %.2f MB -> %.2f MB (%.2f bits/weight; tensors: "
               "%s), wrote %s\n",
               rep.params, type.c_str(), rep.bytes_in / 1e6, rep.bytes_out / 1e6,
               8.0 * rep.bytes_out / rep.params, types.c_str(), out.c_str());
  if (imatrix) {
    std::fprintf(stderr, "imatrix %s: used for %d matrices", imatrix_path.c_str(),
                 rep.imatrix_used);
    if (rep.imatrix_type_takes_none)
      std::fprintf(stderr, "; %d matrices are in types that take none (q8_0, f32, ...)",
                   rep.imatrix_type_takes_none);
    std::fprintf(stderr, "\n");
    for (const auto& name : rep.imatrix_missing)
      std::fprintf(stderr, "imatrix: no entry for %s: quantized without one\n", name.c_str());
  }
  return 0;
}

sllm::cli::Registrar reg("quantize", "quantize a model (q8_0, q4_0, q4_1, q4_k_m, q5_k_m, ...)",
                         run_quantize);

}  // namespace
