// Model::set_grads_ready_callback: what data-parallel training relies on to overlap its
// gradient all-reduces with backward.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <vector>

#include "sllm/model/model.h"
#include "test_arch.h"

using namespace sllm;

namespace {

ModelConfig config(Arch arch, bool tied) {
  ModelConfig c;
  set_arch(c, arch);
  c.vocab_size = 41;
  c.n_layer = 3;
  c.n_head = 2;
  c.n_kv_head = arch == Arch::Llama ? 1 : 2;
  c.n_embd = 16;
  c.block_size = 8;
  c.tie_word_embeddings = tied;
  return c;
}

struct Reported {
  size_t begin, end;
  std::vector<float> values;  // The slice's contents when it was reported.
};

class GradsReady : public ::testing::TestWithParam<std::tuple<Arch, bool>> {};

// Each reported slice already holds its final gradient, the slices come from the end of the
// arena down and cover it exactly once, over several micro-batches of accumulation.
TEST_P(GradsReady, SlicesAreFinalWhenReportedAndCoverTheArena) {
  const auto [arch, tied] = GetParam();
  const ModelConfig c = config(arch, tied);
  Model m(c);
  m.init_weights(7);
  std::mt19937 gen(3);
  std::vector<int32_t> tok(2 * 8), tgt(2 * 8);
  for (size_t i = 0; i < tok.size(); ++i)
    tok[i] = gen() % c.vocab_size, tgt[i] = gen() % c.vocab_size;

  m.zero_grad();
  m.forward(tok.data(), tgt.data(), 2, 8);
  m.backward(0.5f);  // First micro-batch: no callback installed.
  std::vector<Reported> got;
  const float* base = m.grads().data();
  m.set_grads_ready_callback([&](std::span<float> s) {
    const size_t b = static_cast<size_t>(s.data() - base);
    got.push_back({b, b + s.size(), std::vector<float>(s.begin(), s.end())});
  });
  std::reverse(tok.begin(), tok.end());
  m.forward(tok.data(), tgt.data(), 2, 8);
  m.backward(0.5f);
  m.set_grads_ready_callback(nullptr);

  const std::span<float> g = m.grads();
  ASSERT_EQ(got.size(), static_cast<size_t>(c.n_layer) + 2);  // head, layers, embeddings
  EXPECT_EQ(got.front().end, g.size());
  EXPECT_EQ(got.back().begin, 0u);
  for (size_t i = 0; i < got.size(); ++i) {
    if (i) {
      EXPECT_EQ(got[i].end, got[i - 1].begin) << "slice " << i;
    }
    EXPECT_GT(got[i].end, got[i].begin) << "slice " << i;
    for (size_t k = got[i].begin; k < got[i].end; ++k)
      ASSERT_EQ(got[i].values[k - got[i].begin], g[k])
          << "slice " << i << " changed after it was reported";
  }
  // The layer slices hold exactly that layer's parameters.
  const size_t l0 = m.spec("layers.0.attn_norm.weight").offset;
  EXPECT_EQ(got.back().end, l0);
  EXPECT_EQ(got[got.size() - 2].begin, l0);
}

INSTANTIATE_TEST_SUITE_P(Archs, GradsReady,
                         ::testing::Values(std::tuple{Arch::GPT2, true},
                                           std::tuple{Arch::GPT2, false},
                                           std::tuple{Arch::Llama, false},
                                           std::tuple{Arch::Llama, true}));

}  // namespace
