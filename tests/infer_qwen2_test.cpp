// A tiny Hugging Face Qwen2 checkpoint (tests/reference/qwen2_tiny, written with its expected
// logits by tests/reference/qwen2_ref.py, an independent PyTorch implementation).
#include <cstring>
#include <nlohmann/json.hpp>

#include "sllm/format/export.h"
#include "sllm/infer/model.h"
#include "sllm/io/file.h"
#include "sllm/io/safetensors.h"
#include "test_util.h"

namespace sllm {
namespace {

std::string qwen2_dir() {
  return test::source_dir() + "/tests/reference/qwen2_tiny";
}

void expect_reference_logits(InferenceModel& m) {
  const auto ref = nlohmann::json::parse(read_file(qwen2_dir() + "/expected_logits.json"));
  const auto tokens = ref["tokens"].get<std::vector<int32_t>>();
  KVCache cache = m.new_cache(0);
  InferenceModel::Seq seq{&cache, tokens};
  std::vector<float> logits;
  m.forward_batch({&seq, 1}, logits, true);
  const int V = m.config().vocab_size;
  ASSERT_EQ(logits.size(), tokens.size() * V);
  for (size_t t = 0; t < tokens.size(); ++t)
    for (int i = 0; i < V; ++i) {
      const double want = ref["logits"][t][i].get<double>();
      ASSERT_NEAR(logits[t * V + i], want, 1e-4 * (1 + std::abs(want))) << "position " << t;
    }
}

TEST(Qwen2, HuggingFaceCheckpointMatchesPyTorch) {
  auto m = InferenceModel::load(qwen2_dir());
  EXPECT_TRUE(m->config().qkv_bias);
  EXPECT_EQ(m->config().n_kv_head, 2);
  EXPECT_FALSE(m->config().tie_word_embeddings);
  expect_reference_logits(*m);
}

TEST(Qwen2, ExportsRoundTripAndKeepTheLogits) {
  test::TempDir dir;
  const ModelFiles src = load_model_files(qwen2_dir());
  export_hf(src, dir.file("hf"));
  const auto cfg = nlohmann::json::parse(read_file(dir.file("hf/config.json")));
  EXPECT_EQ(cfg["model_type"], "qwen2");
  SafetensorsReader a(qwen2_dir() + "/model.safetensors"), b(dir.file("hf/model.safetensors"));
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (const auto& t : a.tensors()) {
    const TensorView& u = b.get(t.name);
    ASSERT_EQ(u.nbytes, t.nbytes) << t.name;
    EXPECT_EQ(std::memcmp(u.data, t.data, t.nbytes), 0) << t.name;
  }
  export_gguf(src, dir.file("q.gguf"));
  GGUFReader g(dir.file("q.gguf"));
  EXPECT_EQ(g.get_string("general.architecture"), "qwen2");
  EXPECT_NE(g.find_tensor("blk.1.attn_k.bias"), nullptr);
  auto m = InferenceModel::load(dir.file("q.gguf"));
  EXPECT_TRUE(m->config().qkv_bias);
  expect_reference_logits(*m);
}

}  // namespace
}  // namespace sllm
