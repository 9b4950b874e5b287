#include <gtest/gtest.h>

#include <vector>

#include "adapt_reference.h"
#include "sllm/adapt/distill_loss.h"
#include "sllm/adapt/teacher_cache.h"
#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "sllm/io/safetensors.h"

using namespace sllm;
using sllm::test::floats;

TEST(AdaptDistill, LossesAndGradientsMatchPyTorch) {
  const auto& j = sllm::test::adapt_reference()["distill"];
  const int N = j["N"], V = j["V"];
  auto zs = floats(j["student"]), zt = floats(j["teacher"]);
  auto targets = j["targets"].get<std::vector<int32_t>>();
  for (const auto& c : j["cases"]) {
    DistillOptions o;
    o.temperature = c["tau"];
    o.alpha = c["alpha"];
    o.reverse_kl = c["reverse"];
    const int k = c["k"];
    std::vector<float> g(N * V, 123.0f);
    DistillLoss L;
    if (k == 0) {
      L = distill_loss_dense(zs.data(), zt.data(), targets.data(), N, V, o, g.data());
    } else {
      auto ids = c["ids"].get<std::vector<int32_t>>();
      auto vals = floats(c["vals"]);
      L = distill_loss_topk(zs.data(), ids.data(), vals.data(), k, targets.data(), N, V, o,
                            g.data());
      // Our own top-k selection agrees with torch.topk.
      std::vector<int32_t> my_ids(N * k);
      std::vector<float> my_vals(N * k);
      topk_logits(zt.data(), N, V, k, my_ids.data(), my_vals.data());
      EXPECT_EQ(my_ids, ids);
    }
    SCOPED_TRACE(c.dump().substr(0, 80));
    EXPECT_EQ(L.count, 4);
    EXPECT_NEAR(L.kd, c["kd"].get<double>(), 1e-5);
    EXPECT_NEAR(L.ce, c["ce"].get<double>(), 1e-5);
    EXPECT_NEAR(L.total, c["total"].get<double>(), 1e-5);
    sllm::test::expect_near_all(g, floats(c["grad"]), 1e-5f, "dstudent");
  }
}

TEST(AdaptDistill, IdenticalTeacherGivesZeroKd) {
  const int N = 3, V = 5;
  std::vector<float> z = {1, 2, 3, 4, 5, -1, 0, 1, 0, -1, 3, 3, 3, 3, 3};
  DistillOptions o;
  o.alpha = 1.0f;
  std::vector<float> g(N * V);
  auto L = distill_loss_dense(z.data(), z.data(), nullptr, N, V, o, g.data());
  EXPECT_NEAR(L.kd, 0.0, 1e-9);
  EXPECT_EQ(L.count, N);
  for (float v : g) EXPECT_NEAR(v, 0.0f, 1e-7f);
}

TEST(AdaptDistill, RejectsBadOptionsClearly) {
  const int N = 1, V = 4;
  std::vector<float> z(V, 0.0f);
  std::vector<int32_t> ids = {0, 1}, t = {2}, bad = {9};
  std::vector<float> vals = {1, 0};
  DistillOptions o;
  o.reverse_kl = true;
  EXPECT_THROW(distill_loss_topk(z.data(), ids.data(), vals.data(), 2, t.data(), N, V, o, nullptr),
               Error);
  o.reverse_kl = false;
  o.temperature = 0.0f;
  EXPECT_THROW(distill_loss_dense(z.data(), z.data(), t.data(), N, V, o, nullptr), Error);
  o.temperature = 1.0f;
  EXPECT_THROW(distill_loss_dense(z.data(), z.data(), nullptr, N, V, o, nullptr),
               Error);  // alpha < 1, no targets
  EXPECT_THROW(distill_loss_dense(z.data(), z.data(), bad.data(), N, V, o, nullptr), Error);
  try {
    distill_loss_topk(z.data(), ids.data(), vals.data(), 2, t.data(), N, V,
                      DistillOptions{2.0f, 0.5f, true}, nullptr);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("reverse KL"), std::string::npos);
  }
}

TEST(AdaptTeacherCache, RoundTripsAndRejectsDefects) {
  sllm::test::TempDir dir;
  TeacherCache c;
  c.vocab_size = 10;
  c.k = 3;
  c.T = 2;
  c.rows = 2;
  c.inputs = {1, 2, 3, 4};
  c.targets = {2, -1, 4, 5};
  std::vector<float> full(4 * 10);
  for (size_t i = 0; i < full.size(); ++i) full[i] = static_cast<float>((i * 7) % 10) * 0.5f;
  c.ids.resize(12);
  c.logits.resize(12);
  topk_logits(full.data(), 4, 10, 3, c.ids.data(), c.logits.data());
  c.teacher = "t";
  c.tokenizer = "char:abc";
  save_teacher_cache(dir.file("c.safetensors"), c);
  TeacherCache d = load_teacher_cache(dir.file("c.safetensors"));
  EXPECT_EQ(d.inputs, c.inputs);
  EXPECT_EQ(d.targets, c.targets);
  EXPECT_EQ(d.ids, c.ids);
  EXPECT_EQ(d.logits, c.logits);
  EXPECT_EQ(d.tokenizer, "char:abc");
  EXPECT_EQ(d.rows, 2u);

  // An id outside the vocabulary is caught on load, naming the file.
  c.ids[5] = 10;
  TeacherCache bad = c;
  write_safetensors(dir.file("bad.safetensors"),
                    {{"inputs", DType::I32, {2, 2}, bad.inputs.data(), 16},
                     {"targets", DType::I32, {2, 2}, bad.targets.data(), 16},
                     {"topk_ids", DType::I32, {2, 2, 3}, bad.ids.data(), 48},
                     {"topk_logits", DType::F32, {2, 2, 3}, bad.logits.data(), 48}},
                    {{"format", "sllm-teacher-topk"},
                     {"version", "1"},
                     {"vocab_size", "10"},
                     {"k", "3"},
                     {"teacher", "t"},
                     {"tokenizer", "x"}});
  try {
    load_teacher_cache(dir.file("bad.safetensors"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad.safetensors: top-k id 10"), std::string::npos)
        << e.what();
  }
  // A safetensors file that is not a cache.
  write_safetensors(dir.file("other.safetensors"), {{"x", DType::I32, {1}, bad.inputs.data(), 4}});
  EXPECT_THROW(load_teacher_cache(dir.file("other.safetensors")), Error);
  // Inconsistent sizes are refused before anything is written.
  c.ids.pop_back();
  EXPECT_THROW(save_teacher_cache(dir.file("c2.safetensors"), c), Error);
  EXPECT_FALSE(file_exists(dir.file("c2.safetensors")));
}
