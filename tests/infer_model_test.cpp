#include <cmath>
#include <nlohmann/json.hpp>

#include "infer_test_util.h"
#include "sllm/common/error.h"
#include "sllm/common/runtime.h"
#include "sllm/infer/model.h"
#include "test_arch.h"
#include "test_util.h"

namespace sllm {
namespace {

// ||a - b|| / ||a||
float rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (a[i] - b[i]) * (a[i] - b[i]);
    den += a[i] * a[i];
  }
  return static_cast<float>(std::sqrt(num / den));
}

float max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  float m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, std::fabs(a[i] - b[i]));
  return m;
}

class InferModel : public ::testing::TestWithParam<Arch> {};

TEST_P(InferModel, BatchedStepEqualsSeparateSequences) {
  test::TempDir dir;
  test::write_tiny_model(dir.path(), test::tiny_config(GetParam()));
  for (const char* q : {"f32", "q8_0", "q4_0", "q4_1"}) {
    SCOPED_TRACE(q);
    LoadOptions lo;
    lo.weight_type = parse_weight_type(q);
    auto m = InferenceModel::load(dir.path(), lo);
    std::vector<int32_t> a = {10, 20, 30, 40, 50, 60, 70, 80, 90, 100}, b = {5, 6, 7};
    // Separately: a as a prefill, b prefill then one decode token.
    KVCache ca = m->new_cache(32), cb = m->new_cache(32);
    std::vector<float> la = m->forward(ca, a);
    m->forward(cb, b);
    int32_t next_b = 9;
    std::vector<float> lb = m->forward(cb, {&next_b, 1});
    // Together: b's decode token batched with a's prefill, one forward_batch.
    KVCache ca2 = m->new_cache(32), cb2 = m->new_cache(32);
    m->forward(cb2, b);
    std::vector<float> logits;
    InferenceModel::Seq seqs[2] = {{&ca2, a}, {&cb2, {&next_b, 1}}};
    m->forward_batch(seqs, logits);
    const int V = m->config().vocab_size;
    ASSERT_EQ(logits.size(), 2u * V);
    EXPECT_LT(max_abs_diff(la, {logits.begin(), logits.begin() + V}), 2e-4f);
    EXPECT_LT(max_abs_diff(lb, {logits.begin() + V, logits.end()}), 2e-4f);
    EXPECT_EQ(ca2.size(), 10);
    EXPECT_EQ(cb2.size(), 4);
  }
}

TEST_P(InferModel, QuantizedLogitsStayCloseToF32) {
  test::TempDir dir;
  test::write_tiny_model(dir.path(), test::tiny_config(GetParam()));
  auto f32 = InferenceModel::load(dir.path());
  std::vector<int32_t> toks = {72, 101, 108, 108, 111, 44, 32, 119};
  KVCache c0 = f32->new_cache(0);
  EXPECT_EQ(c0.capacity(), 64);
  std::vector<float> ref = f32->forward(c0, toks);
  for (auto [q, tol] : {std::pair{"q8_0", 0.05f}, {"q4_1", 0.4f}, {"q4_0", 0.7f}}) {
    LoadOptions lo;
    lo.weight_type = parse_weight_type(q);
    auto m = InferenceModel::load(dir.path(), lo);
    KVCache c = m->new_cache(16);
    EXPECT_LT(rel_err(ref, m->forward(c, toks)), tol) << q;
    EXPECT_LT(m->weight_bytes(), f32->weight_bytes() / 3) << q;
  }
}

// A 24-token prefill (AMX bf16 tiles where the CPU has them, else the int8 dot kernels) agrees
// with feeding the same tokens one at a time (int8 dot kernels), and both give the same bits
// at 1 and 2 threads.
TEST_P(InferModel, PrefillMatchesDecodeAndIsTheSameAtAnyThreadCount) {
  test::TempDir dir;
  test::write_tiny_model(dir.path(), test::tiny_config(GetParam()));
  std::vector<int32_t> toks(24);
  for (size_t i = 0; i < toks.size(); ++i) toks[i] = static_cast<int32_t>((i * 37 + 11) % 257);
  const int saved = num_threads();
  for (auto [q, tol] : {std::pair{"f32", 1e-4f}, {"q8_0", 0.06f}, {"q4_0", 0.1f}, {"q4_1", 0.1f}}) {
    SCOPED_TRACE(q);
    LoadOptions lo;
    lo.weight_type = parse_weight_type(q);
    auto m = InferenceModel::load(dir.path(), lo);
    std::vector<float> pre[2], dec[2];
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      KVCache c = m->new_cache(32), d = m->new_cache(32);
      pre[threads - 1] = m->forward(c, toks);
      for (int32_t t : toks) dec[threads - 1] = m->forward(d, {&t, 1});
    }
    EXPECT_EQ(pre[0], pre[1]);
    EXPECT_EQ(dec[0], dec[1]);
    EXPECT_LT(rel_err(dec[0], pre[0]), tol);
  }
  set_num_threads(saved);
}

// An F16 KV cache (llama.cpp's default) takes half the bytes and stays close to the f32 one:
// prefill (widened blocks through the GEMM path) and one-token decode (the F16 kernel) agree,
// the same bits at 1 and 2 threads, and a truncated cache continues like a fresh one.
TEST_P(InferModel, F16CacheHalvesTheBytesAndStaysCloseToF32) {
  test::TempDir dir;
  test::write_tiny_model(dir.path(), test::tiny_config(GetParam()));
  std::vector<int32_t> toks(24);
  for (size_t i = 0; i < toks.size(); ++i) toks[i] = static_cast<int32_t>((i * 53 + 7) % 257);
  const int saved = num_threads();
  for (const char* q : {"f32", "q8_0"}) {
    SCOPED_TRACE(q);
    LoadOptions lo;
    lo.weight_type = parse_weight_type(q);
    auto exact = InferenceModel::load(dir.path(), lo);
    lo.kv_type = KVType::F16;
    auto m = InferenceModel::load(dir.path(), lo);
    EXPECT_EQ(m->kv_type(), KVType::F16);
    // The f32 cache's logits, by prefill and by one-token decodes.
    KVCache e = exact->new_cache(32), ed = exact->new_cache(32);
    const std::vector<float> ref = exact->forward(e, toks);
    std::vector<float> ref_dec;
    for (int32_t t : toks) ref_dec = exact->forward(ed, {&t, 1});
    std::vector<float> pre[2], dec[2];
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      KVCache c = m->new_cache(32), d = m->new_cache(32);
      EXPECT_EQ(c.type(), KVType::F16);
      EXPECT_EQ(2 * c.bytes(), e.bytes());
      pre[threads - 1] = m->forward(c, toks);
      for (int32_t t : toks) dec[threads - 1] = m->forward(d, {&t, 1});
    }
    set_num_threads(saved);
    EXPECT_EQ(pre[0], pre[1]);
    EXPECT_EQ(dec[0], dec[1]);
    // Keys and values rounded to 11 significant bits: logits off by a few 1e-4 (f32 weights),
    // more where that moves an int8 activation code (q8_0).
    const float tol = std::string(q) == "f32" ? 2e-3f : 0.03f;
    EXPECT_NE(pre[0], ref);
    EXPECT_LT(rel_err(ref, pre[0]), tol);
    EXPECT_LT(rel_err(ref_dec, dec[0]), tol);
    // Prefix reuse: keep 10 positions, then feed the rest, as a fresh cache fed the same.
    KVCache c = m->new_cache(32), f = m->new_cache(32);
    m->forward(c, toks);
    c.truncate(10);
    const std::span<const int32_t> all(toks), rest = all.subspan(10);
    m->forward(f, all.first(10));
    // (A 24-token step and a 10-token one take different matmul paths: not the same bits; the
    // tolerances of PrefillMatchesDecode... above.)
    EXPECT_LT(rel_err(m->forward(f, rest), m->forward(c, rest)),
              std::string(q) == "f32" ? 1e-4f : 0.06f);
  }
}

INSTANTIATE_TEST_SUITE_P(Arch, InferModel, ::testing::Values(Arch::Llama, Arch::GPT2),
                         [](const auto& i) { return std::string(arch_name(i.param)); });

TEST(InferModelErrors, BadTokensAndOverflowAreClearAndLeaveTheCacheAlone) {
  test::TempDir dir;
  test::write_tiny_model(dir.path(), test::tiny_config(Arch::Llama));
  auto m = InferenceModel::load(dir.path());
  KVCache c = m->new_cache(4);
  std::vector<int32_t> bad = {1, 999};
  EXPECT_THROW(m->forward(c, bad), Error);
  std::vector<int32_t> five = {1, 2, 3, 4, 5};
  try {
    m->forward(c, five);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("context of 4"), std::string::npos) << e.what();
  }
  EXPECT_EQ(c.size(), 0);
  std::vector<int32_t> none;
  EXPECT_THROW(m->forward(c, none), Error);
}

TEST(InferModelErrors, ShapesThatDisagreeWithTheConfigAreRefused) {
  test::TempDir dir;
  auto c = test::tiny_config(Arch::Llama);
  test::write_tiny_model(dir.path(), c);
  c.intermediate_size = 128;
  write_file_atomic(dir.file("config.json"), c.to_json().dump());
  try {
    InferenceModel::load(dir.path());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("mlp.gate.weight"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[96, 64]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(InferenceModel::load(dir.file("nope")), Error);
}

}  // namespace
}  // namespace sllm
