#include "sllm/tokenizer/bpe.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <sstream>

#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "sllm/io/gguf.h"
#include "sllm/tokenizer/loaders.h"
#include "test_util.h"

using namespace sllm;

namespace {

struct VocabCase {
  std::string input;
  std::vector<int32_t> ids;
};

// llama.cpp's tokenizer test files: inputs separated by "\n__ggml_vocab_test__\n", one line of
// ids per input in the .out file.
std::vector<VocabCase> read_cases(const std::string& base) {
  std::string inp = read_file(base + ".inp"), out = read_file(base + ".out");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<VocabCase> cases;
  size_t pos = 0;
  for (size_t q; (q = inp.find(sep, pos)) != std::string::npos; pos = q + sep.size())
    cases.push_back({inp.substr(pos, q - pos), {}});
  std::istringstream lines(out);
  std::string line;
  for (auto& c : cases) {
    if (!std::getline(lines, line)) break;
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) c.ids.push_back(id);
  }
  return cases;
}

std::string random_bytes(size_t n, std::mt19937& rng) {
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
}

// Mixes valid multilingual text with random bytes (invalid UTF-8 included).
std::string nasty_text(std::mt19937& rng) {
  const char* parts[] = {
      "Hello", " world", "  ",           "\n",      "\r\n", "한국어 ", "😀",        "’s",
      "'LL",   "123456", "\t",           "ſ",       "é",    "\xff",    "\xe2\x82", "<|endoftext|>",
      " !!",   "/\n/",   "\xed\xa0\x80", "\xc0\xaf"};
  std::string s;
  int n = rng() % 30;
  for (int i = 0; i < n; ++i)
    s += (rng() % 5 == 0) ? random_bytes(rng() % 6, rng) : parts[rng() % 20];
  return s;
}

void check_cases(const Tokenizer& tok, const std::string& base) {
  auto cases = read_cases(base);
  ASSERT_GE(cases.size(), 40u);
  for (const auto& c : cases) {
    EXPECT_EQ(tok.encode(c.input, false), c.ids) << "input: '" << c.input << "'";
    EXPECT_EQ(tok.decode(c.ids), c.input);
  }
}

// Each vocabulary is loaded once per test binary: building o200k's tables takes a moment.
const BpeTokenizer& shared_tokenizer(const std::string& file) {
  static std::map<std::string, std::unique_ptr<BpeTokenizer>> cache;
  auto& t = cache[file];
  if (!t) {
    std::string path = test::shared_data() + "/tokenizers/" + file;
    t = file.ends_with(".gguf") ? load_gguf_tokenizer(path) : load_tiktoken(path);
  }
  return *t;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Bpe, Gpt2GgufMatchesLlamaCppCases) {
  SLLM_REQUIRE_SHARED("tokenizers/ggml-vocab-gpt-2.gguf");
  const auto* tok = &shared_tokenizer("ggml-vocab-gpt-2.gguf");
  EXPECT_EQ(tok->vocab_size(), 50257);
  EXPECT_EQ(tok->eos_id(), 50256);
  check_cases(*tok, test::shared_data() + "/tokenizers/ggml-vocab-gpt-2.gguf");
}

TEST(Bpe, LlamaSpmGgufMatchesLlamaCppCases) {
  SLLM_REQUIRE_SHARED("tokenizers/ggml-vocab-llama-spm.gguf");
  const auto* tok = &shared_tokenizer("ggml-vocab-llama-spm.gguf");
  EXPECT_EQ(tok->vocab_size(), 32000);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  check_cases(*tok, test::shared_data() + "/tokenizers/ggml-vocab-llama-spm.gguf");
}

TEST(Bpe, HfGpt2FilesMatchGguf) {
  SLLM_REQUIRE_SHARED("bpe-reference/gpt2_vocab.json");
  auto hf = load_hf_bpe(test::shared_data() + "/bpe-reference/gpt2_vocab.json",
                        test::shared_data() + "/bpe-reference/gpt2_merges.txt");
  EXPECT_EQ(hf->vocab_size(), 50257);
  EXPECT_EQ(hf->eos_id(), 50256);
  check_cases(*hf, test::shared_data() + "/tokenizers/ggml-vocab-gpt-2.gguf");
}

TEST(Bpe, TiktokenShakespeareCounts) {
  SLLM_REQUIRE_SHARED("tokenizers/o200k_base.tiktoken");
  std::string text = read_file(test::shared_data() + "/tinyshakespeare.txt");
  const std::pair<const char*, size_t> expected[] = {
      {"r50k_base", 338025}, {"cl100k_base", 301829}, {"o200k_base", 297606}};
  for (auto [name, count] : expected) {
    const auto& tok = shared_tokenizer(std::string(name) + ".tiktoken");
    auto ids = tok.encode(text);
    EXPECT_EQ(ids.size(), count) << name;
    EXPECT_EQ(tok.decode(ids), text) << name;
    EXPECT_EQ(encode_parallel(tok, text, 2), ids) << name;
  }
}

// Batch encoding splits big inputs at line starts: Korean, digits, specials and invalid bytes
// around those cuts must still give exactly the single-threaded ids.
TEST(Bpe, ParallelEncodeMatchesOnKorean) {
  SLLM_REQUIRE_SHARED("tokenizers/o200k_base.tiktoken");
  const char* lines[] = {"전체관람가는 아닌것 같아요\n",
                         "디렉터스컷으로봐서 3시간짜리인데!\n",
                         "10점 만점에 9점\n",
                         "ㅋㅋㅋ 재밌다 <|endoftext|>\n",
                         "\xed\x95\n",
                         "Korean movie review.\n",
                         "\n\n한국어\n",
                         " 앞에 공백\n"};
  std::mt19937 rng(7);
  std::string text;
  while (text.size() < (400u << 10)) text += lines[rng() % std::size(lines)];
  for (const char* name : {"r50k_base", "o200k_base"}) {
    const auto& tok = shared_tokenizer(std::string(name) + ".tiktoken");
    auto ids = tok.encode(text);
    EXPECT_EQ(encode_parallel(tok, text, 2), ids) << name;
    EXPECT_EQ(encode_parallel(tok, text, 3, false), tok.encode(text, false)) << name;
  }
}

TEST(Bpe, TiktokenSpecialsAndKnownIds) {
  SLLM_REQUIRE_SHARED("tokenizers/cl100k_base.tiktoken");
  const auto* cl = &shared_tokenizer("cl100k_base.tiktoken");
  EXPECT_EQ(cl->vocab_size(), 100277);
  EXPECT_EQ(cl->encode("hello world"), (std::vector<int32_t>{15339, 1917}));  // tiktoken
  EXPECT_EQ(cl->encode("<|endoftext|>"), (std::vector<int32_t>{100257}));
  EXPECT_EQ(cl->eos_id(), 100257);
  EXPECT_THROW(cl->token_bytes(100270), Error);  // an unused id
  const auto* o2 = &shared_tokenizer("o200k_base.tiktoken");
  EXPECT_EQ(o2->vocab_size(), 200019);
  EXPECT_EQ(o2->encode("hello world"), (std::vector<int32_t>{24912, 2375}));
}

TEST(Bpe, RoundTripsAnyBytes) {
  SLLM_REQUIRE_SHARED("tokenizers/o200k_base.tiktoken");
  std::vector<const Tokenizer*> toks = {
      &shared_tokenizer("r50k_base.tiktoken"), &shared_tokenizer("cl100k_base.tiktoken"),
      &shared_tokenizer("o200k_base.tiktoken"), &shared_tokenizer("ggml-vocab-llama-spm.gguf")};
  std::mt19937 rng(42);
  for (int i = 0; i < 300; ++i) {
    std::string s = nasty_text(rng);
    for (const auto& t : toks) {
      ASSERT_EQ(t->decode(t->encode(s)), s) << t->name();
      ASSERT_EQ(t->decode(t->encode(s, false)), s) << t->name();
    }
  }
  std::string long_run(5000, 'a');  // one 5000-byte piece: the heap merge path
  long_run += std::string(3000, ' ') + random_bytes(3000, rng);
  for (const auto& t : toks) EXPECT_EQ(t->decode(t->encode(long_run)), long_run) << t->name();
  std::string marks = "\xE2\x96\x81x \xE2\x96\x81";  // SentencePiece's own space mark, literally
  for (const auto& t : toks) EXPECT_EQ(t->decode(t->encode(marks)), marks) << t->name();
}

TEST(Bpe, SaveLoadKeepsEncoding) {
  SLLM_REQUIRE_SHARED("tokenizers/ggml-vocab-llama-spm.gguf");
  test::TempDir dir;
  std::string text = "Hello, y'all! 한국어 😀 123456 \xff\n\n  x";
  std::vector<const Tokenizer*> toks = {&shared_tokenizer("r50k_base.tiktoken"),
                                        &shared_tokenizer("ggml-vocab-llama-spm.gguf"),
                                        &shared_tokenizer("ggml-vocab-gpt-2.gguf")};
  for (const auto& t : toks) {
    t->save(dir.file("t.sllmtok"));
    auto back = load_tokenizer(dir.file("t.sllmtok"));
    EXPECT_EQ(back->kind(), "bpe");
    EXPECT_EQ(back->name(), t->name());
    EXPECT_EQ(back->vocab_size(), t->vocab_size());
    EXPECT_EQ(back->bos_id(), t->bos_id());
    EXPECT_EQ(back->eos_id(), t->eos_id());
    EXPECT_EQ(back->encode(text), t->encode(text)) << t->name();
    auto opened = open_tokenizer(dir.file("t.sllmtok"));
    EXPECT_EQ(opened->encode(text), t->encode(text));
  }
}

TEST(Bpe, MalformedFilesGiveClearErrors) {
  std::string vocab = R"({"a": 0, "b": 1, "ab": 2})";
  // Byte-level vocabularies need all 256 bytes.
  EXPECT_NE(error_of([&] { parse_hf_bpe(vocab, "a b\n", "t"); }).find("no token for byte"),
            std::string::npos);
  EXPECT_NE(error_of([&] { parse_hf_bpe("[1,2]", "", "t"); }).find("not a JSON object"),
            std::string::npos);
  EXPECT_NE(error_of([&] { parse_hf_bpe(R"({"a": 0, "b": 0})", "", "t"); }).find("id 0"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              parse_hf_bpe(R"({"a": 0, "b": 9999999})", "", "t");
            }).find("id 9999999 out of range (the file has 2 entries)"),
            std::string::npos);
  EXPECT_NE(error_of([&] { parse_hf_bpe(R"({"a": "x"})", "", "t"); }).find("not an integer"),
            std::string::npos);
  EXPECT_NE(error_of([&] { parse_hf_bpe(R"({"a b": 0})", "", "t"); }).find("U+0020"),
            std::string::npos);
  EXPECT_NE(error_of([&] { parse_hf_bpe(vocab, "a\n", "t"); }).find("line 1"), std::string::npos);
  EXPECT_NE(error_of([&] { parse_hf_bpe(vocab, "a c\n", "t"); }).find("not in vocab.json"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              parse_hf_bpe(vocab, "", "t", {"<pad>"});
            }).find("'<pad>' is not in vocab.json"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              parse_tiktoken("YQ== 0\nYQ== 1\n", "r50k_base", "t");
            }).find("duplicate token"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              parse_tiktoken("YQ== 0\nYg== 0\n", "r50k_base", "t");
            }).find("rank 0 appears twice"),
            std::string::npos);
  EXPECT_NE(error_of([&] { parse_tiktoken("Y!== 0\n", "r50k_base", "t"); }).find("base64"),
            std::string::npos);
  EXPECT_NE(error_of([&] { parse_tiktoken("YQ== x\n", "r50k_base", "t"); }).find("bad rank"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              parse_tiktoken("YQ== 0\nYg== 999999999\n", "r50k_base", "t");
            }).find("line 2: rank 999999999 but the file has only 3 lines"),
            std::string::npos);
  EXPECT_NE(
      error_of([&] { parse_tiktoken("YQ== 0\n", "nope", "t"); }).find("unknown tiktoken encoding"),
      std::string::npos);
  EXPECT_NE(error_of([&] { open_tokenizer("/nonexistent/tok"); }).find("/nonexistent/tok"),
            std::string::npos);
}

TEST(Bpe, DuplicateAndUnknownSpecialsRejected) {
  BpeSpec spec;
  for (int b = 0; b < 256; ++b) spec.tokens.push_back(std::string(1, static_cast<char>(b)));
  spec.tokens.push_back("ab");
  spec.tokens.push_back("ab");
  spec.merges = {{'a', 'b'}};
  EXPECT_NE(error_of([&] { BpeTokenizer t(spec); }).find("duplicate token 'ab' (ids 256 and 257)"),
            std::string::npos);
  spec.tokens.back() = "<|x|>";
  spec.specials = {{"<|y|>", 257}};
  EXPECT_NE(error_of([&] { BpeTokenizer t(spec); }).find("does not match token 257"),
            std::string::npos);
  spec.specials = {{"<|x|>", 999}};
  EXPECT_NE(error_of([&] { BpeTokenizer t(spec); }).find("outside the vocabulary"),
            std::string::npos);
  spec.specials = {{"<|x|>", 257}};
  spec.merges = {{'a', 'b'}, {'a', 'b'}};
  EXPECT_NE(error_of([&] { BpeTokenizer t(spec); }).find("duplicate"), std::string::npos);
  spec.merges = {{'a', 'c'}};
  EXPECT_NE(error_of([&] { BpeTokenizer t(spec); }).find("not in the vocabulary"),
            std::string::npos);
  spec.merges = {{'a', 'b'}};
  BpeTokenizer ok(spec);
  EXPECT_EQ(ok.encode("xab<|x|>"), (std::vector<int32_t>{'x', 256, 257}));
}

namespace {

// Writes a GGUF file holding only tokenizer.ggml.* keys; `edit` breaks one of them.
std::string gguf_vocab_error(const test::TempDir& dir, const std::string& model,
                             const std::function<void(GGUFWriter&)>& edit) {
  GGUFWriter w;
  w.set("tokenizer.ggml.model", GGUFValue::string(model));
  w.set("tokenizer.ggml.tokens", GGUFValue::strings({"a", "b", "ab"}));
  w.set("tokenizer.ggml.token_type", GGUFValue::i32s({1, 1, 1}));
  w.set("tokenizer.ggml.merges", GGUFValue::strings({"a b"}));
  w.set("tokenizer.ggml.scores", GGUFValue::f32s({0, 0, 1}));
  edit(w);
  w.write(dir.file("v.gguf"));
  return error_of([&] { load_gguf_tokenizer(dir.file("v.gguf")); });
}

}  // namespace

TEST(Bpe, MalformedGgufVocabGivesClearErrors) {
  test::TempDir dir;
  auto expect = [&](const std::string& model, const std::function<void(GGUFWriter&)>& edit,
                    const std::string& needle) {
    std::string msg = gguf_vocab_error(dir, model, edit);
    EXPECT_NE(msg.find(needle), std::string::npos) << "got: '" << msg << "'";
    EXPECT_NE(msg.find("v.gguf"), std::string::npos) << msg;
  };
  auto none = [](GGUFWriter&) {};
  // GPT-2 byte-level vocabularies need a token for every byte.
  expect("gpt2", none, "no token for byte");
  expect("bert", none, "tokenizer model 'bert' is not supported");
  expect("", none, "no tokenizer.ggml.model");
  expect(
      "gpt2", [](GGUFWriter& w) { w.set("tokenizer.ggml.tokens", GGUFValue::u32(3)); },
      "tokenizer.ggml.tokens");
  expect(
      "gpt2", [](GGUFWriter& w) { w.set("tokenizer.ggml.tokens", GGUFValue::strings({})); },
      "tokenizer.ggml.tokens is empty");
  expect(
      "gpt2", [](GGUFWriter& w) { w.set("tokenizer.ggml.token_type", GGUFValue::i32s({1})); },
      "1 token types for 3 tokens");
  expect(
      "gpt2",
      [](GGUFWriter& w) {
        w.set("tokenizer.ggml.token_type", GGUFValue::i32s({1, 9, 1}));
      },
      "token 1 has unknown token type 9");
  expect(
      "gpt2", [](GGUFWriter& w) { w.set("tokenizer.ggml.pre", GGUFValue::string("qwen9")); },
      "pre-tokenizer 'qwen9' is not supported");
  expect(
      "gpt2", [](GGUFWriter& w) { w.set("tokenizer.ggml.merges", GGUFValue::strings({"ab"})); },
      "merge 0 is 'ab'");
  expect(
      "gpt2", [](GGUFWriter& w) { w.set("tokenizer.ggml.merges", GGUFValue::strings({"a c"})); },
      "names a token that is not in the vocabulary");
  expect(
      "gpt2", [](GGUFWriter& w) { w.set("tokenizer.ggml.unknown_token_id", GGUFValue::u32(7)); },
      "tokenizer.ggml.unknown_token_id = 7 is outside the vocabulary");
  expect(
      "llama", [](GGUFWriter& w) { w.set("tokenizer.ggml.scores", GGUFValue::f32s({0})); },
      "1 scores for 3 tokens");
  expect(
      "llama",
      [](GGUFWriter& w) {
        w.set("tokenizer.ggml.tokens", GGUFValue::strings({"a", "b", "a"}));
      },
      "duplicate token 'a'");
}

TEST(Bpe, MalformedHfFilesGiveClearErrors) {
  EXPECT_NE(error_of([] { parse_hf_bpe(R"({"a": 0,)", "", "t.json"); }).find("t.json"),
            std::string::npos);
  // Byte-level vocab.json tokens are UTF-8 text of GPT-2's byte-to-unicode characters.
  EXPECT_NE(error_of([] { parse_hf_bpe("{\"a\\u4e00\": 0}", "", "t"); }).find("U+4E00"),
            std::string::npos);
  std::string msg = error_of([] { parse_hf_bpe("{\"a\xff\": 0}", "", "bad-utf8.json"); });
  EXPECT_NE(msg.find("bad-utf8.json"), std::string::npos) << msg;
}
