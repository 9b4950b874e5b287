// bf16 compute (--dtype bfloat16): the conversion (AVX512-BF16 vs the portable path, bit for
// bit), the bf16 GEMM (oneDNN vs the emulation, both against a double reference of the rounded
// operands), which implementation is reported, and training in bf16: bitwise determinism at 2
// threads, bit-exact resume keeping the dtype, and a loss curve that stays with float32's.
// The PyTorch reference checks of the bf16 model are in model_reference_test.cpp.
// ctest also runs these with SLLM_ISA=portable and with DNNL_MAX_CPU_ISA=AVX2 (the fallbacks).
#include "sllm/kernels/bf16.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <vector>

#include "kernels/gemm_bf16.h"
#include "sllm/io/file.h"
#include "sllm/model/model.h"
#include "sllm/model/optimizer.h"
#include "sllm/train/checkpoint.h"
#include "sllm/train/checksum.h"
#include "sllm/train/trainer.h"
#include "test_arch.h"
#include "test_util.h"

using namespace sllm;

namespace {

float f(uint32_t bits) {
  return std::bit_cast<float>(bits);
}

bf16 portable(float x) {
  bf16 out;
  detail::to_bf16_portable(&out, &x, 1);
  return out;
}

std::vector<float> random_bits(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) {
    uint32_t x = gen();
    if (i % 5 == 0) x &= 0x807fffff;  // Plenty of denormals and zeros.
    if (i % 7 == 0) x |= 0x7f800000;  // And of infinities and NaNs.
    v[i] = f(x);
  }
  return v;
}

}  // namespace

TEST(Bf16Convert, PortableRoundsToNearestEvenLikeVcvtneps2bf16) {
  EXPECT_EQ(portable(1.0f), 0x3f80);
  EXPECT_EQ(portable(-2.0f), 0xc000);
  EXPECT_EQ(portable(f(0x3f808000)), 0x3f80);  // A tie rounds to the even neighbour: down...
  EXPECT_EQ(portable(f(0x3f818000)), 0x3f82);  // ...or up.
  EXPECT_EQ(portable(f(0x3f808001)), 0x3f81);  // Above the tie: up.
  EXPECT_EQ(portable(f(0x3f807fff)), 0x3f80);  // Below: down.
  EXPECT_EQ(portable(f(0x7f7fffff)), 0x7f80);  // FLT_MAX rounds to infinity.
  EXPECT_EQ(portable(f(0x7f800000)), 0x7f80);
  EXPECT_EQ(portable(f(0xff800000)), 0xff80);
  EXPECT_EQ(portable(f(0x7f800001)), 0x7fc0);  // A signalling NaN comes back quiet...
  EXPECT_EQ(portable(f(0xffc12345)), 0xffc1);  // ...a quiet one keeps its payload's top bits.
  EXPECT_EQ(portable(f(0x00000001)), 0x0000);  // Denormals become zeros of their sign.
  EXPECT_EQ(portable(f(0x807fffff)), 0x8000);
  EXPECT_EQ(portable(f(0x00800000)), 0x0080);  // The smallest normal stays.
  float back;
  const bf16 h = portable(3.140625f);  // Exactly representable.
  from_bf16(&back, &h, 1);
  EXPECT_EQ(back, 3.140625f);
}

TEST(Bf16Convert, VectorPathMatchesPortableBitForBit) {
  const std::vector<float> x = random_bits(1 << 20, 1);
  std::vector<bf16> want(x.size()), got(x.size());
  detail::to_bf16_portable(want.data(), x.data(), x.size());
  if (!detail::to_bf16_avx512(got.data(), x.data(), x.size()))
    GTEST_SKIP() << "this CPU has no AVX512-BF16: only the portable path runs here";
  EXPECT_EQ(0, std::memcmp(want.data(), got.data(), x.size() * sizeof(bf16)));
  for (size_t n = 0; n <= 70; ++n) {  // Every tail length; nothing written past n.
    std::vector<bf16> a(n + 8, 0x1234), b(n + 8, 0x1234);
    detail::to_bf16_portable(a.data(), x.data() + 3, n);
    detail::to_bf16_avx512(b.data(), x.data() + 3, n);
    EXPECT_EQ(a, b) << "n = " << n;
  }
}

TEST(Bf16Convert, ParallelAndStridedConversionsMatchPortable) {
  const std::vector<float> x = random_bits(300001, 2);
  std::vector<bf16> want(x.size()), got(x.size());
  detail::to_bf16_portable(want.data(), x.data(), x.size());
  to_bf16(got.data(), x.data(), x.size());
  EXPECT_EQ(want, got);
  // Rows of 100 out of a matrix with row stride 300.
  std::vector<bf16> rows(1000 * 100);
  to_bf16_rows(rows.data(), x.data(), 1000, 100, 300);
  for (size_t r = 0; r < 1000; ++r)
    for (size_t c = 0; c < 100; ++c) ASSERT_EQ(rows[r * 100 + c], want[r * 300 + c]);
}

namespace {

struct GemmCase {
  bool ta, tb;
  int M, N, K, pad;  // pad: extra elements per stored row (leading dimensions > the minimum).
  float alpha, beta;
};

std::vector<GemmCase> gemm_cases() {
  std::vector<GemmCase> v;
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      v.push_back({ta, tb, 1, 1, 1, 0, 1.0f, 0.0f});
      v.push_back({ta, tb, 7, 13, 5, 0, 1.0f, 1.0f});
      v.push_back({ta, tb, 64, 96, 200, 0, 1.0f, 0.0f});
      v.push_back({ta, tb, 33, 65, 130, 3, 0.5f, 0.25f});
      v.push_back({ta, tb, 256, 300, 64, 0, 1.0f, 1.0f});
    }
  return v;
}

// Random operands already rounded to bf16 (stored as bf16) and a random C.
struct GemmData {
  int lda, ldb, ldc;
  std::vector<bf16> A, B;
  std::vector<float> C;
  explicit GemmData(const GemmCase& g, uint32_t seed) {
    std::mt19937 gen(seed);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    const int a_rows = g.ta ? g.K : g.M, a_cols = g.ta ? g.M : g.K;
    const int b_rows = g.tb ? g.N : g.K, b_cols = g.tb ? g.K : g.N;
    lda = a_cols + g.pad;
    ldb = b_cols + g.pad;
    ldc = g.N + g.pad;
    std::vector<float> a(static_cast<size_t>(a_rows) * lda), b(static_cast<size_t>(b_rows) * ldb);
    for (float& x : a) x = nd(gen);
    for (float& x : b) x = nd(gen);
    A.resize(a.size());
    B.resize(b.size());
    to_bf16(A.data(), a.data(), a.size());
    to_bf16(B.data(), b.data(), b.size());
    C.resize(static_cast<size_t>(g.M) * ldc);
    for (float& x : C) x = nd(gen);
  }
  static float widen(bf16 h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }
  float a(const GemmCase& g, int i, int k) const {
    return widen(A[g.ta ? static_cast<size_t>(k) * lda + i : static_cast<size_t>(i) * lda + k]);
  }
  float b(const GemmCase& g, int k, int j) const {
    return widen(B[g.tb ? static_cast<size_t>(j) * ldb + k : static_cast<size_t>(k) * ldb + j]);
  }
};

// |got - exact| <= 1e-5 * (alpha sum_k |a b| + |beta c|) for every output (products of bf16
// values are exact in float32: only the order of the float32 sums differs), and the padding
// columns of C untouched.
void expect_gemm_close(const GemmCase& g, const GemmData& d, const std::vector<float>& got,
                       const std::string& what) {
  int bad = 0;
  for (int i = 0; i < g.M; ++i) {
    for (int j = 0; j < d.ldc; ++j) {
      const size_t at = static_cast<size_t>(i) * d.ldc + j;
      if (j >= g.N) {
        EXPECT_EQ(got[at], d.C[at]) << what << ": padding written at " << i << "," << j;
        continue;
      }
      double exact = 0.0, scale = 0.0;
      for (int k = 0; k < g.K; ++k) {
        const double p = static_cast<double>(d.a(g, i, k)) * d.b(g, k, j);
        exact += p;
        scale += std::fabs(p);
      }
      exact = g.alpha * exact + (g.beta != 0.0f ? g.beta * static_cast<double>(d.C[at]) : 0.0);
      scale = g.alpha * scale + std::fabs(g.beta * d.C[at]);
      if (std::fabs(got[at] - exact) > 1e-5 * scale + 1e-30 && bad++ < 3)
        ADD_FAILURE() << what << ": C[" << i << "," << j << "] = " << got[at] << ", want " << exact;
    }
  }
}

std::string name_of(const GemmCase& g) {
  return fmt::format("{}{} M={} N={} K={} pad={} alpha={} beta={}", g.ta ? "T" : "N",
                     g.tb ? "T" : "N", g.M, g.N, g.K, g.pad, g.alpha, g.beta);
}

bool env_is(const char* name, std::initializer_list<const char*> values) {
  const char* v = std::getenv(name);
  if (!v) return false;
  for (const char* want : values)
    if (strcasecmp(v, want) == 0) return true;
  return false;
}

}  // namespace

TEST(Bf16Gemm, EmulationMatchesADoubleReferenceOfTheRoundedOperands) {
  uint32_t seed = 10;
  for (const GemmCase& g : gemm_cases()) {
    GemmData d(g, seed++);
    std::vector<float> c = d.C;
    detail::bf16_gemm_emulated(g.ta, g.tb, g.M, g.N, g.K, g.alpha, d.A.data(), d.lda, d.B.data(),
                               d.ldb, g.beta, c.data(), d.ldc);
    expect_gemm_close(g, d, c, "emulated " + name_of(g));
  }
}

TEST(Bf16Gemm, OneDnnMatchesADoubleReferenceAndTheEmulation) {
  if (!bf16_matmul_support().fast)
    GTEST_SKIP() << "no native bf16 matmul here: " << bf16_matmul_support().implementation;
  uint32_t seed = 10;
  for (const GemmCase& g : gemm_cases()) {
    GemmData d(g, seed++);
    std::vector<float> c = d.C, e = d.C;
    if (!detail::bf16_gemm_onednn(g.ta, g.tb, g.M, g.N, g.K, g.alpha, d.A.data(), d.lda, d.B.data(),
                                  d.ldb, g.beta, c.data(), d.ldc)) {
      // oneDNN has only its slow gemm:jit for padded rows; bf16_gemm emulates those. Every
      // dense shape (all the model multiplies) must run natively.
      EXPECT_GT(g.pad, 0) << "oneDNN refused " << name_of(g);
      continue;
    }
    expect_gemm_close(g, d, c, "oneDNN " + name_of(g));
    detail::bf16_gemm_emulated(g.ta, g.tb, g.M, g.N, g.K, g.alpha, d.A.data(), d.lda, d.B.data(),
                               d.ldb, g.beta, e.data(), d.ldc);
    // Both hold the exact sum to within float32 summation order.
    double worst = 0.0;
    for (size_t i = 0; i < c.size(); ++i)
      worst = std::max(worst, std::fabs(static_cast<double>(c[i]) - e[i]) /
                                  (1.0 + std::fabs(static_cast<double>(e[i]))));
    EXPECT_LT(worst, 1e-4) << name_of(g);
  }
}

TEST(Bf16Gemm, SameInputsGiveTheSameBitsEveryTime) {
  const GemmCase g{false, true, 256, 768, 384, 0, 1.0f, 0.0f};
  GemmData d(g, 3);
  std::vector<float> first(d.C.size()), again(d.C.size());
  detail::bf16_gemm(false, true, g.M, g.N, g.K, 1.0f, d.A.data(), d.lda, d.B.data(), d.ldb, 0.0f,
                    first.data(), d.ldc);
  for (int rep = 0; rep < 3; ++rep) {
    detail::bf16_gemm(false, true, g.M, g.N, g.K, 1.0f, d.A.data(), d.lda, d.B.data(), d.ldb, 0.0f,
                      again.data(), d.ldc);
    EXPECT_EQ(0, std::memcmp(first.data(), again.data(), first.size() * sizeof(float)));
  }
}

TEST(Bf16Gemm, ReportsWhatRuns) {
  const Bf16MatmulSupport& s = bf16_matmul_support();
  __builtin_cpu_init();
  const bool forced = env_is("SLLM_ISA", {"portable", "avx2"}) ||
                      env_is("DNNL_MAX_CPU_ISA", {"AVX2", "SSE41", "AVX", "AVX512_CORE"}) ||
                      env_is("ONEDNN_MAX_CPU_ISA", {"AVX2", "SSE41", "AVX", "AVX512_CORE"});
  const bool native = __builtin_cpu_supports("avx512bf16") || __builtin_cpu_supports("amx-bf16");
  if (forced || !native) {
    EXPECT_FALSE(s.fast) << s.implementation;
    EXPECT_NE(s.implementation.find("emulated"), std::string::npos) << s.implementation;
  } else {
    EXPECT_TRUE(s.fast) << s.implementation;
    EXPECT_EQ(s.implementation.rfind("oneDNN ", 0), 0u) << s.implementation;
  }
}

namespace {

std::string write_corpus(const std::string& path) {
  const char* words[] = {"the cat ", "a dog ", "sees ", "likes ", "the ball. ", "a red hat.\n"};
  std::mt19937 gen(5);
  std::string text;
  while (text.size() < 20000) text += words[gen() % 6];
  write_file_atomic(path, text);
  return path;
}

// Big enough that oneDNN splits the products over the 2 threads.
TrainConfig bf16_config(const test::TempDir& dir, const std::string& out, Arch arch) {
  TrainConfig c;
  set_arch(c.model, arch);
  c.model.n_layer = 2;
  c.model.n_head = 4;
  c.model.n_kv_head = arch == Arch::Llama ? 2 : 4;
  c.model.n_embd = 64;
  c.model.block_size = 32;
  c.tokenizer = "char";
  c.data = dir.file("corpus.txt");
  if (!file_exists(c.data)) write_corpus(c.data);
  c.out = dir.file(out);
  c.batch_size = 8;
  c.max_iters = 6;
  c.lr = 3e-3f;
  c.min_lr = 3e-4f;
  c.warmup_iters = 2;
  c.eval_interval = 3;
  c.eval_iters = 2;
  c.sample_tokens = 0;
  c.threads = 2;
  c.peak_gflops = 100;  // Not measured: saves each run a few SGEMMs.
  c.dtype = "bfloat16";
  c.quiet = true;
  return c;
}

std::vector<double> losses_of(const std::string& out) {
  std::vector<double> v;
  std::ifstream in(out + "/metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    const nlohmann::json j = nlohmann::json::parse(line);
    v.push_back(j.value("loss", -1.0));
    v.push_back(j.value("val_loss", -1.0));
  }
  return v;
}

}  // namespace

TEST(Bf16Training, SameSeedAndThreadsGiveIdenticalLosses) {
  test::TempDir dir;
  for (Arch arch : {Arch::GPT2, Arch::Llama}) {
    const std::string name = arch_name(arch);
    train(bf16_config(dir, name + "-a", arch));
    train(bf16_config(dir, name + "-b", arch));
    const auto a = losses_of(dir.file(name + "-a")), b = losses_of(dir.file(name + "-b"));
    ASSERT_FALSE(a.empty());
    EXPECT_EQ(a, b) << name;
    TrainConfig f32 = bf16_config(dir, name + "-f32", arch);
    f32.dtype = "float32";
    train(f32);
    EXPECT_NE(a, losses_of(f32.out)) << name << ": --dtype bfloat16 changed nothing";
  }
}

TEST(Bf16Training, ResumeContinuesBitExactlyAndKeepsTheDtype) {
  test::TempDir dir;
  TrainConfig full = bf16_config(dir, "full", Arch::GPT2);
  full.max_iters = 8;
  full.checkpoint_interval = 2;
  train(full);

  TrainConfig first = full;
  first.out = dir.file("resumed");
  first.max_iters = 5;
  first.lr_decay_iters = 8;
  train(first);
  TrainConfig rest = saved_train_config(first.out);
  EXPECT_EQ(rest.dtype, "bfloat16");
  rest.max_iters = 8;
  rest.quiet = true;
  train(rest);
  EXPECT_EQ(losses_of(full.out), losses_of(first.out));
  EXPECT_EQ(file_checksum_hex(full.out + "/model.safetensors"),
            file_checksum_hex(first.out + "/model.safetensors"));
  EXPECT_EQ(file_checksum_hex(full.out + "/train_state.safetensors"),
            file_checksum_hex(first.out + "/train_state.safetensors"));
}

TEST(Bf16Training, LossCurveStaysWithFloat32) {
  test::TempDir dir;
  TrainConfig b = bf16_config(dir, "bf16", Arch::GPT2);
  b.max_iters = 40;
  b.eval_interval = 20;
  b.eval_iters = 4;
  TrainConfig f = b;
  f.out = dir.file("f32");
  f.dtype = "float32";
  const TrainResult rb = train(b), rf = train(f);
  ASSERT_TRUE(rb.final_val_loss && rf.final_val_loss);
  // The model learns (from ~ln 12 at the start) and bf16 lands where float32 does.
  EXPECT_LT(*rf.final_val_loss, 2.0);
  EXPECT_NEAR(*rb.final_val_loss, *rf.final_val_loss, 0.02 * *rf.final_val_loss);
  const auto lb = losses_of(b.out), lf = losses_of(f.out);
  ASSERT_EQ(lb.size(), lf.size());
  for (size_t i = 0; i < lb.size(); ++i)
    if (lf[i] > 0) {
      EXPECT_NEAR(lb[i], lf[i], 0.03 * lf[i]) << "record " << i / 2;
    }
}

TEST(Bf16Training, BadDtypeIsAClearError) {
  test::TempDir dir;
  TrainConfig c = bf16_config(dir, "bad", Arch::GPT2);
  c.dtype = "float16";
  EXPECT_NE(test::error_of([&] { c.validate(); }).find("--dtype float16"), std::string::npos);
  c.dtype = "fp8";
  EXPECT_NE(test::error_of([&] { c.validate(); }).find("use float32 or bfloat16"),
            std::string::npos);
  EXPECT_NE(test::error_of([] { parse_compute_dtype("half"); }).find("unknown --dtype 'half'"),
            std::string::npos);
}

TEST(Bf16Training, CliWarnsWhenBf16IsEmulated) {
  test::TempDir dir;
  const std::string corpus = write_corpus(dir.file("corpus.txt"));
  const std::string cmd = fmt::format(
      "DNNL_MAX_CPU_ISA=AVX2 {} train --arch gpt2 --n-layer 1 --n-head 2 --n-embd 16 "
      "--block-size 16 --batch-size 2 --max-iters 2 --eval-interval 2 --eval-iters 1 "
      "--sample-tokens 0 --threads 1 --tokenizer char --data {} --out {} --dtype bfloat16 > {} "
      "2>&1",
      test::sllm_binary(), corpus, dir.file("run"), dir.file("log"));
  const int st = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << read_file(dir.file("log"));
  const std::string log = read_file(dir.file("log"));
  EXPECT_NE(log.find("warning: --dtype bfloat16 without a native bf16 matrix kernel"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("emulated"), std::string::npos) << log;
}

TEST(Bf16Training, AdamWWritesTheSameBf16WeightsForwardWouldConvert) {
  ModelConfig cfg;
  set_arch(cfg, Arch::GPT2);
  cfg.vocab_size = 50;
  cfg.n_layer = 2;
  cfg.n_head = 2;
  cfg.n_kv_head = 2;
  cfg.n_embd = 32;
  cfg.block_size = 16;
  Model m(cfg);
  m.init_weights(3);
  m.set_compute_dtype(ComputeDtype::BFloat16);
  std::vector<int32_t> tokens(2 * 16), targets(2 * 16);
  for (size_t i = 0; i < tokens.size(); ++i) {
    tokens[i] = static_cast<int32_t>((i * 7) % 50);
    targets[i] = static_cast<int32_t>((i * 11 + 3) % 50);
  }
  AdamWState opt;
  AdamWParams h;
  h.lr = 1e-2f;
  h.weight_decay = 0.1f;
  for (int step = 0; step < 3; ++step) {
    m.zero_grad();
    m.forward(tokens.data(), targets.data(), 2, 16);
    m.backward();
    adamw_step(m, opt, h);
  }
  // The next forward reads the copies AdamW wrote; after params() it converts them itself.
  const float fused = m.forward(tokens.data(), targets.data(), 2, 16);
  std::vector<float> fused_logits(m.logits(), m.logits() + 2 * 16 * 50);
  m.params();
  const float converted = m.forward(tokens.data(), targets.data(), 2, 16);
  EXPECT_EQ(fused, converted);
  EXPECT_EQ(0, std::memcmp(fused_logits.data(), m.logits(), fused_logits.size() * sizeof(float)));
  // And the copies do follow the updates: a stale copy would give the pre-update loss.
  m.set_compute_dtype(ComputeDtype::Float32);
  const float f32 = m.forward(tokens.data(), targets.data(), 2, 16);
  EXPECT_NEAR(fused, f32, 0.02f * f32);
}
