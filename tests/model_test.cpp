// Model behaviour that needs no reference: determinism, gradient accumulation, bad input.
#include "sllm/model/model.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <span>
#include <utility>
#include <vector>

#include "sllm/common/error.h"
#include "sllm/common/runtime.h"
#include "sllm/model/optimizer.h"
#include "test_arch.h"

using namespace sllm;

namespace {

ModelConfig small_config(Arch arch) {
  ModelConfig c;
  set_arch(c, arch);
  c.vocab_size = 53;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = arch == Arch::Llama ? 2 : 4;
  c.n_embd = 32;
  c.block_size = 16;
  c.tie_word_embeddings = arch == Arch::GPT2;
  return c;
}

std::vector<int32_t> random_tokens(size_t n, int vocab, uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<int32_t> t(n);
  for (auto& x : t) x = static_cast<int32_t>(gen() % vocab);
  return t;
}

class ModelBehaviour : public ::testing::TestWithParam<Arch> {};

TEST_P(ModelBehaviour, TwoRunsAreBitIdentical) {
  const ModelConfig c = small_config(GetParam());
  const int B = 3, T = 16;
  auto tokens = random_tokens(B * T, c.vocab_size, 1),
       targets = random_tokens(B * T, c.vocab_size, 2);
  auto run = [&](std::vector<float>& params_out) {
    Model m(c);
    m.init_weights(42);
    AdamWState st;
    AdamWParams h;
    h.weight_decay = 0.1f;
    std::vector<float> losses;
    for (int step = 0; step < 3; ++step) {
      m.zero_grad();
      losses.push_back(m.forward(tokens.data(), targets.data(), B, T));
      m.backward();
      clip_grad_norm(m, 1.0f);
      adamw_step(m, st, h);
    }
    params_out.assign(m.params().begin(), m.params().end());
    return losses;
  };
  std::vector<float> p1, p2;
  auto l1 = run(p1), l2 = run(p2);
  ASSERT_EQ(l1.size(), l2.size());
  for (size_t i = 0; i < l1.size(); ++i)
    EXPECT_EQ(std::memcmp(&l1[i], &l2[i], sizeof(float)), 0) << "step " << i;
  ASSERT_EQ(p1.size(), p2.size());
  EXPECT_EQ(std::memcmp(p1.data(), p2.data(), p1.size() * sizeof(float)), 0);
  EXPECT_LT(l1.back(), l1.front());
}

TEST_P(ModelBehaviour, TwoHalfBatchesEqualOneFullBatch) {
  const ModelConfig c = small_config(GetParam());
  const int B = 4, T = 12;
  auto tokens = random_tokens(B * T, c.vocab_size, 3),
       targets = random_tokens(B * T, c.vocab_size, 4);
  Model full(c), acc(c);
  full.init_weights(7);
  acc.init_weights(7);
  full.zero_grad();
  const float loss_full = full.forward(tokens.data(), targets.data(), B, T);
  full.backward();

  acc.zero_grad();
  float loss_acc = 0.0f;
  for (int k = 0; k < 2; ++k) {
    const size_t off = static_cast<size_t>(k) * (B / 2) * T;
    loss_acc += 0.5f * acc.forward(tokens.data() + off, targets.data() + off, B / 2, T);
    acc.backward(0.5f);
  }
  EXPECT_NEAR(loss_acc, loss_full, 1e-6f * loss_full);
  auto gf = full.grads(), ga = acc.grads();
  float scale = 0.0f;
  for (float g : gf) scale = std::max(scale, std::fabs(g));
  ASSERT_GT(scale, 0.0f);
  for (size_t i = 0; i < gf.size(); ++i)
    ASSERT_NEAR(ga[i], gf[i], 1e-5f * scale) << "gradient element " << i;
}

// Batch shards (Model::set_batch_shards) split the rows, not the arithmetic of a row: every
// count gives the one-shard logits and, up to the order of the per-shard sums, its gradients,
// also when a second backward accumulates and when the shards are uneven (5 rows over 2 or 3).
TEST_P(ModelBehaviour, BatchShardsMatchOneShard) {
  const ModelConfig c = small_config(GetParam());
  const int B = 5, T = 12;
  auto tokens = random_tokens(B * T, c.vocab_size, 5),
       targets = random_tokens(B * T, c.vocab_size, 6);
  for (ComputeDtype dtype : {ComputeDtype::Float32, ComputeDtype::BFloat16}) {
    struct Result {
      std::vector<float> logits, grads;
      float loss;
      size_t reported = 0;
    };
    auto run = [&](int shards) {
      Model m(c);
      m.init_weights(11);
      m.set_compute_dtype(dtype);
      m.set_batch_shards(shards);
      EXPECT_EQ(m.batch_shards(B), shards);
      Result r;
      m.set_grads_ready_callback([&](std::span<float> ready) { r.reported += ready.size(); });
      m.zero_grad();
      r.loss = m.forward(tokens.data(), targets.data(), B, T);
      r.logits.assign(m.logits(), m.logits() + static_cast<size_t>(B) * T * c.vocab_size);
      m.backward();
      m.forward(tokens.data(), targets.data() + 1, B, T - 1);  // shifted: other gradients
      m.backward(0.5f);
      r.grads.assign(m.grads().begin(), m.grads().end());
      EXPECT_EQ(r.reported, 2 * r.grads.size()) << "each backward reports every gradient once";
      return r;
    };
    const Result one = run(1);
    float scale = 0.0f;
    for (float g : one.grads) scale = std::max(scale, std::fabs(g));
    ASSERT_GT(scale, 0.0f);
    const float tol = dtype == ComputeDtype::Float32 ? 1e-5f : 1e-4f;
    for (int shards : {2, 3}) {
      const Result r = run(shards);
      EXPECT_NEAR(r.loss, one.loss, 1e-6f * one.loss) << shards << " shards";
      for (size_t i = 0; i < one.logits.size(); ++i)
        ASSERT_NEAR(r.logits[i], one.logits[i], 1e-5f) << shards << " shards, logit " << i;
      for (size_t i = 0; i < one.grads.size(); ++i)
        ASSERT_NEAR(r.grads[i], one.grads[i], tol * scale) << shards << " shards, gradient " << i;
      const Result again = run(shards);
      EXPECT_EQ(std::memcmp(again.grads.data(), r.grads.data(), r.grads.size() * sizeof(float)), 0)
          << shards << " shards: not deterministic";
    }
  }
}

TEST(ModelShards, AutomaticCountAndBadCounts) {
  Model m(small_config(Arch::GPT2));
  const int saved = num_threads();
  set_num_threads(2);
  EXPECT_EQ(m.batch_shards(5), 2);
  EXPECT_EQ(m.batch_shards(1), 1);
  set_num_threads(1);
  EXPECT_EQ(m.batch_shards(5), 1);
  set_num_threads(saved);
  m.set_batch_shards(4);
  EXPECT_EQ(m.batch_shards(3), 3);  // never more shards than sequences
  EXPECT_THROW(m.set_batch_shards(-1), Error);
  EXPECT_THROW(m.set_batch_shards(100000), Error);
}

TEST_P(ModelBehaviour, IgnoredTargetsDoNotCount) {
  const ModelConfig c = small_config(GetParam());
  const int B = 2, T = 8;
  auto tokens = random_tokens(B * T, c.vocab_size, 5),
       targets = random_tokens(B * T, c.vocab_size, 6);
  Model m(c);
  m.init_weights(1);
  std::vector<int32_t> none(B * T, -1);
  EXPECT_TRUE(std::isnan(m.forward(tokens.data(), none.data(), B, T)));
  m.zero_grad();
  m.backward();
  for (float g : m.grads()) ASSERT_EQ(g, 0.0f);
  // Loss over only the first half of the targets equals the mean of those rows' losses.
  std::vector<int32_t> half = targets;
  for (int i = B * T / 2; i < B * T; ++i) half[i] = -1;
  const float l_half = m.forward(tokens.data(), half.data(), B, T);
  EXPECT_TRUE(std::isfinite(l_half));
  EXPECT_GT(l_half, 0.0f);
}

TEST_P(ModelBehaviour, BadShapesAndTokensThrow) {
  const ModelConfig c = small_config(GetParam());
  Model m(c);
  m.init_weights(1);
  std::vector<int32_t> tokens(2 * 32, 1);
  EXPECT_THROW(m.forward(tokens.data(), nullptr, 1, c.block_size + 1), Error);
  EXPECT_THROW(m.forward(tokens.data(), nullptr, 0, 4), Error);
  EXPECT_THROW(m.forward(tokens.data(), nullptr, 1, 0), Error);
  EXPECT_THROW(m.forward(nullptr, nullptr, 1, 4), Error);
  tokens[3] = c.vocab_size;
  EXPECT_THROW(m.forward(tokens.data(), nullptr, 1, 4), Error);
  tokens[3] = -2;
  EXPECT_THROW(m.forward(tokens.data(), nullptr, 1, 4), Error);
  tokens[3] = 0;
  std::vector<int32_t> targets(4, c.vocab_size);
  EXPECT_THROW(m.forward(tokens.data(), targets.data(), 1, 4), Error);
  // Backward needs a forward with targets, once.
  m.forward(tokens.data(), nullptr, 1, 4);
  EXPECT_THROW(m.backward(), Error);
  targets.assign(4, 0);
  m.forward(tokens.data(), targets.data(), 1, 4);
  m.backward();
  EXPECT_THROW(m.backward(), Error);
  EXPECT_THROW(m.param("no.such.weight"), Error);
}

TEST_P(ModelBehaviour, InvalidConfigThrows) {
  ModelConfig c = small_config(GetParam());
  c.n_kv_head = 3;  // does not divide n_head = 4
  EXPECT_THROW(Model{c}, Error);
}

TEST_P(ModelBehaviour, ShorterSequenceAfterLongerOneMatchesFreshModel) {
  const ModelConfig c = small_config(GetParam());
  auto tokens = random_tokens(2 * 16, c.vocab_size, 9),
       targets = random_tokens(2 * 16, c.vocab_size, 10);
  Model a(c), b(c);
  a.init_weights(3);
  b.init_weights(3);
  a.forward(tokens.data(), targets.data(), 2, 16);
  const float la = a.forward(tokens.data(), targets.data(), 1, 5);
  const float lb = b.forward(tokens.data(), targets.data(), 1, 5);
  EXPECT_EQ(la, lb);
}

TEST_P(ModelBehaviour, ZeroGradThenBackwardMatchesAFreshModel) {
  const ModelConfig c = small_config(GetParam());
  const int B = 2, T = 10;
  auto tokens = random_tokens(B * T, c.vocab_size, 11),
       targets = random_tokens(B * T, c.vocab_size, 12);
  auto other = random_tokens(B * T, c.vocab_size, 13);
  Model used(c), fresh(c);
  used.init_weights(4);
  fresh.init_weights(4);
  used.zero_grad();
  used.forward(other.data(), other.data(), B, T);
  used.backward();
  used.zero_grad();
  for (float g : used.grads()) ASSERT_EQ(g, 0.0f);  // zero_grad() reads as zeros
  used.forward(tokens.data(), targets.data(), B, T);
  used.backward();
  used.zero_grad();  // a second zero_grad() before backward must not leave stale values
  used.forward(tokens.data(), targets.data(), B, T);
  used.backward();
  fresh.forward(tokens.data(), targets.data(), B, T);
  fresh.backward();
  auto a = used.grads(), b = fresh.grads();
  ASSERT_EQ(a.size(), b.size());
  EXPECT_EQ(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)), 0);
}

INSTANTIATE_TEST_SUITE_P(Arch, ModelBehaviour, ::testing::Values(Arch::GPT2, Arch::Llama),
                         [](const auto& info) { return std::string(arch_name(info.param)); });

// Mean and standard deviation of n floats.
std::pair<double, double> moments(const float* w, size_t n) {
  double s = 0.0, s2 = 0.0;
  for (size_t i = 0; i < n; ++i) s += w[i], s2 += double(w[i]) * w[i];
  const double mean = s / n;
  return {mean, std::sqrt(s2 / n - mean * mean)};
}

// Every matrix and embedding draws from N(0, initializer_range), the residual output projections
// from N(0, initializer_range / sqrt(2 n_layer)); norm gains start at 1 and biases at 0.
TEST(ModelInit, FollowsInitializerRange) {
  for (float range : {0.02f, 0.05f}) {
    ModelConfig c;  // gpt2 with biases
    c.n_layer = 2;
    c.n_embd = 64;
    c.vocab_size = 300;
    c.initializer_range = range;
    Model m(c);
    m.init_weights(3);
    const double resid = range / std::sqrt(2.0 * c.n_layer);
    for (const ParamSpec& s : m.specs()) {
      const float* w = m.param(s.name);
      if (s.shape.size() == 1) {
        const float want = s.name.ends_with("norm.weight") ? 1.0f : 0.0f;
        for (size_t i = 0; i < s.numel; ++i) ASSERT_EQ(w[i], want) << s.name;
        continue;
      }
      const bool is_resid =
          s.name.ends_with("attn.o.weight") || s.name.ends_with("mlp.down.weight");
      // At least 4096 samples: the sample std's own spread is 1.1%, so 6% is over 5 sigma.
      const double want = is_resid ? resid : range;
      const auto [mean, sd] = moments(w, s.numel);
      EXPECT_NEAR(mean, 0.0, 0.1 * want) << s.name;
      EXPECT_NEAR(sd, want, 0.06 * want) << s.name << " at initializer_range " << range;
    }
  }
}

}  // namespace

TEST(AdamW, GradScaleEqualsScaledGradients) {
  std::vector<float> g = {0.5f, -1.0f, 2.0f, 0.0f}, g2(g);
  for (auto& x : g2) x *= 0.25f;
  std::vector<float> p1 = {1.0f, 2.0f, -3.0f, 0.5f}, p2(p1), m1(4, 0.0f), v1(4, 0.0f), m2(m1),
                     v2(v1);
  AdamWParams h;
  h.weight_decay = 0.1f;
  for (int t = 1; t <= 3; ++t) {
    AdamWParams hs = h;
    hs.grad_scale = 0.25f;
    adamw_update(p1.data(), g.data(), m1.data(), v1.data(), 4, hs, t, true);
    adamw_update(p2.data(), g2.data(), m2.data(), v2.data(), 4, h, t, true);
  }
  for (int i = 0; i < 4; ++i) EXPECT_EQ(p1[i], p2[i]) << i;
  // Weight decay only where asked: a zero gradient leaves an undecayed parameter alone.
  std::vector<float> p = {3.0f}, z = {0.0f}, m = {0.0f}, v = {0.0f};
  adamw_update(p.data(), z.data(), m.data(), v.data(), 1, h, 1, false);
  EXPECT_EQ(p[0], 3.0f);
  adamw_update(p.data(), z.data(), m.data(), v.data(), 1, h, 2, true);
  EXPECT_FLOAT_EQ(p[0], 3.0f * (1.0f - h.lr * h.weight_decay));
}

TEST(ModelInit, SameValuesForAnyThreadCount) {
  ModelConfig c = small_config(Arch::Llama);
  c.vocab_size = 3000;  // several init chunks
  const int saved = num_threads();
  Model a(c), b(c);
  set_num_threads(1);
  a.init_weights(9);
  set_num_threads(2);
  b.init_weights(9);
  set_num_threads(saved);
  EXPECT_EQ(std::memcmp(a.params().data(), b.params().data(), a.params().size() * sizeof(float)),
            0);
}
