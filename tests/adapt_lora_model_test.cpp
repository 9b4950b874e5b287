#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "sllm/adapt/lora_model.h"
#include "sllm/common/error.h"
#include "sllm/model/model.h"
#include "test_arch.h"

using namespace sllm;

namespace {

ModelConfig tiny(Arch arch) {
  ModelConfig c;
  set_arch(c, arch);
  c.vocab_size = 19;
  c.n_layer = 2;
  c.n_head = 2;
  c.n_kv_head = arch == Arch::Llama ? 1 : 2;
  c.n_embd = 16;
  c.intermediate_size = 32;
  c.block_size = 8;
  return c;
}

struct Data {
  int B = 2, T = 6;
  std::vector<int32_t> x, y;
  explicit Data(int V) {
    std::mt19937 rng(5);
    for (int i = 0; i < B * T; ++i) {
      x.push_back(rng() % V);
      y.push_back(i % 5 == 2 ? -1 : static_cast<int32_t>(rng() % V));
    }
  }
};

void randomize(LoraAdapters& a, float sd) {
  std::mt19937 rng(11);
  std::normal_distribution<float> n(0.0f, sd);
  for (float& p : a.params()) p = n(rng);
}

}  // namespace

TEST(AdaptLoraModel, StartsAtTheBaseModel) {
  Model m(tiny(Arch::Llama));
  m.init_weights(1);
  Data d(19);
  const float base = m.forward(d.x.data(), d.y.data(), d.B, d.T);
  LoraAdapters a(m.config(), LoraConfig{});
  a.init(3);
  LoraModel lm(m, a);
  EXPECT_EQ(lm.forward(d.x.data(), d.y.data(), d.B, d.T), base);
}

// The adapters' gradients from the merged-weight projection agree with central differences of
// the whole model's loss, for both architectures.
TEST(AdaptLoraModel, AdapterGradientsMatchFiniteDifferences) {
  for (Arch arch : {Arch::GPT2, Arch::Llama}) {
    Model m(tiny(arch));
    m.init_weights(2);
    Data d(19);
    LoraConfig lc;
    lc.r = 2;
    lc.alpha = 4;
    lc.targets = arch == Arch::Llama
                     ? std::vector<std::string>{"q", "k", "v", "o", "gate", "up", "down"}
                     : std::vector<std::string>{"q", "v", "o", "up", "down"};
    LoraAdapters a(m.config(), lc);
    randomize(a, 0.2f);
    LoraModel lm(m, a);
    a.zero_grad();
    lm.forward(d.x.data(), d.y.data(), d.B, d.T);
    lm.backward();
    std::vector<float> g(a.grads().begin(), a.grads().end());
    std::mt19937 rng(9);
    int checked = 0;
    for (int trial = 0; trial < 24; ++trial) {
      const size_t i = rng() % a.params().size();
      const float keep = a.params()[i], eps = 1e-2f;
      a.params()[i] = keep + eps;
      lm.adapters_changed();
      const double up = lm.forward(d.x.data(), d.y.data(), d.B, d.T);
      a.params()[i] = keep - eps;
      lm.adapters_changed();
      const double down = lm.forward(d.x.data(), d.y.data(), d.B, d.T);
      a.params()[i] = keep;
      lm.adapters_changed();
      const double fd = (up - down) / (2 * eps);
      EXPECT_NEAR(g[i], fd, 2e-3 + 2e-2 * std::abs(fd))
          << arch_name(arch) << " adapter value " << i;
      checked += std::abs(fd) > 1e-4;
    }
    EXPECT_GT(checked, 5) << "too few informative coordinates";
  }
}

TEST(AdaptLoraModel, BackwardFromLogitsGradEqualsBackward) {
  Model m(tiny(Arch::GPT2));
  m.init_weights(4);
  Data d(19);
  const int N = d.B * d.T, V = 19;
  m.zero_grad();
  m.forward(d.x.data(), d.y.data(), d.B, d.T);
  std::vector<float> logits(m.logits(), m.logits() + N * V);
  m.backward(0.5f);
  std::vector<float> want(m.grads().begin(), m.grads().end());

  int n_valid = 0;
  for (int32_t t : d.y) n_valid += t >= 0;
  std::vector<float> dl(N * V, 0.0f);
  for (int i = 0; i < N; ++i) {
    if (d.y[i] < 0) continue;
    double mx = -1e30, s = 0;
    for (int v = 0; v < V; ++v) mx = std::max<double>(mx, logits[i * V + v]);
    for (int v = 0; v < V; ++v) s += std::exp(logits[i * V + v] - mx);
    for (int v = 0; v < V; ++v)
      dl[i * V + v] = 0.5f * static_cast<float>(
                                 (std::exp(logits[i * V + v] - mx) / s - (v == d.y[i])) / n_valid);
  }
  m.zero_grad();
  m.forward(d.x.data(), d.y.data(), d.B, d.T);
  m.backward_from_logits_grad(dl.data());
  for (size_t i = 0; i < want.size(); ++i)
    ASSERT_NEAR(m.grads()[i], want[i], 1e-6f + 1e-4f * std::abs(want[i])) << i;
  EXPECT_THROW(m.backward_from_logits_grad(dl.data()), Error);  // One backward per forward.
}

TEST(AdaptLoraModel, RestoreBaseAndConfigMismatch) {
  Model m(tiny(Arch::Llama));
  m.init_weights(1);
  std::vector<float> orig(m.params().begin(), m.params().end());
  LoraAdapters a(m.config(), LoraConfig{});
  randomize(a, 0.5f);
  LoraModel lm(m, a);
  Data d(19);
  lm.forward(d.x.data(), d.y.data(), d.B, d.T);
  EXPECT_NE(std::vector<float>(m.params().begin(), m.params().end()), orig);  // Merged.
  lm.restore_base();
  EXPECT_EQ(std::vector<float>(m.params().begin(), m.params().end()), orig);
  Model other(tiny(Arch::GPT2));
  EXPECT_THROW(LoraModel(other, a), Error);
}

// QLoRA-style: the frozen base is stored quantized and the model trains against exactly the
// dequantized weights; the adapters' gradients stay exact for that base.
TEST(AdaptLoraModel, QuantizedFrozenBase) {
  ModelConfig c = tiny(Arch::Llama);
  c.n_embd = 32;
  c.intermediate_size = 64;
  Data d(19);
  for (FrozenType ft : {FrozenType::Q8_0, FrozenType::Q4_0}) {
    Model m(c);
    m.init_weights(1);
    const std::vector<float> orig(m.params().begin(), m.params().end());
    LoraAdapters a(m.config(), LoraConfig{});
    a.init(3);
    LoraModel lm(m, a, ft);
    size_t total = 0;
    for (const auto& t : a.targets()) total += static_cast<size_t>(t.dims.out) * t.dims.in;
    EXPECT_LT(lm.frozen_bytes(), total * sizeof(float) * 3 / 10)
        << frozen_type_name(ft);  // 8.5 or 4.5 bits
    const LoraTarget& t = a.targets()[0];
    const size_t n = static_cast<size_t>(t.dims.out) * t.dims.in;
    // The model now holds the dequantized base: close to the original, not equal.
    const float* W = m.param(t.param);
    const size_t off = W - m.params().data();
    double err = 0, ref = 0;
    for (size_t i = 0; i < n; ++i) {
      err += std::abs(W[i] - orig[off + i]);
      ref += std::abs(orig[off + i]);
    }
    EXPECT_GT(err, 0.0);
    EXPECT_LT(err / ref, ft == FrozenType::Q8_0 ? 0.01 : 0.15) << frozen_type_name(ft);
    // B = 0: forward equals the dequantized base, and restore_base keeps it.
    const std::vector<float> deq(m.params().begin(), m.params().end());
    lm.forward(d.x.data(), d.y.data(), d.B, d.T);
    lm.restore_base();
    EXPECT_EQ(std::vector<float>(m.params().begin(), m.params().end()), deq);
  }
  ModelConfig odd = tiny(Arch::Llama);  // Rows of 16: not a multiple of the 32-wide blocks.
  Model m(odd);
  LoraAdapters a(odd, LoraConfig{});
  EXPECT_THROW(LoraModel(m, a, FrozenType::Q8_0), Error);
}
