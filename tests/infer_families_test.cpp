// The inference engine on tiny Hugging Face checkpoints of the open families (Llama 3.2,
// SmolLM2, Qwen2.5, Qwen3, Gemma 2, Gemma 3, Phi-3, Mistral), against the float64 PyTorch
// reference tests/reference/families.py, which writes each checkpoint and its logits at every
// position. The checkpoints keep each real config's head_dim, GQA ratio, rope settings and
// window pattern, with windows shorter than the 48-token test sequence.
// Tolerance: 1e-4 max abs over every position's logits (which are O(10)).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "families_reference.h"
#include "reference_cache.h"
#include "sllm/common/error.h"
#include "sllm/infer/model.h"
#include "sllm/io/file.h"
#include "sllm/io/safetensors.h"
#include "sllm/model/model.h"
#include "test_util.h"

namespace sllm {
namespace {

using test::families_dir;

struct Expected {
  std::vector<int32_t> tokens;
  std::vector<float> logits;  // [T, V]
};

Expected expected(const std::string& dir) {
  SafetensorsReader r(dir + "/expected.safetensors");
  const TensorView& t = r.get("tokens");
  const TensorView& l = r.get("logits");
  Expected e;
  e.tokens.assign(reinterpret_cast<const int32_t*>(t.data),
                  reinterpret_cast<const int32_t*>(t.data) + t.numel());
  e.logits.assign(reinterpret_cast<const float*>(l.data),
                  reinterpret_cast<const float*>(l.data) + l.numel());
  return e;
}

// Feeds the tokens in chunks of `chunk` (a whole prefill, single decode steps, or chunks that
// straddle the windows) and returns the max abs difference over every position's logits.
double max_abs_diff(InferenceModel& m, const Expected& e, size_t chunk) {
  // Sized to the test (the real configs' contexts run to 131072 positions).
  KVCache cache = m.new_cache(static_cast<int>(e.tokens.size()));
  const size_t V = static_cast<size_t>(m.config().vocab_size);
  double worst = 0.0;
  for (size_t t0 = 0; t0 < e.tokens.size(); t0 += chunk) {
    const size_t n = std::min(chunk, e.tokens.size() - t0);
    InferenceModel::Seq seq{&cache, std::span<const int32_t>(e.tokens.data() + t0, n)};
    std::vector<float> logits;
    m.forward_batch({&seq, 1}, logits, true);
    EXPECT_EQ(logits.size(), n * V);
    for (size_t i = 0; i < n * V; ++i)
      worst = std::max(worst, std::abs(static_cast<double>(logits[i]) - e.logits[t0 * V + i]));
  }
  return worst;
}

class Families : public ::testing::TestWithParam<const char*> {};

TEST_P(Families, InferenceMatchesPyTorchAtEveryPosition) {
  const std::string root = families_dir();
  if (root.empty()) GTEST_SKIP() << "/usr/bin/python3 (torch) is needed for the reference";
  const std::string dir = root + "/" + GetParam();
  const Expected e = expected(dir);
  auto m = InferenceModel::load(dir);
  ASSERT_EQ(e.logits.size(), e.tokens.size() * m->config().vocab_size);
  // Whole prefill (query blocks), one token at a time (decode), and chunks of 5 (blocks and
  // single tokens at every offset against the windows).
  for (size_t chunk : {e.tokens.size(), size_t{1}, size_t{5}}) {
    const double d = max_abs_diff(*m, e, chunk);
    std::printf("%s chunk %zu: max |sllm - torch| = %.3g\n", GetParam(), chunk, d);
    EXPECT_LE(d, 1e-4) << GetParam() << " with chunks of " << chunk;
  }
}

// The same checkpoint as llama.cpp's converter writes it (families.py's <family>.gguf): its
// names and keys, llama3 scaling as rope_freqs.weight, Gemma's norms as 1 + w.
TEST_P(Families, GgufMatchesPyTorchAtEveryPosition) {
  const std::string root = families_dir();
  if (root.empty()) GTEST_SKIP() << "/usr/bin/python3 (torch) is needed for the reference";
  const std::string dir = root + "/" + GetParam(), gguf = dir + ".gguf";
  if (!std::filesystem::exists(gguf))
    GTEST_SKIP() << GetParam() << ": llama.cpp converts it as llama, without its window";
  const Expected e = expected(dir);
  auto m = InferenceModel::load(gguf);
  for (size_t chunk : {e.tokens.size(), size_t{1}}) {
    const double d = max_abs_diff(*m, e, chunk);
    std::printf("%s GGUF chunk %zu: max |sllm - torch| = %.3g\n", GetParam(), chunk, d);
    EXPECT_LE(d, 1e-4) << GetParam() << " with chunks of " << chunk;
  }
}

// An F16 KV cache reads windows through its own kernels (half keys: a looser tolerance).
TEST(FamiliesKvF16, SlidingWindowsAndSoftcapsMatch) {
  const std::string root = families_dir();
  if (root.empty()) GTEST_SKIP() << "/usr/bin/python3 (torch) is needed for the reference";
  for (const char* f : {"gemma2", "gemma3", "mistral"}) {
    const Expected e = expected(root + "/" + f);
    LoadOptions opt;
    opt.kv_type = KVType::F16;
    auto m = InferenceModel::load(root + "/" + f, opt);
    for (size_t chunk : {e.tokens.size(), size_t{1}}) {
      const double d = max_abs_diff(*m, e, chunk);
      std::printf("%s f16 KV chunk %zu: max |sllm - torch| = %.3g\n", f, chunk, d);
      EXPECT_LE(d, 2e-2) << f << " with chunks of " << chunk;
    }
  }
}

// sllm's own config.json (written by `sllm quantize`) keeps every feature of every family.
TEST(FamiliesConfig, SllmConfigJsonRoundTrips) {
  const std::string root = families_dir();
  if (root.empty()) GTEST_SKIP() << "/usr/bin/python3 (torch) is needed for the reference";
  for (const char* f :
       {"llama3", "smollm2", "qwen25", "qwen3", "gemma2", "gemma3", "phi3", "mistral"}) {
    const ModelConfig c = load_model_files(root + "/" + f).config;
    EXPECT_EQ(ModelConfig::from_json(c.to_json()), c) << f << ": " << c.to_json().dump();
    if (std::string(f) == "mistral") continue;  // No GGUF (families.py says why).
    const ModelConfig g = load_model_files(root + "/" + f + ".gguf").config;
    EXPECT_EQ(ModelConfig::from_json(g.to_json()), g) << f << ": " << g.to_json().dump();
  }
}

// The training model runs every family (train_families_test) but still names what it lacks.
TEST(FamiliesConfig, TrainingModelRefusesByName) {
  const std::string root = families_dir();
  if (root.empty()) GTEST_SKIP() << "/usr/bin/python3 (torch) is needed for the reference";
  ModelConfig c = load_model_files(root + "/gemma2").config;
  c.activation = Activation::Gelu;  // exact (erf) GELU
  try {
    Model m(c);
    FAIL() << "gemma2 trained";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("training model: "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("is not supported"), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(HuggingFace, Families,
                         ::testing::Values("llama3", "smollm2", "qwen25", "qwen3", "gemma2",
                                           "gemma3", "phi3", "mistral"));

TEST(FamiliesConfig, ReadsEachFamilysFeatures) {
  const std::string root = families_dir();
  if (root.empty()) GTEST_SKIP() << "/usr/bin/python3 (torch) is needed for the reference";
  auto cfg = [&](const char* f) { return load_model_files(root + "/" + f).config; };
  const ModelConfig llama = cfg("llama3");
  EXPECT_EQ(llama.rope_scaling.type, "llama3");
  EXPECT_EQ(llama.rope_scaling.original_max_position, 8192);
  EXPECT_TRUE(llama.tie_word_embeddings);
  const ModelConfig qwen3 = cfg("qwen3");
  EXPECT_TRUE(qwen3.qk_norm);
  EXPECT_EQ(qwen3.head_dim(), 128);
  const ModelConfig g2 = cfg("gemma2");
  EXPECT_EQ(g2.sliding_window, (std::vector<int>{16, 0, 16}));
  EXPECT_FLOAT_EQ(g2.embedding_scale, std::sqrt(128.0f));
  EXPECT_FLOAT_EQ(g2.attn_softcap, 50.0f);
  EXPECT_FLOAT_EQ(g2.final_logit_softcap, 30.0f);
  EXPECT_FLOAT_EQ(g2.query_pre_attn_scalar, 144.0f);
  const ModelConfig g3 = cfg("gemma3");
  EXPECT_EQ(g3.sliding_window, (std::vector<int>{12, 12, 0}));
  EXPECT_FLOAT_EQ(g3.rope_local_theta, 10000.0f);
  EXPECT_EQ(g3.rope_scaling.type, "linear");
  EXPECT_EQ(g3.attn_softcap, 0.0f);
  EXPECT_EQ(cfg("phi3").sliding_window, std::vector<int>(2, 15));
  EXPECT_EQ(cfg("mistral").sliding_window, std::vector<int>(2, 16));
}

// Copies a reference checkpoint with its config.json changed by `edit`.
std::string edited_copy(const test::TempDir& tmp, const char* family,
                        const std::function<void(nlohmann::json&)>& edit) {
  const std::string src = families_dir() + "/" + family, dst = tmp.file(family);
  std::filesystem::copy(src, dst, std::filesystem::copy_options::recursive);
  auto j = nlohmann::json::parse(read_file(dst + "/config.json"));
  edit(j);
  std::ofstream(dst + "/config.json") << j.dump();
  return dst;
}

std::string load_error(const std::string& dir) {
  try {
    InferenceModel::load(dir);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(FamiliesConfig, RefusesWhatItDoesNotRunByName) {
  if (families_dir().empty()) GTEST_SKIP() << "/usr/bin/python3 (torch) is needed";
  test::TempDir tmp;
  const std::string yarn = edited_copy(tmp, "qwen3", [](nlohmann::json& j) {
    j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  });
  EXPECT_NE(load_error(yarn).find("rope_scaling type 'yarn' is not supported"), std::string::npos)
      << load_error(yarn);
  const std::string longrope = edited_copy(tmp, "phi3", [](nlohmann::json& j) {
    j["rope_scaling"] = {{"type", "longrope"}, {"short_factor", {1.0}}, {"long_factor", {1.0}}};
  });
  EXPECT_NE(load_error(longrope).find("'longrope' is not supported"), std::string::npos)
      << load_error(longrope);
  const std::string partial =
      edited_copy(tmp, "smollm2", [](nlohmann::json& j) { j["partial_rotary_factor"] = 0.5; });
  EXPECT_NE(load_error(partial).find("partial rotary is not supported"), std::string::npos)
      << load_error(partial);
  const std::string types = edited_copy(tmp, "gemma3", [](nlohmann::json& j) {
    j["layer_types"] = {"sliding_attention", "chunked_attention", "full_attention"};
  });
  EXPECT_NE(load_error(types).find("'chunked_attention' is not supported"), std::string::npos)
      << load_error(types);
  const std::string shard = edited_copy(tmp, "mistral", [](nlohmann::json&) {});
  std::filesystem::remove(shard + "/model-00002-of-00002.safetensors");
  EXPECT_NE(load_error(shard).find("shard 'model-00002-of-00002.safetensors' is missing"),
            std::string::npos)
      << load_error(shard);
}

}  // namespace
}  // namespace sllm
