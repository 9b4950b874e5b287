// sllm eval --tasks (sllm/infer/multiple_choice.h): the published layouts converted as
// lm-eval converts them, bad rows named by line, and acc/acc_norm equal to a PyTorch reference
// (tests/reference/choice_ref.py) scoring the same requests with the same exported weights.
#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "adapt_test_util.h"
#include "sllm/format/model_tokenizer.h"
#include "sllm/infer/multiple_choice.h"
#include "sllm/io/file.h"

using namespace sllm;

TEST(ChoiceTasks, ConvertsHellaSwagArcAndMmlu) {
  auto items = parse_task_jsonl(
      R"({"ctx_a": "A man is on a roof.", "ctx_b": "HE", "activity_label": "Roofing", "endings": ["is [title] up.", "sits  down."], "label": "1"})"
      "\n"
      R"({"question": "Why?", "choices": {"text": ["a", "b", "c"], "label": ["A", "B", "C"]}, "answerKey": "C"})"
      "\n\n"
      R"({"question": " 2+2? ", "choices": ["3", "4"], "answer": 1, "subject": "high_school_math"})"
      "\n"
      R"({"context": "x", "choices": ["y", "z"], "gold": 0})",
      "t.jsonl");
  ASSERT_EQ(items.size(), 4u);
  EXPECT_EQ(items[0].context, "Roofing: A man is on a roof. He");
  EXPECT_EQ(items[0].choices, (std::vector<std::string>{"is. up.", "sits down."}));
  EXPECT_EQ(items[0].gold, 1);
  EXPECT_EQ(items[1].context, "Question: Why?\nAnswer:");
  EXPECT_EQ(items[1].gold, 2);
  EXPECT_EQ(items[2].context, "2+2?\nA. 3\nB. 4\nAnswer:");
  EXPECT_EQ(items[2].choices, (std::vector<std::string>{"A", "B"}));
  EXPECT_EQ(items[2].line, 4);
  EXPECT_EQ(items[2].description,
            "The following are multiple choice questions (with answers) about high school "
            "math.\n\n");
  EXPECT_EQ(items[3].gold, 0);
}

TEST(ChoiceTasks, BadRowsNameTheirLine) {
  auto err = [](const std::string& s) {
    return test::error_of([&] { parse_task_jsonl(s, "t.jsonl"); });
  };
  const std::string ok = R"({"context": "x", "choices": ["y", "z"], "gold": 0})";
  EXPECT_NE(err(ok + "\n" + R"({"context": "x", "choices": ["y", "z"], "gold": 2})")
                .find("t.jsonl:2: gold answer 2"),
            std::string::npos);
  EXPECT_NE(err(ok + "\n{").find("t.jsonl:2: not a JSON object"), std::string::npos);
  EXPECT_NE(err(R"({"context": "x", "choices": ["y"], "gold": 0})").find("t.jsonl:1: 'choices'"),
            std::string::npos);
  EXPECT_NE(err(R"({"prompt": "x"})").find("t.jsonl:1: not a task row"), std::string::npos);
}

TEST(ChoiceTasks, MetricsAreLmEvals) {
  ChoiceResult r;
  // Item 0: the longer gold choice loses on ll but wins per byte; item 1: gold wins both.
  choice_metrics({{-4.0, -3.0}, {-1.0, -2.0}}, {{8, 2}, {1, 1}}, {0, 0}, r);
  EXPECT_EQ(r.acc, 0.5);
  EXPECT_EQ(r.acc_norm, 1.0);
  EXPECT_NEAR(r.acc_stderr, 0.5, 1e-12);  // sqrt(0.5 / 1) / sqrt(2)
  EXPECT_EQ(r.acc_norm_stderr, 0.0);
  const auto j = lm_eval_results("t", r, 2);
  EXPECT_EQ(j["results"]["t"]["acc"], 0.5);
  EXPECT_EQ(j["results"]["t"]["acc_norm,none"], 1.0);
  EXPECT_EQ(j["n-shot"]["t"], 2);
}

TEST(ChoiceTasks, ScoresEqualThePyTorchReference) {
  test::TempDir dir;
  const std::string model_dir = test::make_adapt_model(dir, "model", 2, 16, Arch::Llama, 11);
  std::string rows;
  const char* words[] = {"cat", "dog", "mat", "log", "sat on the", "a", "and the"};
  for (int i = 0; i < 9; ++i) {
    nlohmann::json choices = nlohmann::json::array();
    for (int c = 0; c < 3 + i % 2; ++c) choices.push_back(words[(i + 2 * c) % 7]);
    rows += nlohmann::json{{"context", std::string("the ") + words[i % 7] + " sat on the"},
                           {"choices", choices},
                           {"gold", i % 3}}
                .dump() +
            "\n";
  }
  write_file_atomic(dir.file("t.jsonl"), rows);
  const auto items = read_task_jsonl(dir.file("t.jsonl"));
  auto model = InferenceModel::load(model_dir);
  const auto tok = model_tokenizer(model->files());
  ChoiceOptions opt;
  opt.fewshot = 2;  // 2 shots make the later contexts longer than the model's 32 positions
  opt.batch = 3;
  const ChoiceResult r = score_choices(*model, items, *tok, opt);
  ASSERT_EQ(r.n, 7u);

  nlohmann::json req = {{"items", nlohmann::json::array()}};
  const auto reqs = choice_requests(items, *tok, opt);
  for (size_t i = 0; i < reqs.size(); ++i) {
    nlohmann::json cs = nlohmann::json::array();
    for (const auto& q : reqs[i])
      cs.push_back(
          {{"context", q.context}, {"continuation", q.continuation}, {"bytes", q.choice_bytes}});
    req["items"].push_back({{"gold", items[opt.fewshot + i].gold}, {"choices", cs}});
  }
  write_file_atomic(dir.file("requests.json"), req.dump());
  const std::string cmd = "env -u DNNL_MAX_CPU_ISA -u ONEDNN_MAX_CPU_ISA /usr/bin/python3 " +
                          test::source_dir() + "/tests/reference/choice_ref.py " + dir.path();
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  const auto ref = nlohmann::json::parse(read_file(dir.file("reference.json")));
  for (size_t i = 0; i < r.n; ++i)
    for (size_t c = 0; c < r.loglikelihoods[i].size(); ++c) {
      const double want = ref["loglikelihoods"][i][c].get<double>();
      EXPECT_NEAR(r.loglikelihoods[i][c], want, 1e-4 * std::fabs(want)) << i << "," << c;
    }
  EXPECT_EQ(r.acc, ref["acc"].get<double>());
  EXPECT_EQ(r.acc_norm, ref["acc_norm"].get<double>());
  EXPECT_NEAR(r.acc_stderr, ref["acc_stderr"].get<double>(), 1e-12);
  EXPECT_NEAR(r.acc_norm_stderr, ref["acc_norm_stderr"].get<double>(), 1e-12);
}
