// Preference data (TRL's layouts, sllm/adapt/preference_data.h), the SFT layouts beside it
// (ShareGPT, prompt-completion), and `sllm finetune --method dpo|orpo` on a tiny model.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "adapt_test_util.h"
#include "sllm/adapt/finetune.h"
#include "sllm/adapt/preference_data.h"
#include "sllm/io/file.h"

using namespace sllm;

namespace {

const EncodeFn kBytes = [](std::string_view s) { return std::vector<int32_t>(s.begin(), s.end()); };
const ChatRenderFn kChatml = [](const std::vector<ChatMessage>& m) {
  return render_chat("chatml", m);
};

std::string error_parsing(const std::string& jsonl) {
  return test::error_of([&] { parse_preference_jsonl(jsonl, "p.jsonl"); });
}

}  // namespace

TEST(PreferenceData, ReadsTrlLayouts) {
  auto ex = parse_preference_jsonl(R"({"prompt": "Q", "chosen": "yes", "rejected": "no", "id": 7})"
                                   "\n\n"
                                   R"({"chosen": "a", "rejected": "b"})",
                                   "p.jsonl");
  ASSERT_EQ(ex.size(), 2u);
  EXPECT_EQ(ex[0].prompt_text, "Q");
  EXPECT_EQ(ex[1].line, 3);
  EXPECT_EQ(ex[1].prompt_text, "");

  auto conv = parse_preference_jsonl(
      R"({"prompt": [{"role": "user", "content": "hi"}], "chosen": [{"role": "assistant", "content": "hello"}], "rejected": [{"role": "assistant", "content": "go"}]})"
      "\n"
      R"({"chosen": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "A"}], "rejected": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "B"}]})",
      "c.jsonl");
  ASSERT_EQ(conv.size(), 2u);
  EXPECT_TRUE(conv[1].conversational);
  ASSERT_EQ(conv[1].prompt.size(), 1u);  // the implicit prompt: the shared first message
  EXPECT_EQ(conv[1].chosen.back().content, "A");
}

TEST(PreferenceData, BadRowsNameTheirLine) {
  const std::string good = R"({"prompt": "Q", "chosen": "yes", "rejected": "no"})";
  EXPECT_NE(error_parsing(good + "\n" + R"({"prompt": "Q", "chosen": "yes"})")
                .find("p.jsonl:2: missing 'rejected'"),
            std::string::npos);
  EXPECT_NE(
      error_parsing(R"({"prompt": "Q", "rejected": "no"})").find("p.jsonl:1: missing 'chosen'"),
      std::string::npos);
  EXPECT_NE(error_parsing(good + "\n\n" + R"({"prompt": "Q", "chosen": "", "rejected": "no"})")
                .find("p.jsonl:3: 'chosen' is an empty completion"),
            std::string::npos);
  EXPECT_NE(
      error_parsing(
          R"({"chosen": [{"role": "assistant", "content": ""}], "rejected": [{"role": "assistant", "content": "x"}]})")
          .find("p.jsonl:1: 'chosen' is an empty completion"),
      std::string::npos);
  EXPECT_NE(error_parsing(good + "\n{oops").find("p.jsonl:2: invalid JSON"), std::string::npos);
  EXPECT_NE(error_parsing(R"({"prompt": "Q", "chosen": [], "rejected": "no"})").find("p.jsonl:1:"),
            std::string::npos);
  EXPECT_NE(
      error_parsing(
          good + "\n" +
          R"({"chosen": [{"role": "assistant", "content": "x"}], "rejected": [{"role": "assistant", "content": "y"}]})")
          .find("p.jsonl:2: mixes conversational and standard rows"),
      std::string::npos);
}

TEST(PreferenceData, PacksCompletionTargetsAndKeepsTheEndOfLongPrompts) {
  auto ex =
      parse_preference_jsonl(R"({"prompt": "abcdef", "chosen": "XY", "rejected": "Z"})", "p.jsonl");
  PreferencePairs p = pack_preferences(ex, kChatml, kBytes, 1, 2, 6, "p.jsonl");
  ASSERT_EQ(p.pairs, 1u);
  // chosen: BOS a b c d e f X Y EOS is 10 tokens, 9 positions: the prompt loses its start.
  const int32_t* in = p.row_inputs(0, 0);
  const int32_t* tg = p.row_targets(0, 0);
  EXPECT_EQ(std::vector<int32_t>(in, in + 6), (std::vector<int32_t>{'c', 'd', 'e', 'f', 'X', 'Y'}));
  EXPECT_EQ(std::vector<int32_t>(tg, tg + 6), (std::vector<int32_t>{-1, -1, -1, 'X', 'Y', 2}));
  // rejected: BOS a..f Z EOS is 9 tokens, 8 positions.
  tg = p.row_targets(0, 1);
  EXPECT_EQ(std::vector<int32_t>(tg, tg + 6), (std::vector<int32_t>{-1, -1, -1, -1, 'Z', 2}));

  auto conv = parse_preference_jsonl(
      R"({"prompt": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "old"}, {"role": "user", "content": "r"}], "chosen": [{"role": "assistant", "content": "A"}], "rejected": [{"role": "assistant", "content": "B"}]})",
      "c.jsonl");
  PreferencePairs c = pack_preferences(conv, kChatml, kBytes, -1, -1, 128, "c.jsonl");
  std::string trained;
  for (int t = 0; t < 128; ++t)
    if (c.row_targets(0, 0)[t] >= 0) trained += static_cast<char>(c.row_targets(0, 0)[t]);
  EXPECT_EQ(trained, "A<|im_end|>");  // not the prompt's earlier assistant turn
}

TEST(SftData, ReadsShareGptAndPromptCompletion) {
  auto ex = parse_sft_jsonl(
      R"({"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}]})"
      "\n"
      R"({"prompt": "Q:", "completion": " A"})"
      "\n"
      R"({"prompt": [{"role": "user", "content": "x"}], "completion": [{"role": "assistant", "content": "y"}]})",
      "s.jsonl");
  ASSERT_EQ(ex.size(), 3u);
  EXPECT_EQ(ex[0].messages[1].role, "assistant");
  EXPECT_EQ(ex[1].prompt, "Q:");
  EXPECT_EQ(ex[1].text, " A");
  EXPECT_EQ(ex[2].messages.size(), 2u);
  PackedSequences p = pack_sft({ex[1]}, "chatml", kBytes, -1, 8, "s.jsonl");
  EXPECT_EQ(p.trained_tokens, 2u);  // " A" only
  auto err = [](const std::string& s) {
    return test::error_of([&] { parse_sft_jsonl(s, "s.jsonl"); });
  };
  EXPECT_NE(err(R"({"prompt": "Q", "completion": ""})").find("s.jsonl:1: 'completion' is empty"),
            std::string::npos);
  EXPECT_NE(err(R"({"prompt": "Q"})").find("s.jsonl:1: missing 'completion'"), std::string::npos);
  EXPECT_NE(err(R"({"conversations": [{"from": "bot", "value": "x"}]})").find("'bot'"),
            std::string::npos);
}

namespace {

// Prompts "the cat sat on the", chosen the true next word, rejected a wrong one.
std::string preference_rows(int n) {
  const char* words[] = {"mat", "log", "dog", "cat"};
  std::string s;
  for (int i = 0; i < n; ++i)
    s += nlohmann::json{{"prompt", i % 2 ? "the dog sat on the " : "the cat sat on the "},
                        {"chosen", i % 2 ? "log." : "mat."},
                        {"rejected", std::string(words[2 + i % 2]) + "."}}
             .dump() +
         "\n";
  return s;
}

FinetuneConfig preference_config(const test::TempDir& dir, const std::string& method) {
  FinetuneConfig c;
  c.base = test::make_adapt_model(dir, "base", 1, 16, Arch::Llama, 3);
  c.data = dir.file("pref.jsonl");
  write_file_atomic(c.data, preference_rows(24));
  c.out = dir.file("out");
  c.method = method;
  c.lora = true;
  c.lora_cfg.r = 4;
  c.loop = test::quick_loop(30);
  c.loop.lr = 3e-2f;
  c.loop.eval_interval = 10;
  c.preference.beta = 0.5f;
  return c;
}

std::vector<nlohmann::json> records(const std::string& out) {
  std::vector<nlohmann::json> v;
  std::ifstream in(out + "/metrics.jsonl");
  for (std::string line; std::getline(in, line);) v.push_back(nlohmann::json::parse(line));
  return v;
}

}  // namespace

// The first evaluation's largest |reward|: the policy is the reference there, so every reward
// is 0 up to float32 rounding (the Trainer's forward is not bit-identical to the one before it).
double recs_at_start_rewards(const std::string& out) {
  const auto r = records(out).front();
  return std::max(std::fabs(r["eval_rewards/chosen"].get<double>()),
                  std::fabs(r["eval_rewards/rejected"].get<double>()));
}

TEST(PreferenceFinetune, LoraDpoLearnsThePreferenceAndLogsTrlRewards) {
  test::TempDir dir;
  FinetuneConfig c = preference_config(dir, "dpo");
  const FinetuneResult r = run_finetune(c);
  EXPECT_EQ(r.loop.steps, 30);
  EXPECT_NEAR(r.initial_val_loss, std::log(2.0), 1e-6);  // the policy starts as the reference
  EXPECT_LT(recs_at_start_rewards(c.out), 1e-6);
  EXPECT_LT(r.loop.final_val_loss, 0.8 * std::log(2.0));
  const auto recs = records(c.out);
  ASSERT_TRUE(recs[0].contains("eval_rewards/accuracies"));
  EXPECT_GE(recs.back()["eval_rewards/accuracies"].get<double>(), 1.0);
  for (const char* k : {"rewards/chosen", "rewards/rejected", "rewards/margins",
                        "rewards/accuracies", "logps/chosen", "logps/rejected"})
    EXPECT_TRUE(recs[1].contains(k)) << k;
  EXPECT_TRUE(file_exists(c.out + "/reference_logps.json"));
  EXPECT_TRUE(file_exists(c.out + "/adapter_model.safetensors"));
}

TEST(PreferenceFinetune, FullOrpoAndIpoTrain) {
  for (const char* method : {"orpo", "ipo"}) {
    test::TempDir dir;
    FinetuneConfig c = preference_config(dir, std::string(method) == "ipo" ? "dpo" : method);
    if (std::string(method) == "ipo") c.preference.type = PreferenceLossType::Ipo;
    c.lora = false;
    c.loop.lr = 3e-3f;
    const FinetuneResult r = run_finetune(c);
    EXPECT_LT(r.loop.final_val_loss, r.initial_val_loss) << method;
    const auto recs = records(c.out);
    EXPECT_GT(recs.back()["eval_rewards/margins"].get<double>(),
              recs.front()["eval_rewards/margins"].get<double>())
        << method;
    EXPECT_EQ(file_exists(c.out + "/reference_logps.json"), std::string(method) == "ipo");
  }
}

TEST(PreferenceFinetune, RefusesBadDataBeforeTraining) {
  test::TempDir dir;
  FinetuneConfig c = preference_config(dir, "dpo");
  write_file_atomic(c.data, preference_rows(5) + R"({"prompt": "x", "chosen": "y"})" + "\n");
  EXPECT_NE(test::error_of([&] { run_finetune(c); }).find("pref.jsonl:6: missing 'rejected'"),
            std::string::npos);
  EXPECT_FALSE(file_exists(c.out + "/metrics.jsonl"));
  c.method = "kto";
  EXPECT_NE(test::error_of([&] { run_finetune(c); }).find("'kto'"), std::string::npos);
}
