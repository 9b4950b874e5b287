// The CUDA backend against the CPU model (GPT-2 and Llama with GQA, tied and untied heads):
// same weights, same batch; logits, loss and gradients agree to bf16 accuracy. Skipped (with the
// reason) where there is no usable GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <tuple>
#include <vector>

#include "sllm/common/error.h"
#include "sllm/cuda/cuda_model.h"
#include "sllm/model/model.h"
#include "sllm/model/optimizer.h"
#include "test_arch.h"

using namespace sllm;

namespace {

// Llama gets grouped-query attention (2 query heads per KV head).
ModelConfig small_config(Arch arch, bool tied) {
  ModelConfig c;
  set_arch(c, arch);
  c.vocab_size = 101;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = arch == Arch::Llama ? 2 : 4;
  c.n_embd = 64;
  c.block_size = 32;
  c.tie_word_embeddings = tied;
  return c;
}

// ||a - b|| / ||b|| over a range.
double rel_error(const float* a, const float* b, size_t n) {
  double d = 0, r = 0;
  for (size_t i = 0; i < n; ++i)
    d += (double(a[i]) - b[i]) * (double(a[i]) - b[i]), r += double(b[i]) * b[i];
  return std::sqrt(d / std::max(r, 1e-30));
}

#define SLLM_REQUIRE_GPU()                                                                 \
  do {                                                                                     \
    if (!cuda::built()) GTEST_SKIP() << "sllm was built without the CUDA backend";         \
    if (cuda::device_count() == 0) GTEST_SKIP() << "no usable NVIDIA GPU on this machine"; \
  } while (0)

}  // namespace

TEST(CudaBackend, WithoutAGpuSaysSoClearly) {
  if (cuda::device_count() > 0) GTEST_SKIP() << "a GPU is present";
  try {
    cuda::CudaModel m(small_config(Arch::GPT2, true));
    FAIL() << "CudaModel constructed without a GPU";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("--device cuda"), std::string::npos) << e.what();
  }
}

class CudaVsCpu : public ::testing::TestWithParam<std::tuple<Arch, bool>> {};

TEST_P(CudaVsCpu, LogitsLossGradsAndAdamWMatchTheCpuModel) {
  SLLM_REQUIRE_GPU();
  const auto [arch, tied] = GetParam();
  const ModelConfig c = small_config(arch, tied);
  const int B = 4, T = 32, N = B * T;
  Model cpu(c);
  cpu.init_weights(11);
  cuda::CudaModel gpu(c);
  gpu.set_params(cpu.params());

  std::mt19937 gen(5);
  std::vector<int32_t> tok(N), tgt(N);
  for (int i = 0; i < N; ++i)
    tok[i] = gen() % c.vocab_size, tgt[i] = i % 7 == 3 ? -1 : int(gen() % c.vocab_size);

  const float loss_cpu = cpu.forward(tok.data(), tgt.data(), B, T);
  const float loss_gpu = gpu.forward(tok.data(), tgt.data(), B, T);
  EXPECT_NEAR(loss_gpu, loss_cpu, 2e-2 * loss_cpu);
  const std::vector<float> logits = gpu.get_logits();
  ASSERT_EQ(logits.size(), size_t(N) * c.vocab_size);
  EXPECT_LT(rel_error(logits.data(), cpu.logits(), logits.size()), 3e-2);

  cpu.zero_grad();
  cpu.backward(1.0f);
  gpu.zero_grad();
  gpu.backward(1.0f);
  std::vector<float> g(gpu.num_params());
  gpu.get_grads(g);
  const std::span<float> gc = cpu.grads();
  for (const ParamSpec& s : cpu.specs())
    EXPECT_LT(rel_error(g.data() + s.offset, gc.data() + s.offset, s.numel), 6e-2) << s.name;
  const float norm_cpu = grad_norm(cpu), norm_gpu = gpu.grad_norm();
  EXPECT_NEAR(norm_gpu, norm_cpu, 3e-2 * norm_cpu);

  // One AdamW step moves each weight by about lr at t = 1 (|m^/sqrt(v^)| ~ 1): from close
  // gradients the weights stay within a fraction of lr, and the decayed ones are pulled in.
  AdamWParams h;
  h.lr = 1e-2f;
  h.weight_decay = 0.1f;
  AdamWState st;
  adamw_step(cpu, st, h);
  gpu.adamw_step(h, 1);
  std::vector<float> p(gpu.num_params());
  gpu.get_params(p);
  const std::span<float> pc = cpu.params();
  size_t far = 0;
  for (size_t i = 0; i < p.size(); ++i) far += std::abs(p[i] - pc[i]) > 0.5f * h.lr;
  EXPECT_LT(far, p.size() / 50) << "weights that moved differently after one AdamW step";
}

INSTANTIATE_TEST_SUITE_P(Archs, CudaVsCpu,
                         ::testing::Values(std::tuple{Arch::GPT2, true},
                                           std::tuple{Arch::GPT2, false},
                                           std::tuple{Arch::Llama, false},
                                           std::tuple{Arch::Llama, true}));

TEST(CudaBackend, TrainingOnOneBatchLowersTheLoss) {
  SLLM_REQUIRE_GPU();
  const ModelConfig c = small_config(Arch::GPT2, true);
  Model init(c);
  init.init_weights(3);
  cuda::CudaModel gpu(c);
  gpu.set_params(init.params());
  std::vector<int32_t> tok(2 * 32), tgt(2 * 32);
  for (size_t i = 0; i < tok.size(); ++i)
    tok[i] = int(i * 7 % c.vocab_size), tgt[i] = int((i * 7 + 7) % c.vocab_size);
  AdamWParams h;
  h.lr = 3e-3f;
  float first = 0, last = 0;
  for (int t = 1; t <= 30; ++t) {
    last = gpu.forward(tok.data(), tgt.data(), 2, 32);
    if (t == 1) first = last;
    gpu.zero_grad();
    gpu.backward();
    gpu.adamw_step(h, t);
  }
  EXPECT_LT(last, 0.5f * first);
}

TEST(CudaBackend, RefusesBadBatchesWithAClearMessage) {
  SLLM_REQUIRE_GPU();
  const ModelConfig c = small_config(Arch::Llama, false);
  cuda::CudaModel gpu(c);
  std::vector<int32_t> tok(c.block_size + 1, 1);
  EXPECT_THROW(gpu.forward(tok.data(), nullptr, 1, c.block_size + 1),
               Error);  // longer than block_size
  tok[0] = c.vocab_size;
  EXPECT_THROW(gpu.forward(tok.data(), nullptr, 1, 4), Error);  // token outside the vocabulary
  EXPECT_THROW(gpu.backward(), Error);                          // no forward with targets
}
