// The training model on the open families' tiny Hugging Face checkpoints, against the float64
// PyTorch reference tests/reference/families.py: the forward's logits at every position
// (1e-4 max abs, as the inference engine), the loss, and every parameter's gradient. The
// reference writes the gradients as a checkpoint of the same config (<family>/grads), so the
// loader maps them to sllm's names and layout exactly as it maps the weights.
// Gradient tolerance (fp32 against float64): each tensor's max abs error within 1e-3 of its
// largest gradient.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "families_reference.h"
#include "reference_cache.h"
#include "sllm/common/error.h"
#include "sllm/format/model_files.h"
#include "sllm/io/safetensors.h"
#include "sllm/model/model.h"
#include "sllm/quant/quant.h"
#include "test_util.h"

namespace sllm {
namespace {

using test::families_dir;

template <class T>
std::vector<T> values(const SafetensorsReader& r, const char* name) {
  const TensorView& t = r.get(name);
  const T* p = reinterpret_cast<const T*>(t.data);
  return std::vector<T>(p, p + t.numel());
}

std::vector<float> as_f32(const WeightTensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  dequantize_row(t.type, t.data, out.data(), t.numel());
  return out;
}

// A training model holding the checkpoint's weights.
std::unique_ptr<Model> load_model(const std::string& dir) {
  ModelFiles f = load_model_files(dir);
  f.validate();
  auto m = std::make_unique<Model>(f.config);
  for (const ParamSpec& s : m->specs()) {
    const std::vector<float> w = as_f32(f.tensors.at(s.name));
    std::copy(w.begin(), w.end(), m->params().data() + s.offset);
  }
  return m;
}

// The reference's sequence `copies` times in one batch, over `shards` batch shards: the mean
// loss and its gradients are the single sequence's.
// From the HF checkpoint, or (gguf) from the same weights as llama.cpp's converter writes them:
// llama3 scaling as rope_freqs, Gemma's norms as 1 + w (whose gradient is w's), q/k rows
// permuted back by the loader, so the same reference gradients apply.
void check_family(const char* family, int copies, int shards, bool gguf = false) {
  const std::string root = families_dir();
  if (root.empty()) GTEST_SKIP() << "/usr/bin/python3 (torch) is needed for the reference";
  const std::string dir = root + "/" + family;
  if (gguf && !std::filesystem::exists(dir + ".gguf"))
    GTEST_SKIP() << family << ": families.py writes no GGUF (llama.cpp converts it as llama)";
  SafetensorsReader ref(dir + "/expected.safetensors");
  const auto tokens = values<int32_t>(ref, "tokens"), targets = values<int32_t>(ref, "targets");
  const auto logits = values<float>(ref, "logits");
  const double ref_loss = values<double>(ref, "loss").at(0);
  auto m = load_model(gguf ? dir + ".gguf" : dir);
  m->set_batch_shards(shards);
  const int T = static_cast<int>(tokens.size());
  std::vector<int32_t> x, y;
  for (int b = 0; b < copies; ++b) {
    x.insert(x.end(), tokens.begin(), tokens.end());
    y.insert(y.end(), targets.begin(), targets.end());
  }
  const float loss = m->forward(x.data(), y.data(), copies, T);
  double worst = 0.0;
  for (size_t i = 0; i < logits.size() * copies; ++i)
    worst =
        std::max(worst, std::abs(static_cast<double>(m->logits()[i]) - logits[i % logits.size()]));
  std::printf("%s x%d (%d shards): logits max |sllm - torch| = %.3g, loss %.6f vs %.6f\n", family,
              copies, shards, worst, loss, ref_loss);
  EXPECT_LE(worst, 1e-4) << family;
  EXPECT_NEAR(loss, ref_loss, 1e-5 * std::max(1.0, ref_loss)) << family;

  m->zero_grad();
  m->backward();
  const ModelFiles g = load_model_files(dir + "/grads");
  double worst_rel = 0.0;
  std::string worst_name;
  for (const ParamSpec& s : m->specs()) {
    const std::vector<float> want = as_f32(g.tensors.at(s.name));
    ASSERT_EQ(want.size(), s.numel) << s.name;
    const float* got = m->grad(s.name);
    double err = 0.0, scale = 0.0;
    for (size_t i = 0; i < s.numel; ++i) {
      err = std::max(err, std::abs(static_cast<double>(got[i]) - want[i]));
      scale = std::max(scale, std::abs(static_cast<double>(want[i])));
    }
    EXPECT_GT(scale, 0.0) << family << " " << s.name << ": the reference gradient is zero";
    EXPECT_LE(err, 1e-3 * scale) << family << " " << s.name << " (largest " << scale << ")";
    if (scale > 0 && err / scale > worst_rel) worst_rel = err / scale, worst_name = s.name;
  }
  std::printf("%s: gradients' worst max|err| / max|grad| = %.3g (%s)\n", family, worst_rel,
              worst_name.c_str());
}

class TrainFamilies : public ::testing::TestWithParam<const char*> {};

TEST_P(TrainFamilies, LogitsLossAndGradientsMatchPyTorch) {
  check_family(GetParam(), 1, 1);
}

// Batch shards lay out every feature's activations per sequence (qk-norm inputs, post-norm
// branches, capped logits, ...).
TEST_P(TrainFamilies, BatchShardsGiveTheSameLossAndGradients) {
  check_family(GetParam(), 2, 2);
}

// `finetune --base model.gguf` trains the same model.
TEST_P(TrainFamilies, FromGgufLogitsLossAndGradientsMatchPyTorch) {
  check_family(GetParam(), 1, 1, true);
}

// bf16 products (the operands of every linear layer rounded to bf16) run the same steps: the
// loss stays within bf16 rounding of the reference.
TEST_P(TrainFamilies, Bfloat16LossIsCloseToTheReference) {
  const std::string root = families_dir();
  if (root.empty()) GTEST_SKIP() << "/usr/bin/python3 (torch) is needed for the reference";
  const std::string dir = root + "/" + GetParam();
  SafetensorsReader ref(dir + "/expected.safetensors");
  const auto tokens = values<int32_t>(ref, "tokens"), targets = values<int32_t>(ref, "targets");
  const double ref_loss = values<double>(ref, "loss").at(0);
  auto m = load_model(dir);
  m->set_compute_dtype(ComputeDtype::BFloat16);
  const float loss = m->forward(tokens.data(), targets.data(), 1, static_cast<int>(tokens.size()));
  std::printf("%s: bf16 loss %.5f vs %.5f\n", GetParam(), loss, ref_loss);
  EXPECT_NEAR(loss, ref_loss, 5e-3 * ref_loss) << GetParam();
  m->zero_grad();
  m->backward();  // Runs every step's backward in bf16 too.
  for (float g : m->grads()) ASSERT_TRUE(std::isfinite(g)) << GetParam();
}

INSTANTIATE_TEST_SUITE_P(HuggingFace, TrainFamilies,
                         ::testing::Values("llama3", "smollm2", "qwen25", "qwen3", "gemma2",
                                           "gemma3", "phi3", "mistral"));

}  // namespace
}  // namespace sllm
