// Synthetic-data generation: batched decoding over KV caches gives the same corpus as one
// sequence at a time, with the requested number of samples per prompt (the CLI's glue of the
// inference engine to adapt's SyntheticTeacher).
#include <gtest/gtest.h>

#include <sstream>

#include "../cli/inference_teacher.h"
#include "adapt_test_util.h"
#include "sllm/adapt/synthetic.h"
#include "sllm/io/file.h"
#include "test_arch.h"

using namespace sllm;

TEST(AdaptSynthetic, BatchedGenerationEqualsOneAtATime) {
  set_num_threads(1);
  test::TempDir dir;
  const std::string path = test::make_adapt_model(dir, "teacher", 2, 32, Arch::Llama, 7);
  TrainableModel tm = load_trainable_model(path);
  auto teacher = std::make_unique<cli::InferenceTeacher>(path, tm.tokenizer);
  write_file_atomic(dir.file("prompts.txt"), "the cat\n\nthe dog sat\na\n");
  const std::vector<Prompt> prompts = read_prompts(dir.file("prompts.txt"));
  ASSERT_EQ(prompts.size(), 3u);
  EXPECT_EQ(prompts[1].line, 3);

  SyntheticOptions o;
  o.samples_per_prompt = 2;
  o.max_tokens = 12;
  o.sampling.temperature = 0.9f;
  o.sampling.seed = 5;
  o.batch = 1;
  const SyntheticCorpus one = synthesize_corpus(*teacher, *tm.tokenizer, prompts, o);
  o.batch = 4;  // Slots are reused: 6 samples through 4 slots.
  const SyntheticCorpus batched = synthesize_corpus(*teacher, *tm.tokenizer, prompts, o);
  EXPECT_EQ(one.text, batched.text);
  EXPECT_EQ(one.generated_tokens, batched.generated_tokens);
  EXPECT_EQ(batched.sequences, 6u);
  EXPECT_GT(batched.generated_tokens, 0u);
  EXPECT_LE(batched.generated_tokens, 6u * 12u);

  // The corpus is in prompt order and each sample starts with its prompt.
  EXPECT_EQ(batched.text.rfind("the cat", 0), 0u);
  o.sampling.seed = 6;
  EXPECT_NE(synthesize_corpus(*teacher, *tm.tokenizer, prompts, o).text, batched.text);
}
