#include <cmath>
#include <cstdio>
#include <map>
#include <tuple>

#include "infer_test_util.h"
#include "sllm/common/error.h"
#include "sllm/format/quant_mix.h"
#include "sllm/format/quantize.h"
#include "sllm/infer/model.h"
#include "sllm/quant/quant.h"
#include "test_arch.h"
#include "test_util.h"

namespace sllm {
namespace {

TEST(Quantize, DirectoryLoadsInPlaceAndMatchesQuantizingAtLoad) {
  test::TempDir dir;
  test::write_tiny_model(dir.file("f32"), test::tiny_config(Arch::Llama));
  for (const char* type : {"q8_0", "q4_0", "q4_1"}) {
    SCOPED_TRACE(type);
    const GGMLType t = parse_weight_type(type);
    auto rep = quantize_model(dir.file("f32"), dir.file(type), t);
    EXPECT_LT(rep.bytes_out, rep.bytes_in / 3);
    auto q = InferenceModel::load(dir.file(type));
    EXPECT_EQ(q->weight_type(), t);
    EXPECT_EQ(q->files().format, "sllm");
    LoadOptions lo;
    lo.weight_type = t;
    auto ref = InferenceModel::load(dir.file("f32"), lo);
    std::vector<int32_t> toks = {1, 2, 3, 200, 100};
    KVCache a = q->new_cache(8), b = ref->new_cache(8);
    EXPECT_EQ(q->forward(a, toks), ref->forward(b, toks));  // Same blocks, bit for bit.
  }
  EXPECT_THROW(quantize_model(dir.file("f32"), dir.file("x"), GGMLType::Q4_K), Error);
}

// q4_k_m on a model whose rows are whole 256-blocks: llama.cpp's per-tensor choices, and the
// k-quant model runs natively (Q8_K activations) close to the f32 one.
TEST(Quantize, KQuantMixFollowsLlamaCppsRulesAndRuns) {
  test::TempDir dir;
  ModelConfig c = test::tiny_config(Arch::Llama);
  c.n_embd = 256;
  c.intermediate_size = 512;
  c.n_layer = 8;
  test::write_tiny_model(dir.file("f32"), c);
  const auto rep = quantize_model(dir.file("f32"), dir.file("q4km"), parse_quant_mix("q4_k_m"));
  const double bpw = 8.0 * rep.bytes_out / rep.params;
  EXPECT_GT(bpw, 4.5);
  EXPECT_LT(bpw, 6.0);
  const ModelFiles files = load_model_files(dir.file("q4km"), "");
  auto type = [&](const std::string& n) { return files.tensors.at(n).type; };
  EXPECT_EQ(type("lm_head.weight"), GGMLType::Q6_K);
  EXPECT_EQ(type("tok_embeddings.weight"), GGMLType::Q4_K);
  EXPECT_EQ(type("norm.weight"), GGMLType::F32);
  for (int i = 0; i < c.n_layer; ++i) {
    SCOPED_TRACE(i);
    // llama.cpp's use_more_bits for 8 layers: the first eighth, the last eighth, every third.
    const bool more = i == 0 || i == 3 || i == 6 || i == 7;
    const std::string l = "layers." + std::to_string(i) + ".";
    EXPECT_EQ(type(l + "attn.v.weight"), more ? GGMLType::Q6_K : GGMLType::Q4_K);
    EXPECT_EQ(type(l + "mlp.down.weight"), more ? GGMLType::Q6_K : GGMLType::Q4_K);
    EXPECT_EQ(type(l + "attn.q.weight"), GGMLType::Q4_K);
    EXPECT_EQ(type(l + "mlp.up.weight"), GGMLType::Q4_K);
    EXPECT_EQ(type(l + "attn_norm.weight"), GGMLType::F32);
  }
  auto q = InferenceModel::load(dir.file("q4km"));
  EXPECT_EQ(q->weight_type(), GGMLType::Q4_K);  // Kept in its blocks, run by the Q8_K kernels.
  // Decode token by token gives the prefill's bits: each output is one dot whatever the batch.
  const std::vector<int32_t> toks = {1, 2, 3, 200, 100};
  KVCache a = q->new_cache(8), e = q->new_cache(8);
  const auto prefill = q->forward(a, toks);
  std::vector<float> last;
  for (int32_t t : toks) last = q->forward(e, std::span<const int32_t>(&t, 1));
  EXPECT_EQ(last, prefill);
  EXPECT_THROW(parse_quant_mix("q4_k"), Error);  // A type, not one of llama.cpp's mixes.
}

// Each k-quant mix on a model of weights with std 0.02 (the default's gain of several per matrix
// amplifies any rounding into large logit changes): near the f32 model, and nearer still to its
// own weights dequantized to f32, where only the activations' 8-bit rounding (Q8_K) is left.
TEST(Quantize, KQuantModelsRunNativelyNearF32) {
  test::TempDir dir;
  ModelConfig c = test::tiny_config(Arch::Llama);
  c.n_embd = 256;
  c.intermediate_size = 512;
  c.n_layer = 2;
  test::write_tiny_model(dir.file("f32"), c, 1, 0.02f);
  auto ref = InferenceModel::load(dir.file("f32"));
  const std::vector<int32_t> toks = {1, 2, 3, 200, 100};
  KVCache rc = ref->new_cache(8);
  const auto lr = ref->forward(rc, toks);
  auto rel = [](const std::vector<float>& x, const std::vector<float>& y) {
    double err = 0, norm = 0;
    for (size_t i = 0; i < y.size(); ++i) {
      err += (x[i] - y[i]) * (x[i] - y[i]);
      norm += y[i] * y[i];
    }
    return std::sqrt(err / norm);
  };
  // (mix, bound against f32, bound against its own weights in f32); q8_0 and q4_0 (int8 blocks
  // of 32 activations) for scale: Q4_K_M must beat Q4_0.
  const std::tuple<const char*, double, double> mixes[] = {
      {"q6_k", 0.07, 0.025},  {"q5_k_m", 0.12, 0.025}, {"q4_k_m", 0.2, 0.025},
      {"q3_k_m", 0.3, 0.025}, {"iq4_xs", 0.25, 0.025}, {"q8_0", 0.03, 0.02},
      {"q4_0", 0.3, 0.02}};
  std::map<std::string, double> err;
  for (const auto& [mix, to_f32, to_deq] : mixes) {
    SCOPED_TRACE(mix);
    quantize_model(dir.file("f32"), dir.file(mix), parse_quant_mix(mix));
    auto q = InferenceModel::load(dir.file(mix));
    LoadOptions f32;
    f32.weight_type = GGMLType::F32;
    auto deq = InferenceModel::load(dir.file(mix), f32);
    KVCache qc = q->new_cache(8), dc = deq->new_cache(8);
    const auto lq = q->forward(qc, toks), ld = deq->forward(dc, toks);
    std::printf("%s: %.4f from f32, %.4f from its weights in f32\n", mix, rel(lq, lr), rel(lq, ld));
    err[mix] = rel(lq, lr);
    EXPECT_LT(rel(lq, lr), to_f32);
    EXPECT_LT(rel(lq, ld), to_deq);
  }
  EXPECT_LT(err["q4_k_m"], err["q4_0"]);
}

}  // namespace
}  // namespace sllm
