// `sllm finetune --base <HF folder>` on the open families' tiny checkpoints
// (tests/reference/families.py; random weights, byte-level text): a short LoRA run lowers the
// validation loss and its merged model computes what base + adapter computed; a short full
// fine-tune lowers it too. Real-config shapes cut to 2-3 layers, a few steps each.
#include <gtest/gtest.h>

#include <filesystem>

#include "adapt_test_util.h"
#include "families_reference.h"
#include "reference_cache.h"
#include "sllm/adapt/finetune.h"
#include "sllm/adapt/lora_model.h"
#include "sllm/common/runtime.h"
#include "sllm/format/model_dir.h"
#include "sllm/io/file.h"
#include "sllm/model/lora_adapter.h"
#include "sllm/tokenizer/tokenizer.h"
#include "test_util.h"

namespace sllm {
namespace {

using test::families_dir;

class AdaptFamilies : public ::testing::TestWithParam<const char*> {};

TEST_P(AdaptFamilies, LoraLowersTheValidationLossAndMergesExactly) {
  const std::string root = families_dir();
  if (root.empty()) GTEST_SKIP() << "/usr/bin/python3 (torch) is needed for the reference";
  set_num_threads(1);
  test::TempDir dir;
  const std::string base = root + "/" + GetParam();
  // The checkpoints carry no tokenizer: bytes (256 ids, the tiny configs' vocabulary).
  const std::string tok = dir.file("bytes.sllmtok");
  ByteTokenizer(std::vector<std::string>{}).save(tok);
  write_file_atomic(dir.file("text.txt"), test::adapt_corpus(6));

  FinetuneConfig c;
  c.base = base;
  c.tokenizer = tok;
  c.data = dir.file("text.txt");
  c.out = dir.file("adapter");
  c.seq_len = 32;  // The real configs' contexts run to 131072.
  c.lora = true;
  c.lora_cfg.r = 4;
  c.lora_cfg.alpha = 8;
  c.loop = test::quick_loop(12);
  c.loop.lr = 1e-2f;
  const FinetuneResult r = run_finetune(c);
  std::printf("%s: LoRA val loss %.4f -> %.4f\n", GetParam(), r.initial_val_loss,
              r.loop.final_val_loss);
  EXPECT_LT(r.loop.final_val_loss, r.initial_val_loss - 0.1) << GetParam();

  // The merged model (an sllm model folder) computes what base + adapter computed.
  merge_adapter(base, dir.file("adapter"), dir.file("merged"), tok);
  TrainableModel merged = load_trainable_model(dir.file("merged"));
  TrainableModel b = load_trainable_model(base, tok);
  LoraAdapters a = LoraAdapters::load(dir.file("adapter"), b.model->config());
  LoraModel lm(*b.model, a);
  std::vector<int32_t> x = merged.tokenizer->encode("the cat sat on the mat"),
                       y(x.begin() + 1, x.end());
  x.pop_back();
  const int T = static_cast<int>(x.size());
  const float want = lm.forward(x.data(), y.data(), 1, T);
  const float got = merged.model->forward(x.data(), y.data(), 1, T);
  EXPECT_NEAR(got, want, 1e-4f) << GetParam();
}

TEST_P(AdaptFamilies, FullFinetuneLowersTheValidationLoss) {
  const std::string root = families_dir();
  if (root.empty()) GTEST_SKIP() << "/usr/bin/python3 (torch) is needed for the reference";
  set_num_threads(1);
  test::TempDir dir;
  const std::string tok = dir.file("bytes.sllmtok");
  ByteTokenizer(std::vector<std::string>{}).save(tok);
  write_file_atomic(dir.file("text.txt"), test::adapt_corpus(6));
  FinetuneConfig c;
  c.base = root + "/" + GetParam();
  c.tokenizer = tok;
  c.data = dir.file("text.txt");
  c.out = dir.file("full");
  c.seq_len = 32;
  c.loop = test::quick_loop(6);
  const FinetuneResult r = run_finetune(c);
  std::printf("%s: full val loss %.4f -> %.4f\n", GetParam(), r.initial_val_loss,
              r.loop.final_val_loss);
  EXPECT_LT(r.loop.final_val_loss, r.initial_val_loss - 0.1) << GetParam();
  EXPECT_TRUE(file_exists(dir.file("full/model.safetensors")));
}

INSTANTIATE_TEST_SUITE_P(HuggingFace, AdaptFamilies,
                         ::testing::Values("llama3", "smollm2", "qwen25", "qwen3", "gemma2",
                                           "gemma3", "phi3", "mistral"));

}  // namespace
}  // namespace sllm
