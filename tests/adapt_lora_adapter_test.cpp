#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "sllm/io/safetensors.h"
#include "sllm/model/lora_adapter.h"
#include "test_arch.h"
#include "test_util.h"

using namespace sllm;

namespace {

ModelConfig tiny_llama() {
  ModelConfig c;
  set_arch(c, Arch::Llama);
  c.vocab_size = 32;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_kv_head = 1;
  c.n_embd = 16;
  c.intermediate_size = 24;
  c.block_size = 8;
  return c;
}

LoraAdapters random_adapters(const ModelConfig& c, LoraConfig lc) {
  LoraAdapters a(c, lc);
  std::mt19937 rng(3);
  std::normal_distribution<float> n(0.0f, 1.0f);
  for (float& p : a.params()) p = n(rng);
  return a;
}

using sllm::test::error_of;

}  // namespace

TEST(AdaptLoraAdapter, TargetsShapesAndPeftNames) {
  LoraConfig lc;
  lc.r = 4;
  lc.alpha = 8;
  LoraAdapters a(tiny_llama(), lc);
  ASSERT_EQ(a.targets().size(), 14u);  // 7 modules x 2 layers
  const LoraTarget& k = a.targets()[1];
  EXPECT_EQ(k.param, "layers.0.attn.k.weight");
  EXPECT_EQ(k.peft_name, "base_model.model.model.layers.0.self_attn.k_proj");
  EXPECT_EQ(k.dims.out, 8);  // GQA: one kv head of 8
  EXPECT_EQ(k.dims.in, 16);
  EXPECT_FLOAT_EQ(k.dims.scale, 2.0f);
  EXPECT_EQ(a.targets()[6].peft_name, "base_model.model.model.layers.0.mlp.down_proj");
  EXPECT_EQ(a.targets()[6].dims.in, 24);
  EXPECT_EQ(LoraConfig::parse_targets("q_proj, v"), (std::vector<std::string>{"q", "v"}));
  EXPECT_NE(error_of([] { LoraConfig::parse_targets("q,x"); }).find("unknown LoRA target 'x'"),
            std::string::npos);
  ModelConfig g = tiny_llama();
  set_arch(g, Arch::GPT2);
  g.n_kv_head = g.n_head;
  EXPECT_NE(error_of([&] { LoraAdapters(g, LoraConfig{}); }).find("no gate projection"),
            std::string::npos);
}

TEST(AdaptLoraAdapter, SaveLoadRoundTripInPeftLayout) {
  sllm::test::TempDir dir;
  LoraConfig lc;
  lc.r = 2;
  lc.alpha = 4;
  lc.targets = {"q", "v", "down"};
  LoraAdapters a = random_adapters(tiny_llama(), lc);
  a.save(dir.path(), "my-base");
  auto cfg = nlohmann::json::parse(read_file(dir.file("adapter_config.json")));
  EXPECT_EQ(cfg["peft_type"], "LORA");
  EXPECT_EQ(cfg["r"], 2);
  EXPECT_EQ(cfg["target_modules"], (nlohmann::json{"q_proj", "v_proj", "down_proj"}));
  SafetensorsReader r(dir.file("adapter_model.safetensors"));
  EXPECT_EQ(r.tensors().size(), 12u);
  EXPECT_EQ(r.get("base_model.model.model.layers.1.mlp.down_proj.lora_B.weight").shape,
            (std::vector<int64_t>{16, 2}));

  LoraAdapters b = LoraAdapters::load(dir.path(), tiny_llama());
  ASSERT_EQ(b.params().size(), a.params().size());
  EXPECT_TRUE(std::equal(a.params().begin(), a.params().end(), b.params().begin()));
  EXPECT_FLOAT_EQ(b.config().scale(), 2.0f);
}

TEST(AdaptLoraAdapter, MismatchedBaseIsAClearError) {
  sllm::test::TempDir dir;
  LoraConfig lc;
  lc.r = 2;
  LoraAdapters a = random_adapters(tiny_llama(), lc);
  a.save(dir.path(), "base");
  ModelConfig other = tiny_llama();
  other.n_embd = 32;
  EXPECT_NE(error_of([&] { LoraAdapters::load(dir.path(), other); }).find("different base model"),
            std::string::npos);

  // Without sllm's metadata (a PEFT file), the tensor shapes are what gets checked.
  SafetensorsReader r(dir.file("adapter_model.safetensors"));
  std::vector<TensorToWrite> t;
  for (const auto& v : r.tensors()) t.push_back({v.name, v.dtype, v.shape, v.data, v.nbytes});
  make_dirs(dir.file("peft"));
  write_safetensors(dir.file("peft/adapter_model.safetensors"), t, {{"format", "pt"}});
  write_file_atomic(dir.file("peft/adapter_config.json"),
                    read_file(dir.file("adapter_config.json")));
  EXPECT_NE(error_of([&] {
              LoraAdapters::load(dir.file("peft"), other);
            }).find("does not match its base"),
            std::string::npos);
  ModelConfig deeper = tiny_llama();
  deeper.n_layer = 3;
  EXPECT_NE(error_of([&] {
              LoraAdapters::load(dir.file("peft"), deeper);
            }).find("layers.2.self_attn.q_proj.lora_A.weight is missing"),
            std::string::npos);
  ModelConfig shallower = tiny_llama();
  shallower.n_layer = 1;
  EXPECT_NE(error_of([&] {
              LoraAdapters::load(dir.file("peft"), shallower);
            }).find("belongs to no LoRA target"),
            std::string::npos);
  write_file_atomic(dir.file("peft/adapter_config.json"), "{\"peft_type\": \"LORA\"}");
  EXPECT_NE(error_of([&] {
              LoraAdapters::load(dir.file("peft"), tiny_llama());
            }).find("adapter_config.json: bad or missing field"),
            std::string::npos);
}

TEST(AdaptLoraAdapter, MergeIntoParamsAddsScaledProduct) {
  ModelConfig c = tiny_llama();
  LoraConfig lc;
  lc.r = 3;
  lc.alpha = 6;
  lc.targets = {"o"};
  LoraAdapters a = random_adapters(c, lc);
  auto specs = param_specs(c);
  std::vector<float> params(num_params(c), 0.5f), orig = params;
  a.merge_into(specs, params.data());
  const LoraTarget& t = a.targets()[1];  // layers.1.attn.o
  size_t off = 0;
  for (const auto& s : specs)
    if (s.name == "layers.1.attn.o.weight") off = s.offset;
  const int o = 5, i = 7;
  float want = 0.5f;
  for (int k = 0; k < 3; ++k) want += 2.0f * a.B(t)[o * 3 + k] * a.A(t)[k * t.dims.in + i];
  EXPECT_NEAR(params[off + o * t.dims.in + i], want, 1e-5f);
  a.merge_into(specs, params.data(), -1.0f);
  for (size_t k = 0; k < params.size(); ++k) ASSERT_NEAR(params[k], orig[k], 1e-5f);
}
