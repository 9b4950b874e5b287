#include <gtest/gtest.h>

#include <vector>

#include "adapt_reference.h"
#include "sllm/model/lora.h"

using namespace sllm;
using sllm::test::floats;

namespace {

struct LoraCase {
  LoraDims d;
  int N;
  std::vector<float> x, W, A, B, G;
  const nlohmann::json& j;
  explicit LoraCase(const nlohmann::json& ref) : j(ref) {
    N = j["N"];
    d.out = j["OUT"];
    d.in = j["IN"];
    d.r = j["R"];
    d.scale = j["alpha"].get<float>() / d.r;
    x = floats(j["x"]);
    W = floats(j["W"]);
    A = floats(j["A"]);
    B = floats(j["B"]);
    G = floats(j["G"]);
  }
};

}  // namespace

TEST(AdaptLora, ForwardBackwardMatchesPyTorch) {
  LoraCase c(sllm::test::adapt_reference()["lora"]);
  std::vector<float> y(c.N * c.d.out), xa(c.N * c.d.r), scratch(c.N * c.d.r);
  lora_forward(c.d, c.x.data(), c.N, c.W.data(), c.A.data(), c.B.data(), y.data(), xa.data());
  sllm::test::expect_near_all(y, floats(c.j["y"]), 1e-5f, "y");

  std::vector<float> dA(c.A.size(), 0.0f), dB(c.B.size(), 0.0f), dx(c.x.size());
  lora_backward(c.d, c.x.data(), xa.data(), c.G.data(), c.N, c.W.data(), c.A.data(), c.B.data(),
                dA.data(), dB.data(), dx.data(), scratch.data());
  sllm::test::expect_near_all(dA, floats(c.j["dA"]), 1e-5f, "dA");
  sllm::test::expect_near_all(dB, floats(c.j["dB"]), 1e-5f, "dB");
  sllm::test::expect_near_all(dx, floats(c.j["dx"]), 1e-5f, "dx");

  // Gradients accumulate, like the model's.
  lora_backward(c.d, c.x.data(), xa.data(), c.G.data(), c.N, c.W.data(), c.A.data(), c.B.data(),
                dA.data(), dB.data(), nullptr, scratch.data());
  auto twice = floats(c.j["dA"]);
  for (auto& v : twice) v *= 2;
  sllm::test::expect_near_all(dA, twice, 1e-5f, "dA accumulated");
}

// The merged-weight route gives the same adapter gradients: dW = dy^T x for y = x (W + sBA)^T.
TEST(AdaptLora, GradsFromMergedWeightGradMatchPyTorch) {
  LoraCase c(sllm::test::adapt_reference()["lora"]);
  std::vector<float> dW(c.W.size(), 0.0f);
  for (int n = 0; n < c.N; ++n)
    for (int o = 0; o < c.d.out; ++o)
      for (int i = 0; i < c.d.in; ++i)
        dW[o * c.d.in + i] += c.G[n * c.d.out + o] * c.x[n * c.d.in + i];
  std::vector<float> dA(c.A.size(), 0.0f), dB(c.B.size(), 0.0f);
  lora_grads_from_weight_grad(c.d, dW.data(), c.A.data(), c.B.data(), dA.data(), dB.data());
  sllm::test::expect_near_all(dA, floats(c.j["dA"]), 1e-5f, "dA");
  sllm::test::expect_near_all(dB, floats(c.j["dB"]), 1e-5f, "dB");
}

TEST(AdaptLora, MergeAndUnmerge) {
  LoraCase c(sllm::test::adapt_reference()["lora"]);
  std::vector<float> merged(c.W.size());
  lora_merge(c.d, c.W.data(), c.A.data(), c.B.data(), merged.data());
  sllm::test::expect_near_all(merged, floats(c.j["merged"]), 1e-5f, "merged");
  lora_merge(c.d, merged.data(), c.A.data(), c.B.data(), merged.data(), -1.0f);
  sllm::test::expect_near_all(merged, c.W, 1e-5f, "unmerged");
}

TEST(AdaptLora, InitStartsAtTheBaseModel) {
  LoraDims d{6, 16, 4, 2.0f};
  std::vector<float> A(d.r * d.in), B(d.out * d.r, 1.0f), A2(A.size()), B2(B.size());
  lora_init(d, A.data(), B.data(), 7);
  for (float b : B) EXPECT_EQ(b, 0.0f);
  float mx = 0;
  for (float a : A) mx = std::max(mx, std::abs(a));
  EXPECT_GT(mx, 0.0f);
  EXPECT_LE(mx, 0.25f);  // 1/sqrt(16)
  lora_init(d, A2.data(), B2.data(), 7);
  EXPECT_EQ(A, A2);  // Same seed, same adapters.
}
