#include <cmath>

#include "infer_test_util.h"
#include "sllm/common/error.h"
#include "sllm/infer/model.h"
#include "sllm/infer/quant_mix.h"
#include "sllm/infer/quantize.h"
#include "sllm/quant/quant.h"
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
// k-quant model runs (its matrices dequantized at load) close to the f32 one.
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
  auto ref = InferenceModel::load(dir.file("f32"));
  const std::vector<int32_t> toks = {1, 2, 3, 200, 100};
  KVCache a = q->new_cache(8), b = ref->new_cache(8);
  const auto lq = q->forward(a, toks), lr = ref->forward(b, toks);
  double err = 0, norm = 0;
  for (size_t i = 0; i < lr.size(); ++i) {
    err += (lq[i] - lr[i]) * (lq[i] - lr[i]);
    norm += lr[i] * lr[i];
  }
  EXPECT_LT(std::sqrt(err / norm), 0.1);
  EXPECT_THROW(parse_quant_mix("q4_k"), Error);  // A type, not one of llama.cpp's mixes.
}

}  // namespace
}  // namespace sllm
