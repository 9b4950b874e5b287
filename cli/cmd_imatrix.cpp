// sllm imatrix: an importance matrix for `sllm quantize --imatrix` (and llama.cpp's quantize)
// from calibration text, in llama.cpp's file formats (sllm/format/imatrix_file.h).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "command.h"
#include "model_flags.h"
#include "sllm/format/model_tokenizer.h"
#include "sllm/infer/imatrix.h"
#include "sllm/io/file.h"

namespace {

int run_imatrix(int argc, char** argv) {
  CLI::App app{
      "Compute an importance matrix (llama.cpp's imatrix.dat, or GGUF for an .gguf name) from "
      "calibration text, for `sllm quantize --imatrix`"};
  sllm::cli::ModelFlags m;
  std::string data, out;
  sllm::ImatrixOptions opt;
  m.add_to(app, "quantize the weights at load (the statistics are then of that model)");
  app.add_option("--data,-f", data, "calibration text file")->required();
  app.add_option("--out,-o", out, "output file (.dat: llama.cpp's legacy format; .gguf: GGUF)")
      ->required();
  app.add_option("--chunk-size,-c", opt.chunk_size, "tokens per chunk (llama.cpp's -c)")
      ->capture_default_str();
  app.add_option("--chunks", opt.max_chunks, "use at most this many chunks (0: all)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto model = m.load();
  const auto tok = sllm::model_tokenizer(model->files());
  const std::vector<int32_t> ids = tok->encode(sllm::read_file(data), false);
  if (const auto first = sllm::encode_prompt(*tok, "", true); !first.empty())
    opt.bos = first.front();
  opt.dataset = data;
  opt.progress = [](int64_t done, int64_t all) {
    std::fprintf(stderr, "\rimatrix: chunk %lld/%lld", static_cast<long long>(done),
                 static_cast<long long>(all));
  };
  const sllm::Imatrix im = sllm::compute_imatrix(*model, ids, opt);
  sllm::write_imatrix(im, out);
  std::fprintf(stderr, "\nimatrix: %zu matrices, %lld chunks of %d tokens (of %zu), wrote %s\n",
               im.entries.size(), static_cast<long long>(im.chunk_count), opt.chunk_size,
               ids.size(), out.c_str());
  return 0;
}

sllm::cli::Registrar reg("imatrix", "importance matrix for quantization (llama.cpp's format)",
                         run_imatrix);

}  // namespace
