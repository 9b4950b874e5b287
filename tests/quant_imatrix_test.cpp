// Importance matrices: llama.cpp's two file formats, the statistics `sllm imatrix` collects
// (checked against the layer-0 input computed here from the weights), and quantizing with them.
#include <cmath>
#include <cstring>
#include <random>

#include "infer_test_util.h"
#include "sllm/common/error.h"
#include "sllm/format/imatrix_file.h"
#include "sllm/format/quant_mix.h"
#include "sllm/format/quantize.h"
#include "sllm/infer/imatrix.h"
#include "sllm/io/gguf.h"
#include "sllm/quant/quant.h"
#include "test_arch.h"
#include "test_util.h"

namespace sllm {
namespace {

Imatrix sample_imatrix() {
  Imatrix m;
  m.chunk_count = 3;
  m.chunk_size = 16;
  m.datasets = {"calibration.txt"};
  m.entries["blk.0.attn_q.weight"] = {{1.5f, 0.0f, 96.0f, 3.0f}, 48};
  m.entries["blk.0.ffn_down.weight"] = {{2.0f, 4.0f}, 48};
  return m;
}

TEST(ImatrixFile, BothFormatsReadBackTheSameWeights) {
  test::TempDir dir;
  const Imatrix m = sample_imatrix();
  for (const char* name : {"imatrix.dat", "imatrix.gguf"}) {
    SCOPED_TRACE(name);
    write_imatrix(m, dir.file(name));
    const Imatrix r = read_imatrix(dir.file(name));
    ASSERT_EQ(r.entries.size(), m.entries.size());
    for (const auto& [entry, e] : m.entries) {
      const auto want = m.weights(entry), got = r.weights(entry);
      ASSERT_EQ(got.size(), want.size()) << entry;
      for (size_t i = 0; i < want.size(); ++i) EXPECT_FLOAT_EQ(got[i], want[i]) << entry;
    }
    EXPECT_EQ(r.chunk_count, 3);
    EXPECT_EQ(r.datasets, m.datasets);
    EXPECT_TRUE(r.weights("blk.1.attn_q.weight").empty());
  }
  // GGUF keeps the sums and counts themselves, with llama.cpp's names and shapes.
  GGUFReader g(dir.file("imatrix.gguf"));
  EXPECT_EQ(g.get_string("general.type"), "imatrix");
  EXPECT_EQ(g.get_int("imatrix.chunk_size", 0), 16);
  const GGUFTensorInfo& sums = g.tensor("blk.0.attn_q.weight.in_sum2");
  EXPECT_EQ(sums.dims, (std::vector<int64_t>{4, 1}));
  EXPECT_EQ(g.tensor("blk.0.attn_q.weight.counts").dims, (std::vector<int64_t>{1, 1}));
}

// Files written from llama.cpp's layouts by fuzz/make_model_seeds.py (Python, not sllm's writer).
TEST(ImatrixFile, ReadsLlamaCppsLayoutsWrittenIndependently) {
  for (const char* name : {"tiny.dat", "tiny.gguf"}) {
    SCOPED_TRACE(name);
    const Imatrix m = read_imatrix(std::string(SLLM_SOURCE_DIR) + "/fuzz/seeds/imatrix/" + name);
    const std::vector<float> q = m.weights("blk.0.attn_q.weight");
    ASSERT_EQ(q.size(), 4u);
    EXPECT_FLOAT_EQ(q[0], 0.5f / 8);
    EXPECT_FLOAT_EQ(q[2], 2.0f / 8);
    ASSERT_EQ(m.weights("blk.0.ffn_down.weight").size(), 2u);
    EXPECT_FLOAT_EQ(m.weights("blk.0.ffn_down.weight")[0], 3.0f / 8);
    EXPECT_EQ(m.chunk_count, 2);
    EXPECT_EQ(m.datasets, std::vector<std::string>{"text"});
  }
}

TEST(ImatrixFile, BadFilesAreRefusedNamingTheProblem) {
  test::TempDir dir;
  write_imatrix(sample_imatrix(), dir.file("ok.dat"));
  const std::string ok = read_file(dir.file("ok.dat"));
  auto parse = [&](const std::string& bytes) {
    return parse_imatrix(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "t.dat");
  };
  auto expect_error = [&](const std::string& bytes, const std::string& what) {
    try {
      parse(bytes);
      ADD_FAILURE() << "no error for: " << what;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(what), std::string::npos) << e.what();
    }
  };
  EXPECT_NO_THROW(parse(ok));
  expect_error(ok.substr(0, 30), "ends inside");
  expect_error(std::string("\xff\xff\xff\xff", 4) + ok.substr(4), "entry count");
  std::string negative = ok;  // The first value of the first entry (after n, len, name, ncall,
  const float minus = -1.0f;  // nval) made negative.
  std::memcpy(negative.data() + 4 + 4 + std::string("blk.0.attn_q.weight").size() + 8, &minus, 4);
  expect_error(negative, "finite and >= 0");
  expect_error(ok + "xy", "unexpected bytes");
  // A model file is not an imatrix.
  GGUFWriter w;
  w.set("general.type", GGUFValue::string("model"));
  w.write(dir.file("model.gguf"));
  EXPECT_THROW(read_imatrix(dir.file("model.gguf")), Error);
  write_file_atomic(dir.file("empty.dat"), "");
  EXPECT_THROW(read_imatrix(dir.file("empty.dat")), Error);
}

// Layer 0's q, k and v read the attention norm of the token embeddings: computed here in double
// from the weights, summed over the chunks (whose first token becomes BOS).
TEST(Imatrix, CollectsEveryLayerMatrixsInputSquares) {
  test::TempDir dir;
  const ModelConfig c = test::tiny_config(Arch::Llama);
  test::write_tiny_model(dir.file("m"), c);
  auto model = InferenceModel::load(dir.file("m"));
  std::vector<int32_t> tokens(100);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>((i * 37) % 256);
  ImatrixOptions opt;
  opt.chunk_size = 16;
  opt.bos = 256;
  opt.dataset = "text";
  const Imatrix m = compute_imatrix(*model, tokens, opt);
  EXPECT_EQ(m.chunk_count, 6);  // 100 tokens: 6 whole chunks of 16.
  ASSERT_EQ(m.entries.size(), 7u * c.n_layer);
  for (const auto& [name, e] : m.entries) EXPECT_EQ(e.count, 96) << name;
  EXPECT_EQ(m.entries.at("blk.1.ffn_down.weight").sums.size(), static_cast<size_t>(c.ffn_dim()));

  const ModelFiles& f = model->files();
  auto floats = [&](const char* n) { return reinterpret_cast<const float*>(f.tensors.at(n).data); };
  const float* emb = floats("tok_embeddings.weight");
  const float* g = floats("layers.0.attn_norm.weight");
  const int C = c.n_embd;
  std::vector<double> want(C, 0.0);
  for (int64_t ch = 0; ch < 6; ++ch)
    for (int t = 0; t < 16; ++t) {
      const int32_t id = t == 0 ? 256 : tokens[ch * 16 + t];
      const float* x = emb + static_cast<size_t>(id) * C;
      double ss = 0;
      for (int i = 0; i < C; ++i) ss += double(x[i]) * x[i];
      const double r = 1.0 / std::sqrt(ss / C + c.norm_eps);
      for (int i = 0; i < C; ++i) want[i] += std::pow(x[i] * r * g[i], 2);
    }
  for (const char* n : {"blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight"}) {
    const auto& sums = m.entries.at(n).sums;
    ASSERT_EQ(sums.size(), static_cast<size_t>(C));
    for (int i = 0; i < C; ++i) EXPECT_NEAR(sums[i], want[i], 1e-4 * want[i]) << n << " col " << i;
  }
  EXPECT_THROW(compute_imatrix(*model, std::vector<int32_t>(10, 1), opt), Error);  // < 1 chunk.
}

// With strongly uneven column importance, the weighted quantizers trade error in unimportant
// columns for error in important ones: the importance-weighted error drops for every type that
// takes an imatrix.
TEST(Imatrix, WeightedQuantizersLowerTheWeightedError) {
  const int64_t n = 1024;
  std::mt19937_64 rng(7);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::exponential_distribution<float> ed(0.3f);
  std::vector<float> x(n), qw(n), y(n);
  for (auto& v : x) v = nd(rng);
  for (auto& v : qw) v = std::pow(ed(rng), 3.0f) + 1e-4f;
  for (GGMLType t : {GGMLType::Q4_0, GGMLType::Q4_1, GGMLType::Q2_K, GGMLType::Q3_K, GGMLType::Q4_K,
                     GGMLType::Q5_K, GGMLType::Q6_K, GGMLType::IQ4_XS}) {
    SCOPED_TRACE(ggml_type_name(t));
    EXPECT_TRUE(uses_imatrix(t));
    std::vector<uint8_t> q(ggml_row_size(t, n));
    auto weighted_error = [&](const float* w) {
      quantize_row(t, x.data(), q.data(), n, w);
      dequantize_row(t, q.data(), y.data(), n);
      double e = 0;
      for (int64_t i = 0; i < n; ++i) e += qw[i] * double(y[i] - x[i]) * (y[i] - x[i]);
      return e;
    };
    EXPECT_LT(weighted_error(qw.data()), 0.9 * weighted_error(nullptr));
  }
  EXPECT_FALSE(uses_imatrix(GGMLType::Q8_0));
  EXPECT_FALSE(uses_imatrix(GGMLType::F32));
}

TEST(Imatrix, QuantizeUsesItAndRecordsItLikeLlamaCpp) {
  test::TempDir dir;
  ModelConfig c = test::tiny_config(Arch::Llama);
  c.n_embd = 256;
  c.intermediate_size = 512;
  test::write_tiny_model(dir.file("f32"), c);
  auto model = InferenceModel::load(dir.file("f32"));
  std::vector<int32_t> tokens(64);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<int32_t>((i * 11) % 256);
  ImatrixOptions opt;
  opt.chunk_size = 32;
  Imatrix m = compute_imatrix(*model, tokens, opt);
  m.source = "calib.imatrix";
  const QuantMix mix = parse_quant_mix("q4_k_m");
  const auto with = quantize_model(dir.file("f32"), dir.file("with"), mix, "", &m);
  const auto without = quantize_model(dir.file("f32"), dir.file("without"), mix);
  EXPECT_EQ(with.imatrix_used, 7 * c.n_layer);
  EXPECT_TRUE(with.imatrix_missing.empty());
  EXPECT_EQ(with.bytes_out, without.bytes_out);
  GGUFReader g(dir.file("with") + "/model.gguf");
  EXPECT_EQ(g.get_string("quantize.imatrix.file"), "calib.imatrix");
  EXPECT_EQ(g.get_int("quantize.imatrix.entries_count", 0), 7 * c.n_layer);
  EXPECT_NE(read_file(dir.file("with") + "/model.gguf"),
            read_file(dir.file("without") + "/model.gguf"));
  // An entry missing is quantized without and reported; a wrong width or another model's
  // matrix are refused by name.
  Imatrix partial = m;
  partial.entries.erase("blk.1.ffn_up.weight");
  const auto rep = quantize_model(dir.file("f32"), dir.file("p"), mix, "", &partial);
  EXPECT_EQ(rep.imatrix_missing, std::vector<std::string>{"blk.1.ffn_up.weight"});
  Imatrix narrow = m;
  narrow.entries.at("blk.0.attn_q.weight").sums.resize(128);
  EXPECT_NE(test::error_of([&] {
              quantize_model(dir.file("f32"), dir.file("n"), mix, "", &narrow);
            }).find("blk.0.attn_q.weight"),
            std::string::npos);
  Imatrix other;
  other.entries["blk.0.attn_qkv.weight"] = {std::vector<float>(256, 1.0f), 1};
  EXPECT_NE(test::error_of([&] {
              quantize_model(dir.file("f32"), dir.file("o"), mix, "", &other);
            }).find("another model"),
            std::string::npos);
}

}  // namespace
}  // namespace sllm
