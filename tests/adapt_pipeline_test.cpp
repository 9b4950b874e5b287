// End-to-end fine-tuning, merging and distillation on tiny models (a few seconds each).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>

#include "../cli/inference_teacher.h"
#include "adapt_test_util.h"
#include "sllm/adapt/distill.h"
#include "sllm/adapt/finetune.h"
#include "sllm/adapt/teacher_cache.h"
#include "sllm/common/error.h"
#include "sllm/common/runtime.h"
#include "sllm/format/model_dir.h"
#include "sllm/io/file.h"
#include "sllm/model/model.h"
#include "sllm/tokenizer/fingerprint.h"
#include "sllm/tokenizer/tokenizer.h"
#include "test_arch.h"

using namespace sllm;

using sllm::test::error_of;
using sllm::test::quick_loop;

namespace {

std::string corpus(int repeat) {
  return sllm::test::adapt_corpus(repeat);
}

std::string make_model(const sllm::test::TempDir& dir, const std::string& name, int layers,
                       int embd, Arch arch, uint64_t seed) {
  return sllm::test::make_adapt_model(dir, name, layers, embd, arch, seed);
}

}  // namespace

TEST(AdaptPipeline, LoraFinetuneLearnsSavesAndMerges) {
  set_num_threads(1);
  sllm::test::TempDir dir;
  // A base that knows one text (a few full fine-tuning steps from random), then LoRA to another.
  write_file_atomic(dir.file("a.txt"), corpus(12));
  FinetuneConfig pre;
  pre.base = make_model(dir, "random", 2, 32, Arch::Llama, 1);
  pre.data = dir.file("a.txt");
  pre.out = dir.file("base");
  pre.loop = quick_loop(60);
  pre.loop.lr = 1e-2f;
  run_finetune(pre);
  const std::string base = dir.file("base");
  std::string b_text;
  for (int i = 0; i < 40; ++i) b_text += "a mat sat on the dog. the log sat on a cat. ";
  write_file_atomic(dir.file("b.txt"), b_text);
  FinetuneConfig c;
  c.base = base;
  c.data = dir.file("b.txt");
  c.out = dir.file("adapter");
  c.lora = true;
  c.lora_cfg.r = 4;
  c.lora_cfg.alpha = 8;
  c.loop = quick_loop(30);
  c.loop.lr = 3e-2f;  // LoRA moves only r=4 adapters: it takes a larger rate than full fine-tuning.
  FinetuneResult r = run_finetune(c);
  EXPECT_LT(r.loop.final_val_loss, r.initial_val_loss - 0.2) << "LoRA did not learn the new text";
  EXPECT_LT(r.trainable_params, r.total_params / 4);
  ASSERT_TRUE(file_exists(dir.file("adapter/adapter_model.safetensors")));
  ASSERT_TRUE(file_exists(dir.file("adapter/adapter_config.json")));
  ASSERT_TRUE(file_exists(dir.file("adapter/metrics.jsonl")));

  // The merged model computes what base + adapters computed in training.
  merge_adapter(base, dir.file("adapter"), dir.file("merged"));
  TrainableModel merged = load_trainable_model(dir.file("merged"));
  TrainableModel b = load_trainable_model(base);
  LoraAdapters a = LoraAdapters::load(dir.file("adapter"), b.model->config());
  LoraModel lm(*b.model, a);
  std::vector<int32_t> x = merged.tokenizer->encode("the cat sat on"), y(x.begin() + 1, x.end());
  x.pop_back();
  const float want = lm.forward(x.data(), y.data(), 1, static_cast<int>(x.size()));
  const float got = merged.model->forward(x.data(), y.data(), 1, static_cast<int>(x.size()));
  EXPECT_NEAR(got, want, 1e-4f);

  // An adapter does not load onto a different base.
  const std::string other = make_model(dir, "other", 3, 32, Arch::Llama, 2);
  EXPECT_NE(error_of([&] {
              merge_adapter(other, dir.file("adapter"), dir.file("bad"));
            }).find("different base model"),
            std::string::npos);
  EXPECT_FALSE(file_exists(dir.file("bad/model.safetensors")));
}

TEST(AdaptPipeline, FullFinetuneOnChatDataWritesAModel) {
  set_num_threads(1);
  sllm::test::TempDir dir;
  const std::string base = make_model(dir, "base", 1, 32, Arch::GPT2, 3);
  std::string jsonl;
  for (int i = 0; i < 20; ++i)
    jsonl +=
        R"({"messages":[{"role":"user","content":"say cat"},{"role":"assistant","content":"cat cat cat"}]})"
        "\n";
  write_file_atomic(dir.file("chat.jsonl"), jsonl);
  FinetuneConfig c;
  c.base = base;
  c.data = dir.file("chat.jsonl");
  c.out = dir.file("full");
  c.loop = quick_loop(25);
  FinetuneResult r = run_finetune(c);
  EXPECT_LT(r.loop.final_val_loss, r.initial_val_loss - 1.0);
  EXPECT_EQ(r.trainable_params, r.total_params);
  TrainableModel m = load_trainable_model(dir.file("full"));
  auto summary = nlohmann::json::parse(read_file(dir.file("full/finetune.json")));
  EXPECT_GT(summary["peak_rss_bytes"].get<long>(), 0);
}

TEST(AdaptPipeline, BadDatasetsAreClearErrors) {
  sllm::test::TempDir dir;
  const std::string base = make_model(dir, "base", 1, 16, Arch::GPT2, 3);
  FinetuneConfig c;
  c.base = base;
  c.out = dir.file("out");
  c.loop = quick_loop(2);
  write_file_atomic(dir.file("empty.jsonl"), "");
  c.data = dir.file("empty.jsonl");
  EXPECT_NE(error_of([&] { run_finetune(c); }).find("holds no examples"), std::string::npos);
  write_file_atomic(dir.file("bad.jsonl"), "{\"text\":\"ok\"}\n{\"messages\": 3}\n");
  c.data = dir.file("bad.jsonl");
  EXPECT_NE(error_of([&] { run_finetune(c); }).find("bad.jsonl:2:"), std::string::npos);
  c.data = dir.file("missing.txt");
  EXPECT_NE(error_of([&] { run_finetune(c); }).find("missing.txt"), std::string::npos);
}

TEST(AdaptPipeline, DistillOnTheFlyFromCacheAndSynthetic) {
  set_num_threads(1);
  sllm::test::TempDir dir;
  const std::string teacher = make_model(dir, "teacher", 2, 32, Arch::Llama, 4);
  write_file_atomic(dir.file("data.txt"), corpus(10));
  DistillConfig c;
  c.teacher = teacher;
  c.shape = StudentShape::parse("layers=1,embd=16,heads=2");
  c.data = dir.file("data.txt");
  c.loop = quick_loop(15);
  c.out = dir.file("kd");
  DistillResult r = run_distill(c);
  EXPECT_TRUE(std::isfinite(r.loop.final_val_loss));
  EXPECT_LT(r.student_params, r.teacher_params);
  EXPECT_EQ(load_trainable_model(dir.file("kd")).model->config().n_layer, 1);

  // Top-k cache: written on the first run, read on the second (same result as it replays).
  c.out = dir.file("kd_cache");
  c.teacher_cache = dir.file("teacher.topk");
  c.topk = 8;
  DistillResult r1 = run_distill(c);
  ASSERT_TRUE(file_exists(c.teacher_cache));
  EXPECT_EQ(load_teacher_cache(c.teacher_cache).k, 8);
  DistillResult r2 = run_distill(c);
  EXPECT_EQ(r1.loop.final_val_loss, r2.loop.final_val_loss);

  // Sequence-level: the teacher writes a corpus from prompts, the student learns it.
  write_file_atomic(dir.file("prompts.txt"), "the cat\n\nthe dog\n");
  c.mode = "synthetic";
  cli::InferenceTeacher generator(teacher, load_trainable_model(teacher).tokenizer);
  c.generator = &generator;
  c.teacher_cache.clear();
  c.synthetic.prompts = dir.file("prompts.txt");
  c.synthetic.samples_per_prompt = 2;
  c.synthetic.max_tokens = 20;
  c.out = dir.file("syn");
  DistillResult r3 = run_distill(c);
  EXPECT_GT(r3.synthetic_tokens, 40u);
  EXPECT_TRUE(file_exists(dir.file("syn/synthetic.txt")));
}

TEST(AdaptPipeline, TeacherAndStudentMustShareTheTokenizer) {
  sllm::test::TempDir dir;
  const std::string teacher = make_model(dir, "teacher", 1, 16, Arch::GPT2, 4);
  ModelConfig c;
  c.vocab_size = 257;
  c.n_layer = 1;
  c.n_head = c.n_kv_head = 2;
  c.n_embd = 16;
  c.block_size = 32;
  Model m(c);
  m.init_weights(1);
  ByteTokenizer other_specials({"<|im_start|>"});
  save_model_dir(dir.file("student"), m, other_specials);
  write_file_atomic(dir.file("data.txt"), corpus(4));
  DistillConfig d;
  d.teacher = teacher;
  d.student = dir.file("student");
  d.data = dir.file("data.txt");
  d.out = dir.file("out");
  d.loop = quick_loop(2);
  EXPECT_NE(error_of([&] { run_distill(d); }).find("different tokenizers"), std::string::npos);
}
