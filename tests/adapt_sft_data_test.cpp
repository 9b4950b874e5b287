#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "sllm/adapt/sft_data.h"
#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "test_util.h"

using namespace sllm;

namespace {

// One token per byte, so rendered text and tokens line up one to one.
std::vector<int32_t> bytes(std::string_view s) {
  std::vector<int32_t> out;
  for (unsigned char c : s) out.push_back(c);
  return out;
}

std::string error_of(const std::string& jsonl) {
  try {
    parse_sft_jsonl(jsonl, "d.jsonl");
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(AdaptSftData, LossCountsOnlyAssistantTokens) {
  auto ex = parse_sft_jsonl(
      R"({"messages":[{"role":"system","content":"S"},{"role":"user","content":"hi"},{"role":"assistant","content":"yo"}]})",
      "d.jsonl");
  ASSERT_EQ(ex.size(), 1u);
  auto seg = render_chat("chatml", ex[0].messages);
  std::string all, trained;
  for (auto& s : seg) {
    all += s.text;
    if (s.train) trained += s.text;
  }
  EXPECT_EQ(all,
            "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>"
            "assistant\nyo<|im_end|>\n");
  EXPECT_EQ(trained, "yo<|im_end|>");

  const int T = 16;
  PackedSequences p = pack_sft(ex, "chatml", bytes, -1, T, "d.jsonl");
  std::string target_text;
  for (size_t r = 0; r < p.rows; ++r)
    for (int t = 0; t < T; ++t) {
      int32_t y = p.row_targets(r)[t];
      if (y >= 0) target_text += static_cast<char>(y);
    }
  EXPECT_EQ(target_text, "yo<|im_end|>");
  EXPECT_EQ(p.trained_tokens, target_text.size());
  // Targets are next tokens: where a target is set it equals the following input.
  for (size_t r = 0; r < p.rows; ++r)
    for (int t = 0; t + 1 < T; ++t)
      if (p.row_targets(r)[t] >= 0) {
        EXPECT_EQ(p.row_targets(r)[t], p.row_inputs(r)[t + 1]);
      }
}

TEST(AdaptSftData, PacksExamplesIntoRowsAndDropsUntrainedRows) {
  std::string jsonl;
  for (int i = 0; i < 10; ++i)
    jsonl += R"({"messages":[{"role":"user","content":"question number )" + std::to_string(i) +
             R"("},{"role":"assistant","content":"answer"}]})" + "\n\n";
  auto ex = parse_sft_jsonl(jsonl, "d.jsonl");
  ASSERT_EQ(ex.size(), 10u);
  EXPECT_EQ(ex[3].line, 7);  // Blank lines count in line numbers.
  PackedSequences p = pack_sft(ex, "plain", bytes, 1, 8, "d.jsonl");
  EXPECT_EQ(p.inputs.size(), p.rows * 8);
  EXPECT_EQ(p.trained_tokens, 10u * std::string("answer\n").size());
  for (size_t r = 0; r < p.rows; ++r) {
    int n = 0;
    for (int t = 0; t < 8; ++t) n += p.row_targets(r)[t] >= 0;
    EXPECT_GT(n, 0) << "row " << r << " has nothing to train";
  }
  PackedSequences tr, va;
  split_rows(p, 0.2, tr, va);
  EXPECT_EQ(tr.rows + va.rows, p.rows);
  EXPECT_GE(va.rows, 1u);
  EXPECT_EQ(tr.trained_tokens + va.trained_tokens, p.trained_tokens);
}

TEST(AdaptSftData, TextExamplesAndPlainTokensTrainEveryToken) {
  auto ex = parse_sft_jsonl(R"({"text":"abcdef"})", "d.jsonl");
  PackedSequences p = pack_sft(ex, "chatml", bytes, -1, 4, "d.jsonl");
  EXPECT_EQ(p.trained_tokens, 5u);
  EXPECT_EQ(p.rows, 2u);
  EXPECT_EQ(p.row_targets(1)[1], -1);  // Padding.
  PackedSequences q = pack_tokens({1, 2, 3, 4, 5, 6}, 4);
  EXPECT_EQ(q.inputs, std::vector<int32_t>({1, 2, 3, 4, 5, 0, 0, 0}));
  EXPECT_EQ(q.trained_tokens, 5u);
}

TEST(AdaptSftData, BadLinesNameTheLine) {
  const std::string ok =
      R"({"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]})";
  EXPECT_NE(error_of(ok + "\n{not json\n").find("d.jsonl:2: invalid JSON"), std::string::npos);
  // A number past double's range is nlohmann's out_of_range, not a parse_error (libFuzzer).
  EXPECT_NE(error_of(ok + "\n5e0511\n").find("d.jsonl:2: invalid JSON"), std::string::npos);
  EXPECT_NE(error_of(ok + "\n\n[1,2]\n").find("d.jsonl:3:"), std::string::npos);
  EXPECT_NE(error_of(R"({"messages":[{"role":"bot","content":"x"}]})").find("role 'bot'"),
            std::string::npos);
  EXPECT_NE(
      error_of(R"({"messages":[{"role":"user","content":"x"}]})").find("no assistant message"),
      std::string::npos);
  EXPECT_NE(error_of(R"({"messages":[{"role":"user","content":3}]})")
                .find("message 1 needs a string 'content'"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"messages":[]})").find("'messages' is empty"), std::string::npos);
  EXPECT_NE(error_of(R"({"prompt":"x"})").find("d.jsonl:1:"), std::string::npos);
}

TEST(AdaptSftData, EmptyDatasetAndUntokenizableTextAreClearErrors) {
  sllm::test::TempDir dir;
  write_file_atomic(dir.file("empty.jsonl"), "\n  \n");
  try {
    read_sft_jsonl(dir.file("empty.jsonl"));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("holds no examples"), std::string::npos);
  }
  auto ex = parse_sft_jsonl(
      "\n"
      R"({"text":"ok"})"
      "\n"
      R"({"text":"bad"})",
      "d.jsonl");
  EncodeFn picky = [](std::string_view s) {
    if (s.find('b') != std::string_view::npos) fail("character 'b' is not in the vocabulary");
    return bytes(s);
  };
  try {
    pack_sft(ex, "chatml", picky, -1, 4, "d.jsonl");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("d.jsonl:3: cannot tokenize"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(render_chat("nope", ex[0].messages), Error);
}

namespace sllm {
namespace {

std::string trained_text(const std::vector<TextSegment>& seg, std::string* all = nullptr) {
  std::string t;
  for (const auto& s : seg) {
    if (all) *all += s.text;
    if (s.train) t += s.text;
  }
  return t;
}

TEST(AdaptSftData, JinjaTemplateMasksFollowRendering) {
  std::vector<ChatMessage> m = {
      {"system", "S"}, {"user", "hi"}, {"assistant", "yo"}, {"user", "again"}, {"assistant", "ok"}};
  std::string all;
  // Without {% generation %} markers: what each assistant message adds after the prompt.
  EXPECT_EQ(trained_text(render_chat(ChatTemplate::named("llama3"), m), &all),
            "yo<|eot_id|>ok<|eot_id|>");
  EXPECT_EQ(all, ChatTemplate::named("llama3").apply(m, false));
  // With markers: exactly the marked spans.
  auto marked = ChatTemplate::jinja(
      "{% for m in messages %}<{{ m.role }}>{% if m.role == 'assistant' %}{% generation %}"
      "{{ m.content }}</s>{% endgeneration %}{% else %}{{ m.content }}{% endif %}{% endfor %}"
      "{% if add_generation_prompt %}<assistant>{% endif %}",
      "", "</s>");
  EXPECT_EQ(trained_text(render_chat(marked, m)), "yo</s>ok</s>");
  // A template that drops earlier turns cannot give masks by rendering: a clear error.
  auto last_only = ChatTemplate::jinja(
      "{{ messages[-1].content }}{% if add_generation_prompt %}>{% endif %}", "", "");
  std::string e;
  try {
    render_chat(last_only, m);
  } catch (const Error& err) {
    e = err.what();
  }
  EXPECT_NE(e.find("generation"), std::string::npos) << e;
}

}  // namespace
}  // namespace sllm
