// Export of the open families back to Hugging Face (config.json with the family's own fields)
// and to GGUF (llama.cpp's names and keys), then load: the same logits as the float64 PyTorch
// reference (tests/reference/families.py) at every position, within 1e-4 as for the original.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "families_reference.h"
#include "reference_cache.h"
#include "sllm/common/error.h"
#include "sllm/format/export.h"
#include "sllm/format/model_files.h"
#include "sllm/infer/model.h"
#include "sllm/io/file.h"
#include "sllm/io/safetensors.h"
#include "test_util.h"

namespace sllm {
namespace {

using test::families_dir;

// Max abs difference between the model's logits for the reference tokens (one prefill) and
// the reference's.
double logits_diff(const std::string& model, const std::string& ref_dir) {
  SafetensorsReader r(ref_dir + "/expected.safetensors");
  const TensorView& t = r.get("tokens");
  const TensorView& l = r.get("logits");
  const auto* tok = reinterpret_cast<const int32_t*>(t.data);
  const auto* want = reinterpret_cast<const float*>(l.data);
  auto m = InferenceModel::load(model);
  KVCache cache = m->new_cache(static_cast<int>(t.numel()));
  InferenceModel::Seq seq{&cache, std::span<const int32_t>(tok, t.numel())};
  std::vector<float> logits;
  m->forward_batch({&seq, 1}, logits, true);
  EXPECT_EQ(logits.size(), static_cast<size_t>(l.numel()));
  double worst = 0.0;
  for (size_t i = 0; i < logits.size(); ++i)
    worst = std::max(worst, std::abs(static_cast<double>(logits[i]) - want[i]));
  return worst;
}

class ExportFamilies : public ::testing::TestWithParam<const char*> {};

TEST_P(ExportFamilies, HuggingFaceRoundTripKeepsTheLogits) {
  const std::string root = families_dir();
  if (root.empty()) GTEST_SKIP() << "/usr/bin/python3 (torch) is needed for the reference";
  const std::string src = root + "/" + GetParam();
  test::TempDir tmp;
  const std::string out = tmp.file("hf");
  const ModelFiles files = load_model_files(src);
  export_hf(files, out);
  const auto j = nlohmann::json::parse(read_file(out + "/config.json"));
  const auto orig = nlohmann::json::parse(read_file(src + "/config.json"));
  // Phi-3 has Mistral's features: it exports as the same model in Mistral's layout.
  EXPECT_EQ(j["model_type"], orig["model_type"] == "phi3" ? "mistral" : orig["model_type"])
      << j.dump();
  EXPECT_EQ(load_model_files(out).config, files.config) << j.dump();
  const double d = logits_diff(out, src);
  std::printf("%s: HF export, max |sllm - torch| = %.3g\n", GetParam(), d);
  EXPECT_LE(d, 1e-4) << GetParam();
}

TEST_P(ExportFamilies, GgufRoundTripKeepsTheLogits) {
  const std::string root = families_dir();
  if (root.empty()) GTEST_SKIP() << "/usr/bin/python3 (torch) is needed for the reference";
  const std::string src = root + "/" + GetParam();
  test::TempDir tmp;
  const std::string out = tmp.file("model.gguf");
  const ModelFiles files = load_model_files(src);
  // Mistral has no GGUF architecture of its own (llama.cpp converts it as llama, without its
  // window): it exports as Phi-3, whose features (windows on every layer) are its.
  export_gguf(files, out);
  const double d = logits_diff(out, src);
  std::printf("%s: GGUF export, max |sllm - torch| = %.3g\n", GetParam(), d);
  EXPECT_LE(d, 1e-4) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(HuggingFace, ExportFamilies,
                         ::testing::Values("llama3", "smollm2", "qwen25", "qwen3", "gemma2",
                                           "gemma3", "phi3", "mistral"));

}  // namespace
}  // namespace sllm
