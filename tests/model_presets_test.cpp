// The preset table (family <-> HF model_type <-> GGUF architecture <-> features), config.json
// round trips of every preset and feature, old config.json files, and each consumer's refusal
// of the features it cannot run, by name.
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "sllm/common/error.h"
#include "sllm/cuda/cuda_model.h"
#include "sllm/format/hf_names.h"
#include "sllm/infer/model.h"
#include "sllm/model/model.h"
#include "sllm/model/presets.h"
#include "test_util.h"

using namespace sllm;

namespace {

ModelConfig small(const char* family) {
  ModelConfig c;
  c.vocab_size = 64;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = 4;
  c.n_embd = 32;
  c.intermediate_size = 64;  // config.json holds the resolved width
  c.block_size = 16;
  apply_preset(c, preset(family));
  return c;
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST(ModelPresets, EveryPresetRoundTripsThroughConfigJson) {
  for (const ModelPreset& p : model_presets()) {
    ModelConfig c = small(p.name);
    const nlohmann::json j = c.to_json();
    const ModelConfig d = ModelConfig::from_json(j);
    EXPECT_EQ(d, c) << p.name;
    EXPECT_EQ(d.to_json(), j) << p.name;
    // Read back by its own name too (qwen2 and mistral are written as llama plus features).
    nlohmann::json named = j;
    named["model_type"] = p.name;
    EXPECT_EQ(ModelConfig::from_json(named), c) << p.name;
  }
  EXPECT_EQ(small("gpt2").to_json()["model_type"], "gpt2");
  EXPECT_EQ(small("llama").to_json()["model_type"], "llama");
  const nlohmann::json q = small("qwen2").to_json();
  EXPECT_EQ(q["model_type"], "llama");  // As sllm has always written a Qwen2.
  EXPECT_EQ(q["qkv_bias"], true);
  EXPECT_EQ(small("mistral").to_json(), small("llama").to_json());
}

TEST(ModelPresets, MapsHfModelTypesAndGgufArchitectures) {
  for (const char* t : {"gpt2", "llama", "qwen2", "mistral"}) {
    ASSERT_NE(find_hf_preset(t), nullptr) << t;
    EXPECT_STREQ(find_hf_preset(t)->name, t);
  }
  EXPECT_EQ(find_hf_preset("bert"), nullptr);
  for (const char* a : {"gpt2", "llama", "qwen2"}) {
    ASSERT_NE(find_gguf_preset(a), nullptr) << a;
    EXPECT_STREQ(find_gguf_preset(a)->gguf_arch, a);
  }
  EXPECT_EQ(find_gguf_preset("mistral"), nullptr);  // As the GGUF loader has always said.
  EXPECT_TRUE(find_gguf_preset("qwen2")->gguf_rotate_half);
  EXPECT_TRUE(find_gguf_preset("gpt2")->gguf_fused_qkv);
  EXPECT_EQ(find_hf_preset("gpt2")->hf->style, HfStyle::Gpt2);
  EXPECT_EQ(find_hf_preset("qwen2")->hf->style, HfStyle::Llama);
  // Exporters name a model by its features: Qwen2's are llama's plus q/k/v biases.
  EXPECT_STREQ(exported_preset(small("qwen2"), "test").name, "qwen2");
  EXPECT_STREQ(exported_preset(small("mistral"), "test").name, "llama");
  ModelConfig nobias = small("gpt2");
  nobias.set_biases(false);
  EXPECT_STREQ(exported_preset(nobias, "test").name, "gpt2");
  EXPECT_STREQ(family_name(nobias), "gpt2");
  EXPECT_STREQ(family_name(small("qwen2")), "llama");
  const std::string e = test::error_of([] { preset("bert"); });
  EXPECT_TRUE(contains(e, "unknown architecture 'bert'")) << e;
}

TEST(ModelPresets, HfNamesComeFromTheRow) {
  const ModelConfig q = small("qwen2");
  const auto layer = hf_layer_names(q, hf_preset(q), 1);
  bool bias = false;
  for (const auto& [hf, ours] : layer) bias |= hf == "layers.1.self_attn.q_proj.bias";
  EXPECT_TRUE(bias);
  EXPECT_EQ(layer.size(), 12u);  // 9 weights and 3 biases
  const ModelConfig g = small("gpt2");
  const auto globals = hf_global_names(g, hf_preset(g));
  EXPECT_EQ(globals.size(), 4u);  // wte, wpe, ln_f.{weight,bias}; lm_head is tied
  EXPECT_EQ(hf_config_to_json(q, hf_preset(q))["model_type"], "qwen2");
}

TEST(ModelPresets, EveryFeatureRoundTripsThroughConfigJson) {
  ModelConfig c = small("llama");
  c.head_size = 16;
  c.norm_unit_offset = true;
  c.post_norms = true;
  c.rope_scaling = {"llama3", 8.0f, 8192, 1.0f, 4.0f, {}, {}, {}};
  c.rotary_fraction = 0.5f;
  c.rope_layout = RopeLayout::RotateHalf;
  c.qk_norm = true;
  c.sliding_window = {8, 0};
  c.attn_softcap = 50.0f;
  c.final_logit_softcap = 30.0f;
  c.activation = Activation::GeluTanh;
  c.embedding_scale = 5.5f;
  c.mlp_bias = true;
  c.query_pre_attn_scalar = 12.0f;
  c.rope_local_theta = 1000.0f;
  const nlohmann::json j = c.to_json();
  EXPECT_EQ(ModelConfig::from_json(j), c) << j.dump();
  ModelConfig g = small("gpt2");
  g.norm = NormKind::RMSNorm;
  g.norm_bias = false;
  g.positions = Positions::Rope;
  g.activation = Activation::Gelu;
  g.rope_scaling = {"longrope", 2.0f, 4096, 0.0f, 0.0f, {1.0f, 1.5f}, {2.0f, 3.0f}, {}};
  EXPECT_EQ(ModelConfig::from_json(g.to_json()), g) << g.to_json().dump();
  nlohmann::json bad = j;
  bad["hidden_act"] = "relu6";
  EXPECT_TRUE(contains(test::error_of([&] { ModelConfig::from_json(bad); }), "relu6"));
  bad = j;
  bad["sliding_window"] = {8};
  EXPECT_TRUE(contains(test::error_of([&] { ModelConfig::from_json(bad); }), "sliding_window"));
}

// config.json as sllm wrote it before presets: each loads and writes back the same fields.
TEST(ModelPresets, OldConfigJsonFilesLoad) {
  const char* old[] = {
      R"({"hidden_size":128,"initializer_range":0.02,"intermediate_size":512,
          "layer_norm_epsilon":1e-05,"max_position_embeddings":64,"model_type":"gpt2",
          "num_attention_heads":4,"num_hidden_layers":4,"num_key_value_heads":4,
          "tie_word_embeddings":true,"vocab_size":256})",
      R"({"bias":false,"hidden_size":128,"intermediate_size":512,"layer_norm_epsilon":1e-05,
          "max_position_embeddings":64,"model_type":"gpt2","num_attention_heads":4,
          "num_hidden_layers":4,"num_key_value_heads":4,"tie_word_embeddings":true,
          "vocab_size":65})",
      R"({"hidden_size":128,"initializer_range":0.049,"intermediate_size":352,
          "max_position_embeddings":128,"model_type":"llama","num_attention_heads":4,
          "num_hidden_layers":4,"num_key_value_heads":2,"rms_norm_eps":1e-05,
          "rope_theta":10000.0,"tie_word_embeddings":true,"vocab_size":256})",
      R"({"hidden_size":32,"initializer_range":0.02,"intermediate_size":64,
          "max_position_embeddings":32,"model_type":"llama","num_attention_heads":4,
          "num_hidden_layers":2,"num_key_value_heads":2,"qkv_bias":true,"rms_norm_eps":1e-06,
          "rope_theta":1000000.0,"tie_word_embeddings":false,"vocab_size":64})",
  };
  for (const char* text : old) {
    const nlohmann::json j = nlohmann::json::parse(text);
    const ModelConfig c = ModelConfig::from_json(j);
    nlohmann::json back = c.to_json();
    if (!j.contains("initializer_range")) back.erase("initializer_range");
    EXPECT_EQ(back.size(), j.size()) << back.dump();
    for (const auto& [k, v] : j.items()) {
      ASSERT_TRUE(back.contains(k)) << k;
      if (v.is_number_float())
        EXPECT_FLOAT_EQ(back[k].get<float>(), v.get<float>()) << k;
      else
        EXPECT_EQ(back[k], v) << k;
    }
  }
  // An old llama with "bias": true was refused; it still is, naming why.
  nlohmann::json llama_bias = nlohmann::json::parse(old[2]);
  llama_bias["bias"] = true;
  EXPECT_TRUE(contains(test::error_of([&] { ModelConfig::from_json(llama_bias); }), "bias"));
}

namespace {

struct FeatureCase {
  Feature f;
  std::function<ModelConfig()> make;
};

std::vector<FeatureCase> feature_cases() {
  auto llama = [](std::function<void(ModelConfig&)> set) {
    return [set] {
      ModelConfig c = small("llama");
      set(c);
      return c;
    };
  };
  auto gpt2 = [](std::function<void(ModelConfig&)> set) {
    return [set] {
      ModelConfig c = small("gpt2");
      set(c);
      return c;
    };
  };
  return {
      {Feature::HeadDim, llama([](ModelConfig& c) { c.head_size = 16; })},
      {Feature::NormUnitOffset, llama([](ModelConfig& c) { c.norm_unit_offset = true; })},
      {Feature::PostNorms, llama([](ModelConfig& c) { c.post_norms = true; })},
      {Feature::RopeScaling, llama([](ModelConfig& c) { c.rope_scaling.type = "linear"; })},
      {Feature::PartialRotary, llama([](ModelConfig& c) { c.rotary_fraction = 0.5f; })},
      {Feature::RotateHalf, llama([](ModelConfig& c) { c.rope_layout = RopeLayout::RotateHalf; })},
      {Feature::QkNorm, llama([](ModelConfig& c) { c.qk_norm = true; })},
      {Feature::SlidingWindow, llama([](ModelConfig& c) {
         c.sliding_window = {8, 8};
       })},
      {Feature::AttnSoftcap, llama([](ModelConfig& c) { c.attn_softcap = 50.0f; })},
      {Feature::FinalSoftcap, llama([](ModelConfig& c) { c.final_logit_softcap = 30.0f; })},
      {Feature::EmbeddingScale, llama([](ModelConfig& c) { c.embedding_scale = 2.0f; })},
      {Feature::ExactGelu, gpt2([](ModelConfig& c) { c.activation = Activation::Gelu; })},
      {Feature::GatedGelu, llama([](ModelConfig& c) { c.activation = Activation::GeluTanh; })},
      {Feature::PlainSilu, gpt2([](ModelConfig& c) { c.activation = Activation::Silu; })},
      {Feature::GatedMlpBias, llama([](ModelConfig& c) { c.mlp_bias = true; })},
      {Feature::MixedBiases, llama([](ModelConfig& c) { c.qkv_bias = true; })},
      {Feature::UnbiasedLayerNorm, gpt2([](ModelConfig& c) { c.set_biases(false); })},
      {Feature::GroupedQueryLearned, gpt2([](ModelConfig& c) { c.n_kv_head = 2; })},
      {Feature::QueryPreAttnScalar, llama([](ModelConfig& c) { c.query_pre_attn_scalar = 12.0f; })},
      {Feature::LocalRopeBase, llama([](ModelConfig& c) { c.rope_local_theta = 1000.0f; })},
  };
}

// Each consumer, as the way it is built from a config that uses the feature.
struct Consumer {
  const char* name;
  uint32_t supported;
  std::function<void(const ModelConfig&)> build;
};

std::vector<Consumer> consumers() {
  return {
      {"training model", kTrainingModelFeatures, [](const ModelConfig& c) { Model m(c); }},
      {"inference engine", kInferenceFeatures,
       [](const ModelConfig& c) {
         ModelFiles f;
         f.config = c;
         f.source = "test";
         InferenceModel m(std::move(f), LoadOptions{});
       }},
      // The CUDA backend checks before it looks for a GPU; here, without one, its check.
      {"--device cuda", cuda::kCudaFeatures,
       [](const ModelConfig& c) { require_supported(c, "--device cuda", cuda::kCudaFeatures); }},
      {"GGUF export", Feature::MixedBiases | Feature::UnbiasedLayerNorm,
       [](const ModelConfig& c) { exported_preset(c, "GGUF export"); }},
      // config.json also says head_dim, rope_scaling, qk-norm (qwen3), windows (mistral),
      // hidden_act and mlp_bias.
      {"Hugging Face export",
       Feature::MixedBiases | Feature::UnbiasedLayerNorm | Feature::HeadDim | Feature::RopeScaling |
           Feature::QkNorm | Feature::SlidingWindow | Feature::GatedGelu | Feature::GatedMlpBias,
       [](const ModelConfig& c) { hf_preset(c); }},
  };
}

}  // namespace

TEST(ModelPresets, EachConsumerRefusesWhatItCannotRunByName) {
  for (const FeatureCase& fc : feature_cases()) {
    const ModelConfig c = fc.make();
    ASSERT_TRUE(uses_feature(c, fc.f)) << feature_name(fc.f);
    ASSERT_NO_THROW(c.validate()) << feature_name(fc.f);
    for (const Consumer& k : consumers()) {
      if (k.supported & static_cast<uint32_t>(fc.f)) continue;
      const std::string e = test::error_of([&] { k.build(c); });
      EXPECT_TRUE(contains(e, k.name) && contains(e, feature_name(fc.f)))
          << k.name << " / " << feature_name(fc.f) << ": " << e;
    }
  }
}

TEST(ModelPresets, ConsumersRunTheFeaturesTheySupport) {
  // The training model runs a LayerNorm without bias (nanoGPT's bias=False) ...
  ModelConfig g = small("gpt2");
  g.set_biases(false);
  EXPECT_NO_THROW(Model{g});
  // ... and every preset (the open families' features since issue 21).
  for (const ModelPreset& p : model_presets()) EXPECT_NO_THROW(Model{small(p.name)}) << p.name;
  EXPECT_NO_THROW(require_supported(small("qwen2"), "inference engine", kInferenceFeatures));
}

// Hugging Face config keys for features are read, so that the engine refuses them by name
// instead of running a different model.
TEST(ModelPresets, HfConfigReadsFeatures) {
  const nlohmann::json base = {{"model_type", "llama"},
                               {"hidden_size", 32},
                               {"num_hidden_layers", 2},
                               {"num_attention_heads", 4},
                               {"max_position_embeddings", 16},
                               {"intermediate_size", 64},
                               {"vocab_size", 64}};
  EXPECT_EQ(hf_config_from_json(base, "c.json"), small("llama"));
  auto refusal = [&](const char* key, nlohmann::json v) {
    nlohmann::json j = base;
    j[key] = v;
    const ModelConfig c = hf_config_from_json(j, "c.json");
    return test::error_of([&] { require_supported(c, "inference engine", kInferenceFeatures); });
  };
  // (Gemma's gated gelu_tanh and an explicit head_dim run since the families issue.)
  EXPECT_TRUE(contains(refusal("hidden_act", "gelu"), "exact (erf) gelu"));
  EXPECT_TRUE(contains(refusal("partial_rotary_factor", 0.5), "partial rotary"));
  EXPECT_EQ(refusal("head_dim", 16), "");
  EXPECT_TRUE(contains(refusal("mlp_bias", true), "biases on a gated MLP"));
  EXPECT_EQ(refusal("attention_bias", true), "");  // Per-tensor biases run in the engine.
  nlohmann::json j = base;
  j["hidden_act"] = "relu";
  EXPECT_TRUE(contains(test::error_of([&] { hf_config_from_json(j, "c.json"); }), "relu"));
  nlohmann::json g = {{"model_type", "gpt2"}, {"n_embd", 32},
                      {"n_layer", 2},         {"n_head", 4},
                      {"n_positions", 16},    {"vocab_size", 64},
                      {"n_inner", 64},        {"activation_function", "gelu_new"}};
  EXPECT_EQ(hf_config_from_json(g, "c.json"), small("gpt2"));
}
