// Bad input to fine-tuning, merging and distillation: a clear error (naming the file, line or
// both models), exit status 1 from the CLI, and nothing already on disk is lost or replaced.
#include <gtest/gtest.h>

#include <string>

#include "../cli/inference_teacher.h"
#include "adapt_test_util.h"
#include "sllm/adapt/distill.h"
#include "sllm/adapt/finetune.h"
#include "sllm/io/file.h"
#include "sllm/model/lora_adapter.h"
#include "test_arch.h"

using namespace sllm;
using sllm::test::error_of;
using sllm::test::make_adapt_model;
using sllm::test::quick_loop;

namespace {

using test::CliRun;

CliRun run_cli(const std::string& args) {
  return test::run_sllm(args);
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace

TEST(AdaptBadInput, DistillRefusesAStudentWithAnotherTokenizer) {
  test::TempDir dir;
  const std::string teacher = make_adapt_model(dir, "teacher", 1, 16, Arch::GPT2, 1);
  const std::string student =
      make_adapt_model(dir, "student", 1, 16, Arch::GPT2, 2, {"<|im_start|>"});
  write_file_atomic(dir.file("data.txt"), test::adapt_corpus(4));
  CliRun r =
      run_cli("distill --teacher " + teacher + " --student " + student + " --data " +
              dir.file("data.txt") + " --out " + dir.file("out") + " --max-iters 2 --threads 1");
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_TRUE(contains(r.out, "different tokenizers")) << r.out;
  EXPECT_TRUE(contains(r.out, teacher) && contains(r.out, student)) << r.out;
  EXPECT_FALSE(file_exists(dir.file("out"))) << "nothing is written for a refused student";
}

TEST(AdaptBadInput, TeacherCacheOfAnotherTokenizerIsRefusedAndKept) {
  set_num_threads(1);
  test::TempDir dir;
  write_file_atomic(dir.file("data.txt"), test::adapt_corpus(6));
  DistillConfig c;
  c.teacher = make_adapt_model(dir, "teacher", 1, 16, Arch::Llama, 1);
  c.shape = StudentShape::parse("layers=1,embd=16,heads=2");
  c.data = dir.file("data.txt");
  c.teacher_cache = dir.file("teacher.topk");
  c.topk = 4;
  c.loop = quick_loop(2);
  c.out = dir.file("kd");
  run_distill(c);
  const std::string cache_bytes = read_file(c.teacher_cache);

  // Same shapes and vocabulary size, other special tokens: its ids mean other things.
  c.teacher = make_adapt_model(dir, "other", 1, 16, Arch::Llama, 1, {"<|im_start|>"});
  c.out = dir.file("kd2");
  const std::string e = error_of([&] { run_distill(c); });
  EXPECT_TRUE(contains(e, "made with another tokenizer")) << e;
  EXPECT_TRUE(contains(e, c.teacher_cache)) << e;
  EXPECT_TRUE(read_file(c.teacher_cache) == cache_bytes);
  EXPECT_FALSE(file_exists(dir.file("kd2/model.safetensors")));
}

TEST(AdaptBadInput, MergingAnAdapterOfAnotherBaseFailsAndKeepsTheOutput) {
  test::TempDir dir;
  const std::string small = make_adapt_model(dir, "small", 1, 16, Arch::Llama, 1);
  const std::string wide = make_adapt_model(dir, "wide", 1, 32, Arch::Llama, 1);
  LoraConfig lc;
  lc.r = 2;
  LoraAdapters a(load_trainable_model(small).model->config(), lc);
  a.init(1);
  a.save(dir.file("adapter"), small);
  // A previous merge result in the output folder must survive the failed merge.
  merge_adapter(small, dir.file("adapter"), dir.file("merged"));
  const std::string before = read_file(dir.file("merged/model.safetensors"));

  CliRun r = run_cli("merge --base " + wide + " --adapter " + dir.file("adapter") + " --out " +
                     dir.file("merged"));
  EXPECT_EQ(r.rc, 1) << r.out;
  EXPECT_TRUE(contains(r.out, "different base model")) << r.out;
  EXPECT_TRUE(read_file(dir.file("merged/model.safetensors")) == before);

  // A LoRA fine-tune started from an adapter folder that is not one: clear error.
  make_dirs(dir.file("not_adapter"));
  write_file_atomic(dir.file("not_adapter/adapter_config.json"), "{\"peft_type\": \"PREFIX\"}");
  EXPECT_TRUE(
      contains(error_of([&] { merge_adapter(small, dir.file("not_adapter"), dir.file("m2")); }),
               "adapter_config.json"));
  EXPECT_FALSE(file_exists(dir.file("m2")));
}

TEST(AdaptBadInput, EmptyOrInvalidDatasetsNameTheFileAndLine) {
  test::TempDir dir;
  const std::string base = make_adapt_model(dir, "base", 1, 16, Arch::Llama, 3);
  write_file_atomic(dir.file("empty.txt"), "");
  write_file_atomic(dir.file("short.txt"), "the cat");
  write_file_atomic(dir.file("blank.jsonl"), "\n \n\n");
  write_file_atomic(
      dir.file("bad.jsonl"),
      "{\"text\": \"the cat sat on the mat\"}\n\n{\"messages\": [{\"role\": \"user\"}]}\n");
  write_file_atomic(dir.file("good.txt"), test::adapt_corpus(6));

  const std::string args =
      "finetune --base " + base + " --lora-r 2 --max-iters 2 --threads 1 --out " + dir.file("out");
  // A first, good run writes an adapter; every failing run after it must leave it untouched.
  const CliRun good = run_cli(args + " --data " + dir.file("good.txt"));
  ASSERT_EQ(good.rc, 0) << good.out;
  const std::string adapter = read_file(dir.file("out/adapter_model.safetensors"));

  const struct {
    const char* file;
    const char* message;
  } cases[] = {{"empty.txt", "empty.txt is empty"},
               {"short.txt", "short.txt is too short to hold out validation rows"},
               {"blank.jsonl", "blank.jsonl holds no examples"},
               {"bad.jsonl", "bad.jsonl:3:"},
               {"missing.jsonl", "missing.jsonl"}};
  for (const auto& c : cases) {
    CliRun r = run_cli(args + " --data " + dir.file(c.file));
    EXPECT_EQ(r.rc, 1) << c.file << ": " << r.out;
    EXPECT_TRUE(contains(r.out, c.message)) << c.file << ": " << r.out;
  }
  EXPECT_TRUE(read_file(dir.file("out/adapter_model.safetensors")) == adapter);

  // Distillation reads its data the same way.
  CliRun r = run_cli("distill --teacher " + base + " --student-shape layers=1 --data " +
                     dir.file("bad.jsonl") + " --out " + dir.file("kd") + " --threads 1");
  EXPECT_EQ(r.rc, 1);
  EXPECT_TRUE(contains(r.out, "bad.jsonl:3:")) << r.out;
}

TEST(AdaptBadInput, SyntheticPromptsNameTheFileAndLine) {
  set_num_threads(1);
  test::TempDir dir;
  const std::string teacher = make_adapt_model(dir, "teacher", 1, 16, Arch::Llama, 1);
  write_file_atomic(dir.file("data.txt"), test::adapt_corpus(4));
  write_file_atomic(dir.file("none.txt"), "\n  \n");
  write_file_atomic(dir.file("long.txt"), "the cat\n\n" + std::string(40, 'x') + "\n");
  DistillConfig c;
  c.mode = "synthetic";
  c.teacher = teacher;
  c.shape = StudentShape::parse("layers=1");
  c.data = dir.file("data.txt");
  c.out = dir.file("syn");
  c.loop = quick_loop(2);
  cli::InferenceTeacher generator(teacher, load_trainable_model(teacher).tokenizer);
  c.generator = &generator;
  c.synthetic.prompts = dir.file("none.txt");
  EXPECT_TRUE(contains(error_of([&] { run_distill(c); }), "none.txt holds no prompts"));
  c.synthetic.prompts = dir.file("long.txt");
  const std::string e = error_of([&] { run_distill(c); });
  EXPECT_TRUE(contains(e, "long.txt:3: the prompt (40 tokens) does not fit")) << e;
  c.synthetic.prompts.clear();
  EXPECT_TRUE(contains(error_of([&] { run_distill(c); }), "--prompts"));
}
