#include <cmath>
#include <cstring>
#include <random>

#include "infer_test_util.h"
#include "sllm/common/error.h"
#include "sllm/format/export.h"
#include "sllm/format/hf_names.h"
#include "sllm/format/model_tokenizer.h"
#include "sllm/format/quantize.h"
#include "sllm/infer/model.h"
#include "sllm/quant/quant.h"
#include "test_arch.h"
#include "test_util.h"

namespace sllm {
namespace {

// Every parameter of `b` has the type, shape and bytes it has in `a`.
void expect_same_tensors(const ModelFiles& a, const ModelFiles& b) {
  ASSERT_EQ(a.tensors.size(), b.tensors.size());
  for (const auto& [name, t] : a.tensors) {
    SCOPED_TRACE(name);
    auto it = b.tensors.find(name);
    ASSERT_NE(it, b.tensors.end());
    EXPECT_EQ(it->second.type, t.type);
    EXPECT_EQ(it->second.shape, t.shape);
    ASSERT_EQ(it->second.nbytes, t.nbytes);
    EXPECT_EQ(std::memcmp(it->second.data, t.data, t.nbytes), 0);
  }
}

// Every tensor of safetensors file `b` has the dtype, shape and bytes it has in `a`.
void expect_same_safetensors(const std::string& a, const std::string& b) {
  SafetensorsReader ra(a), rb(b);
  ASSERT_EQ(ra.tensors().size(), rb.tensors().size());
  for (const auto& t : ra.tensors()) {
    SCOPED_TRACE(t.name);
    const TensorView* u = rb.find(t.name);
    ASSERT_NE(u, nullptr);
    EXPECT_EQ(u->dtype, t.dtype);
    EXPECT_EQ(u->shape, t.shape);
    ASSERT_EQ(u->nbytes, t.nbytes);
    EXPECT_EQ(std::memcmp(u->data, t.data, t.nbytes), 0);
  }
}

class Export : public ::testing::TestWithParam<Arch> {};

TEST_P(Export, SllmToGgufToSllmIsBitExact) {
  test::TempDir dir;
  test::write_tiny_model(dir.file("m"), test::tiny_config(GetParam()));
  const ModelFiles src = load_model_files(dir.file("m"));
  auto rep = export_gguf(src, dir.file("m.gguf"));
  EXPECT_TRUE(rep.tokenizer) << rep.note;
  const ModelFiles back = load_model_files(dir.file("m.gguf"));
  EXPECT_EQ(back.config.to_json(), src.config.to_json());
  expect_same_tensors(src, back);
  // The vocabulary went along: the GGUF's tokenizer encodes like the original.
  const std::string text = "Hello, world!\nsecond line";
  EXPECT_EQ(model_tokenizer(back)->encode(text), model_tokenizer(src)->encode(text));
  // A character tokenizer goes as a SentencePiece vocabulary without merges.
  CharTokenizer::from_corpus(text)->save(dir.file("m/tokenizer.sllmtok"));
  const ModelFiles src2 = load_model_files(dir.file("m"));
  EXPECT_TRUE(export_gguf(src2, dir.file("c.gguf")).tokenizer);
  const ModelFiles back2 = load_model_files(dir.file("c.gguf"));
  EXPECT_EQ(model_tokenizer(back2)->encode(text), model_tokenizer(src2)->encode(text));
  EXPECT_EQ(model_tokenizer(back2)->decode(model_tokenizer(src2)->encode(text)), text);
}

TEST_P(Export, QuantizedBlocksAreCopiedAsTheyAre) {
  test::TempDir dir;
  test::write_tiny_model(dir.file("m"), test::tiny_config(GetParam()));
  for (const char* type : {"q8_0", "q4_0"}) {
    SCOPED_TRACE(type);
    quantize_model(dir.file("m"), dir.file(type), parse_weight_type(type));
    const ModelFiles q = load_model_files(dir.file(type));
    export_gguf(q, dir.file("a.gguf"));
    const ModelFiles a = load_model_files(dir.file("a.gguf"));
    expect_same_tensors(q, a);
    // GGUF -> sllm -> GGUF: the same tensors and metadata again.
    export_gguf(a, dir.file("b.gguf"));
    GGUFReader ra(dir.file("a.gguf")), rb(dir.file("b.gguf"));
    ASSERT_EQ(ra.tensors().size(), rb.tensors().size());
    for (size_t i = 0; i < ra.tensors().size(); ++i) {
      const auto &x = ra.tensors()[i], &y = rb.tensors()[i];
      EXPECT_EQ(x.name, y.name);
      EXPECT_EQ(x.type, y.type);
      EXPECT_EQ(x.dims, y.dims);
      ASSERT_EQ(x.nbytes, y.nbytes);
      EXPECT_EQ(std::memcmp(x.data, y.data, x.nbytes), 0) << x.name;
    }
    ASSERT_EQ(ra.metadata().size(), rb.metadata().size());
    for (size_t i = 0; i < ra.metadata().size(); ++i) {
      EXPECT_EQ(ra.metadata()[i].first, rb.metadata()[i].first);
      if (ra.metadata()[i].first != "general.name") {
        EXPECT_EQ(ra.metadata()[i].second.to_string(1 << 20),
                  rb.metadata()[i].second.to_string(1 << 20));
      }
    }
  }
}

TEST_P(Export, HuggingFaceToSllmToHuggingFaceIsBitExact) {
  test::TempDir dir;
  test::write_tiny_model(dir.file("m"), test::tiny_config(GetParam()));
  export_hf(load_model_files(dir.file("m")), dir.file("hf32"));
  // An HF checkpoint in bfloat16 (random bits), as most are published.
  {
    SafetensorsReader r(dir.file("hf32/model.safetensors"));
    std::mt19937 rng(7);
    std::deque<std::vector<uint16_t>> data;
    std::vector<TensorToWrite> ts;
    for (const auto& t : r.tensors()) {
      data.emplace_back(static_cast<size_t>(t.numel()));
      for (auto& x : data.back()) x = static_cast<uint16_t>(0x3c00 + rng() % 0x0400);
      ts.push_back({t.name, DType::BF16, t.shape, data.back().data(), data.back().size() * 2});
    }
    make_dirs(dir.file("hf"));
    write_safetensors(dir.file("hf/model.safetensors"), ts);
    write_file_atomic(dir.file("hf/config.json"), read_file(dir.file("hf32/config.json")));
  }
  const ModelFiles hf = load_model_files(dir.file("hf"));
  EXPECT_EQ(hf.format, "safetensors");
  auto rep = export_hf(hf, dir.file("hf2"));
  EXPECT_FALSE(rep.tokenizer);  // The source had none.
  expect_same_safetensors(dir.file("hf/model.safetensors"), dir.file("hf2/model.safetensors"));
  // And sllm -> HF -> sllm with the byte tokenizer going along as vocab.json + merges.txt.
  const ModelFiles src = load_model_files(dir.file("m"));
  const ModelFiles back = load_model_files(dir.file("hf32"));
  expect_same_tensors(src, back);
  EXPECT_EQ(model_tokenizer(back)->encode("Hi there"), model_tokenizer(src)->encode("Hi there"));
}

INSTANTIATE_TEST_SUITE_P(Arch, Export, ::testing::Values(Arch::Llama, Arch::GPT2),
                         [](const auto& info) { return std::string(arch_name(info.param)); });

TEST(Export, GgufUsesLlamaCppNamesAndKeys) {
  test::TempDir dir;
  ModelConfig c = test::tiny_config(Arch::Llama);
  c.tie_word_embeddings = false;
  test::write_tiny_model(dir.file("m"), c);
  export_gguf(load_model_files(dir.file("m")), dir.file("m.gguf"), GGMLType::Q8_0);
  GGUFReader r(dir.file("m.gguf"));
  EXPECT_EQ(r.get_string("general.architecture"), "llama");
  EXPECT_EQ(r.get_int("general.file_type", -1), 7);  // LLAMA_FTYPE_MOSTLY_Q8_0
  EXPECT_EQ(r.get_int("llama.embedding_length", 0), c.n_embd);
  EXPECT_EQ(r.get_int("llama.attention.head_count_kv", 0), c.n_kv_head);
  EXPECT_EQ(r.get_int("llama.rope.dimension_count", 0), c.head_dim());
  EXPECT_EQ(r.get_int("llama.feed_forward_length", 0), c.ffn_dim());
  EXPECT_EQ(r.get_string("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ(r.tensor("blk.1.attn_q.weight").type, GGMLType::Q8_0);
  EXPECT_EQ(r.tensor("blk.1.attn_k.weight").dims,
            (std::vector<int64_t>{c.n_embd, c.n_kv_head * c.head_dim()}));
  EXPECT_EQ(r.tensor("blk.1.ffn_gate.weight").type, GGMLType::Q8_0);
  EXPECT_EQ(r.tensor("blk.1.ffn_norm.weight").type, GGMLType::F32);
  EXPECT_EQ(r.tensor("output.weight").dims, (std::vector<int64_t>{c.n_embd, c.vocab_size}));
  EXPECT_EQ(r.tensors().size(), 3u + 9u * c.n_layer);
  // The same logits as quantizing at load.
  LoadOptions lo;
  lo.weight_type = GGMLType::Q8_0;
  auto a = InferenceModel::load(dir.file("m.gguf"));
  auto b = InferenceModel::load(dir.file("m"), lo);
  KVCache ka = a->new_cache(8), kb = b->new_cache(8);
  const std::vector<int32_t> toks = {5, 100, 7};
  EXPECT_EQ(a->forward(ka, toks), b->forward(kb, toks));
}

// HF Llama rotates halves (i, i + d/2) where sllm rotates pairs (2i, 2i + 1); the exported
// q/k rows must give the same attention scores under HF's rotation.
TEST(Export, HuggingFaceQKRowsMatchRotateHalfRope) {
  const int heads = 2, hd = 8, cols = 4, pos = 5;
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  std::vector<float> wq(heads * hd * cols), wk(heads * hd * cols), x(cols);
  for (auto* v : {&wq, &wk, &x})
    for (auto& f : *v) f = nd(rng);
  auto to_hf = [&](const std::vector<float>& w) {
    auto b = hf_permute_rows(reinterpret_cast<const uint8_t*>(w.data()), heads * hd,
                             cols * sizeof(float), heads, true);
    std::vector<float> out(w.size());
    std::memcpy(out.data(), b.data(), b.size());
    return out;
  };
  auto project = [&](const std::vector<float>& w) {
    std::vector<float> y(heads * hd, 0.0f);
    for (int r = 0; r < heads * hd; ++r)
      for (int c = 0; c < cols; ++c) y[r] += w[r * cols + c] * x[c];
    return y;
  };
  auto angle = [&](int i) { return pos * std::pow(10000.0f, -2.0f * i / hd); };
  auto rope_pairs = [&](std::vector<float> v) {
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < hd / 2; ++i) {
        float* p = &v[h * hd + 2 * i];
        const float c = std::cos(angle(i)), s = std::sin(angle(i)), a = p[0], b = p[1];
        p[0] = a * c - b * s;
        p[1] = a * s + b * c;
      }
    return v;
  };
  auto rope_halves = [&](std::vector<float> v) {
    for (int h = 0; h < heads; ++h)
      for (int i = 0; i < hd / 2; ++i) {
        float *a = &v[h * hd + i], *b = &v[h * hd + i + hd / 2];
        const float c = std::cos(angle(i)), s = std::sin(angle(i)), x0 = *a, x1 = *b;
        *a = x0 * c - x1 * s;
        *b = x1 * c + x0 * s;
      }
    return v;
  };
  const auto q = rope_pairs(project(wq)), k = rope_pairs(project(wk));
  const auto qh = rope_halves(project(to_hf(wq))), kh = rope_halves(project(to_hf(wk)));
  for (int h = 0; h < heads; ++h) {
    float s = 0, sh = 0;
    for (int i = 0; i < hd; ++i) {
      s += q[h * hd + i] * k[h * hd + i];
      sh += qh[h * hd + i] * kh[h * hd + i];
    }
    EXPECT_NEAR(s, sh, 1e-4f * (1 + std::fabs(s)));
  }
}

TEST(Export, CliWritesAGgufThatGeneratesTheSameText) {
  test::TempDir dir;
  test::write_tiny_model(dir.file("m"), test::tiny_config(Arch::Llama));
  const std::string bin = test::sllm_binary();
  ASSERT_EQ(std::system((bin + " export -m " + dir.file("m") + " -o " + dir.file("m.gguf") +
                         " -t q8_0 2>/dev/null")
                            .c_str()),
            0);
  ASSERT_EQ(std::system((bin + " export -m " + dir.file("m") + " -o " + dir.file("hf") +
                         " --format hf 2>/dev/null")
                            .c_str()),
            0);
  EXPECT_TRUE(file_exists(dir.file("hf/config.json")));
  EXPECT_TRUE(file_exists(dir.file("hf/vocab.json")));
  EXPECT_NE(std::system((bin + " export -m " + dir.file("m") + " -o " + dir.file("x.gguf") +
                         " -t q9 2>/dev/null")
                            .c_str()),
            0);
  auto gen = [&](const std::string& model, const std::string& extra) {
    const std::string out = dir.file("out.txt");
    std::system(
        (bin + " generate -m " + model + " -p ab -n 8 -t 0 " + extra + " > " + out + " 2>/dev/null")
            .c_str());
    return read_file(out);
  };
  EXPECT_EQ(gen(dir.file("m.gguf"), ""), gen(dir.file("m"), "-q q8_0"));
  EXPECT_EQ(gen(dir.file("hf"), ""), gen(dir.file("m"), ""));
}

}  // namespace
}  // namespace sllm
