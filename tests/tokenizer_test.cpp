#include "sllm/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "test_util.h"

using namespace sllm;

namespace {

std::string random_bytes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng() & 0xFF);
  return s;
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

TEST(CharTokenizer, NanoGptVocabOnShakespeare) {
  SLLM_REQUIRE_SHARED("tinyshakespeare.txt");
  std::string text = read_file(test::shared_data() + "/tinyshakespeare.txt");
  auto tok = CharTokenizer::from_corpus(text);
  EXPECT_EQ(tok->vocab_size(), 65);  // nanoGPT's shakespeare_char vocab
  EXPECT_EQ(tok->token_bytes(0), "\n");
  EXPECT_EQ(tok->token_bytes(1), " ");
  auto ids = tok->encode(text);
  EXPECT_EQ(ids.size(), text.size());
  EXPECT_EQ(tok->decode(ids), text);
}

TEST(CharTokenizer, UnicodeRoundTripAndOrder) {
  auto tok = CharTokenizer::from_corpus("안녕하세요 hello 😀", {"<|endoftext|>"});
  EXPECT_EQ(tok->kind(), "char");
  std::string s = "hello 안녕<|endoftext|>😀";
  auto ids = tok->encode(s);
  EXPECT_EQ(ids.size(), 10u);
  EXPECT_EQ(ids[8], tok->eos_id());
  EXPECT_EQ(tok->decode(ids), s);
  EXPECT_EQ(tok->token_bytes(0), " ");  // code-point order
  EXPECT_EQ(tok->eos_id(), tok->vocab_size() - 1);
}

TEST(CharTokenizer, UnknownCharacterErrorNamesIt) {
  auto tok = CharTokenizer::from_corpus("abc");
  std::string msg = error_of([&] { tok->encode("abd"); });
  EXPECT_NE(msg.find("'d'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("U+0064"), std::string::npos) << msg;
  EXPECT_NE(msg.find("offset 2"), std::string::npos) << msg;
  msg = error_of([&] { tok->encode("ab\xff"); });
  EXPECT_NE(msg.find("invalid UTF-8"), std::string::npos) << msg;
  EXPECT_NE(error_of([] { CharTokenizer::from_corpus("a\xc3"); }).find("invalid UTF-8"),
            std::string::npos);
}

TEST(ByteTokenizer, RoundTripsAnyBytes) {
  ByteTokenizer tok({"<|endoftext|>"});
  EXPECT_EQ(tok.vocab_size(), 257);
  EXPECT_EQ(tok.eos_id(), 256);
  EXPECT_EQ(tok.bos_id(), -1);
  for (uint32_t seed = 0; seed < 20; ++seed) {
    std::string s = random_bytes(1000, seed);
    auto ids = tok.encode(s);
    EXPECT_EQ(ids.size(), s.size());
    EXPECT_EQ(tok.decode(ids), s);
  }
  auto ids = tok.encode("a<|endoftext|>b");
  EXPECT_EQ(ids, (std::vector<int32_t>{'a', 256, 'b'}));
  EXPECT_EQ(tok.encode("a<|endoftext|>", false).size(), 14u);
  EXPECT_THROW(tok.token_bytes(257), Error);
  std::vector<int32_t> bad{1, -3};
  EXPECT_THROW(tok.decode(bad), Error);
}

TEST(Tokenizer, SpecialTokensLongestMatchWins) {
  ByteTokenizer tok({"<a>", "<a><b>"});
  auto ids = tok.encode("x<a><b>y<a>");
  EXPECT_EQ(ids, (std::vector<int32_t>{'x', 257, 'y', 256}));
}

TEST(Tokenizer, SaveLoadRoundTrip) {
  test::TempDir dir;
  auto chr = CharTokenizer::from_corpus("hello world ☃", {"<|endoftext|>"});
  chr->save(dir.file("c.sllmtok"));
  auto c2 = load_tokenizer(dir.file("c.sllmtok"));
  EXPECT_EQ(c2->kind(), "char");
  EXPECT_EQ(c2->vocab_size(), chr->vocab_size());
  EXPECT_EQ(c2->eos_id(), chr->eos_id());
  EXPECT_EQ(c2->encode("hello ☃<|endoftext|>"), chr->encode("hello ☃<|endoftext|>"));

  ByteTokenizer byte({"<s>", "</s>"});
  byte.save(dir.file("b.sllmtok"));
  auto b2 = load_tokenizer(dir.file("b.sllmtok"));
  EXPECT_EQ(b2->kind(), "byte");
  EXPECT_EQ(b2->vocab_size(), 258);
  EXPECT_EQ(b2->bos_id(), 256);
  EXPECT_EQ(b2->eos_id(), 257);
}

TEST(Tokenizer, LoadRejectsCorruptFiles) {
  test::TempDir dir;
  ByteTokenizer({"<|endoftext|>"}).save(dir.file("b.sllmtok"));
  std::string good = read_file(dir.file("b.sllmtok"));
  write_file_atomic(dir.file("magic"), "NOTATOKENIZERFILE");
  EXPECT_NE(error_of([&] { load_tokenizer(dir.file("magic")); }).find("bad magic"),
            std::string::npos);
  for (size_t cut : {size_t{5}, size_t{14}, size_t{30}, good.size() - 3}) {
    write_file_atomic(dir.file("cut"), good.substr(0, cut));
    std::string msg = error_of([&] { load_tokenizer(dir.file("cut")); });
    EXPECT_NE(msg.find(dir.file("cut")), std::string::npos) << cut << ": " << msg;
  }
  std::string v2 = good;
  v2[8] = 2;
  write_file_atomic(dir.file("v2"), v2);
  EXPECT_NE(error_of([&] { load_tokenizer(dir.file("v2")); }).find("version 2"), std::string::npos);
  EXPECT_NE(error_of([&] { load_tokenizer(dir.file("missing")); }).find("missing"),
            std::string::npos);
}

TEST(Tokenizer, ResolveSpec) {
  auto c = resolve_tokenizer("char", "abcabc");
  EXPECT_EQ(c->vocab_size(), 3);
  auto b = resolve_tokenizer("byte", "");
  EXPECT_EQ(b->vocab_size(), 257);
  EXPECT_EQ(b->eos_id(), 256);
  EXPECT_NE(
      error_of([] { resolve_tokenizer("/no/such/tok.sllmtok", ""); }).find("/no/such/tok.sllmtok"),
      std::string::npos);
}

TEST(Tokenizer, EncodeParallelMatchesSerial) {
  std::string text;
  std::mt19937 rng(7);
  const char* words[] = {"the ", "안녕 ", "Hello", "\n", "<|endoftext|>", "  ", "x", "\n\n"};
  while (text.size() < (3u << 20)) text += words[rng() % 8];
  ByteTokenizer tok({"<|endoftext|>"});
  EXPECT_EQ(encode_parallel(tok, text, 2), tok.encode(text));
  auto chr = CharTokenizer::from_corpus(text, {"<|endoftext|>"});
  EXPECT_EQ(encode_parallel(*chr, text, 3), chr->encode(text));
  // An error in any chunk reaches the caller, and the worker threads stay usable afterwards.
  std::string bad = text;
  bad.insert(bad.size() * 3 / 4, "Z");
  std::string msg = error_of([&] { encode_parallel(*chr, bad, 2); });
  EXPECT_NE(msg.find("'Z'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("starts at byte"), std::string::npos) << msg;
  EXPECT_EQ(encode_parallel(*chr, text, 2), chr->encode(text));
}

TEST(TokenStreamDecoder, HoldsBackPartialUtf8) {
  ByteTokenizer tok;
  TokenStreamDecoder dec(tok);
  std::string s = "a한b";  // 한 = ED 95 9C
  std::string out;
  EXPECT_EQ(dec.push('a'), "a");
  EXPECT_EQ(dec.push(0xED), "");
  EXPECT_EQ(dec.push(0x95), "");
  EXPECT_EQ(dec.push(0x9C), "한");
  EXPECT_EQ(dec.push('b'), "b");
  EXPECT_EQ(dec.push(0xFF), "\xff");  // can never complete: released at once
  EXPECT_EQ(dec.push(0xE0), "");
  EXPECT_EQ(dec.flush(), "\xe0");
}
