#include "sllm/model/config.h"

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "sllm/common/error.h"
#include "test_arch.h"
#include "test_util.h"

using namespace sllm;

TEST(ModelConfig, Gpt2_124M_ParamCount) {
  ModelConfig c;
  set_arch(c, Arch::GPT2);
  c.vocab_size = 50257;
  c.n_layer = 12;
  c.n_head = c.n_kv_head = 12;
  c.n_embd = 768;
  c.block_size = 1024;
  EXPECT_EQ(num_params(c), 124439808u);  // Hugging Face gpt2: 124,439,808.
}

TEST(ModelConfig, LlamaParamCountAndLayout) {
  ModelConfig c;
  set_arch(c, Arch::Llama);
  c.vocab_size = 32000;
  c.n_layer = 6;
  c.n_head = 6;
  c.n_kv_head = 6;
  c.n_embd = 288;
  c.intermediate_size = 768;
  c.block_size = 256;
  c.tie_word_embeddings = true;
  EXPECT_EQ(num_params(c), 15191712u);  // stories15M
  auto specs = param_specs(c);
  // q, k, v adjacent so they form one fused [3C, C] GEMM; gate and up likewise.
  for (size_t i = 0; i + 1 < specs.size(); ++i) {
    if (specs[i].name == "layers.0.attn.q.weight") {
      EXPECT_EQ(specs[i + 1].name, "layers.0.attn.k.weight");
      EXPECT_EQ(specs[i + 1].offset, specs[i].offset + specs[i].numel);
    }
    if (specs[i].name == "layers.0.mlp.gate.weight") {
      EXPECT_EQ(specs[i + 1].name, "layers.0.mlp.up.weight");
    }
  }
}

TEST(ModelConfig, JsonRoundTrip) {
  ModelConfig c;
  set_arch(c, Arch::Llama);
  c.n_head = 8;
  c.n_kv_head = 2;
  c.n_embd = 256;
  c.tie_word_embeddings = false;
  auto j = c.to_json();
  EXPECT_EQ(j["model_type"], "llama");
  EXPECT_EQ(j["num_key_value_heads"], 2);
  ModelConfig d = ModelConfig::from_json(j);
  EXPECT_EQ(d.to_json(), j);
}

TEST(ModelConfig, Gpt2WithoutBiasesRoundTripsAndDropsTheBiasTensors) {
  ModelConfig c;  // gpt2
  const size_t with_bias = num_params(c);
  EXPECT_FALSE(c.to_json().contains("bias"));  // The default stays out of config.json.
  c.set_biases(false);
  auto j = c.to_json();
  EXPECT_EQ(j["bias"], false);
  ModelConfig d = ModelConfig::from_json(j);
  EXPECT_FALSE(d.all_biases());
  EXPECT_EQ(d.to_json(), j);
  for (const ParamSpec& s : param_specs(d))
    EXPECT_EQ(s.name.find(".bias"), std::string::npos) << s.name;
  // Per layer: 2 LayerNorm biases, qkv, o, up and down biases; plus the final LayerNorm's.
  const size_t C = c.n_embd, F = c.ffn_dim();
  EXPECT_EQ(with_bias - num_params(d), c.n_layer * (2 * C + 3 * C + C + F + C) + C);
  nlohmann::json bad = j;
  bad["bias"] = "no";
  EXPECT_THROW(ModelConfig::from_json(bad), Error);
}

TEST(ModelConfig, RejectsBadFieldsByName) {
  ModelConfig c;
  c.n_embd = 130;
  c.n_head = 4;
  try {
    c.validate();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("hidden_size"), std::string::npos) << e.what();
  }
  nlohmann::json j = {{"model_type", "mamba"}};
  EXPECT_THROW(ModelConfig::from_json(j), Error);
  nlohmann::json k = ModelConfig{}.to_json();
  k["num_hidden_layers"] = "four";
  EXPECT_THROW(ModelConfig::from_json(k), Error);
  ModelConfig g;
  set_arch(g, Arch::Llama);
  g.n_head = 6;
  g.n_kv_head = 4;
  g.n_embd = 96;
  EXPECT_THROW(g.validate(), Error);
}

TEST(ModelConfig, InitializerRangeRoundTripsAndIsValidated) {
  ModelConfig c;
  EXPECT_EQ(c.initializer_range, 0.02f);  // GPT-2's, for models built in code.
  c.initializer_range = width_scaled_init_std(128);
  auto j = c.to_json();
  EXPECT_EQ(ModelConfig::from_json(j).initializer_range, c.initializer_range);
  nlohmann::json old = j;
  old.erase("initializer_range");  // config.json written before the field existed
  EXPECT_EQ(ModelConfig::from_json(old).initializer_range, 0.02f);
  for (double bad : {0.0, -0.02, 1.5}) {
    nlohmann::json k = j;
    k["initializer_range"] = bad;
    const std::string error = test::error_of([&] { ModelConfig::from_json(k); });
    EXPECT_NE(error.find("initializer_range"), std::string::npos) << bad << ": " << error;
  }
  nlohmann::json s = j;
  s["initializer_range"] = "wide";
  EXPECT_THROW(ModelConfig::from_json(s), Error);
}

TEST(ModelConfig, WidthScaledInitIsGpt2sAt768AndFollowsOneOverSqrtWidth) {
  EXPECT_NEAR(width_scaled_init_std(768), 0.02, 1e-9);
  EXPECT_NEAR(width_scaled_init_std(128), 0.02 * std::sqrt(6.0), 1e-7);
  EXPECT_NEAR(width_scaled_init_std(3072), 0.01, 1e-9);
  EXPECT_THROW(width_scaled_init_std(0), Error);
}
