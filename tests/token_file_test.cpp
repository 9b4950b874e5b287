#include "sllm/tokenizer/token_file.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "test_util.h"

using namespace sllm;

namespace {
using sllm::test::error_of;
}  // namespace

TEST(TokenFile, WriteReadUint16AndUint32) {
  test::TempDir dir;
  std::vector<int32_t> toks{0, 5, 65535, 7, 1};
  write_token_file(dir.file("a.tok"), toks, 65536);
  TokenFile a(dir.file("a.tok"));
  EXPECT_EQ(a.bytes_per_token(), 2);
  EXPECT_EQ(a.size(), 5u);
  EXPECT_EQ(a.vocab_size(), 65536);
  EXPECT_EQ(a.read(0, 5), toks);
  EXPECT_EQ(std::filesystem::file_size(dir.file("a.tok")), 32u + 10u);

  toks.push_back(100000);
  write_token_file(dir.file("b.tok"), toks, 200019);
  TokenFile b(dir.file("b.tok"));
  EXPECT_EQ(b.bytes_per_token(), 4);
  EXPECT_EQ(b[5], 100000);
  EXPECT_EQ(b.read(4, 2), (std::vector<int32_t>{1, 100000}));
  EXPECT_THROW(b.read(5, 2), Error);
}

TEST(TokenFile, ClearErrorsOnBadFiles) {
  test::TempDir dir;
  std::vector<int32_t> toks{1, 2, 3};
  EXPECT_NE(
      error_of([&] { write_token_file(dir.file("x.tok"), toks, 3); }).find("token 3 at position 2"),
      std::string::npos);
  write_token_file(dir.file("a.tok"), toks, 10);
  std::string good = read_file(dir.file("a.tok"));
  write_file_atomic(dir.file("trunc.tok"), good.substr(0, good.size() - 1));
  std::string msg = error_of([&] { TokenFile t(dir.file("trunc.tok")); });
  EXPECT_NE(msg.find("header says 3 tokens"), std::string::npos) << msg;
  EXPECT_NE(msg.find("truncated"), std::string::npos) << msg;
  write_file_atomic(dir.file("short.tok"), good.substr(0, 10));
  EXPECT_NE(error_of([&] { TokenFile t(dir.file("short.tok")); }).find("too small"),
            std::string::npos);
  std::string bad = good;
  bad[0] = 'X';
  write_file_atomic(dir.file("magic.tok"), bad);
  EXPECT_NE(error_of([&] { TokenFile t(dir.file("magic.tok")); }).find("bad magic"),
            std::string::npos);
  bad = good;
  bad[32] = 50;  // token 50 >= vocab 10
  write_file_atomic(dir.file("range.tok"), bad);
  EXPECT_NE(error_of([&] { TokenFile t(dir.file("range.tok")); }).find("outside the vocabulary"),
            std::string::npos);
}

TEST(TokenFile, TokenizeFolderIsThreadCountIndependent) {
  test::TempDir dir;
  make_dirs(dir.file("corpus/sub"));
  std::string big;
  for (int i = 0; i < 60000; ++i) big += "line " + std::to_string(i) + " 한국어\n";
  write_file_atomic(dir.file("corpus/b.txt"), big);
  write_file_atomic(dir.file("corpus/a.txt"), "first doc");
  write_file_atomic(dir.file("corpus/sub/c.txt"), "third");
  write_file_atomic(dir.file("corpus/.hidden"), "skip me");
  ByteTokenizer tok({"<|endoftext|>"});
  TokenizeOptions o1;
  o1.threads = 1;
  auto s1 = tokenize_to_token_file(tok, dir.file("corpus"), dir.file("one.tok"), o1);
  TokenizeOptions o2;
  o2.threads = 2;
  auto s2 = tokenize_to_token_file(tok, dir.file("corpus"), dir.file("two.tok"), o2);
  EXPECT_EQ(s1.files, 3u);
  EXPECT_EQ(s1.tokens, big.size() + 9 + 5 + 3);
  EXPECT_EQ(s2.tokens, s1.tokens);
  EXPECT_EQ(read_file(dir.file("one.tok")), read_file(dir.file("two.tok")));
  TokenFile t(dir.file("one.tok"));
  EXPECT_EQ(t[9], 256);  // a.txt, then the separator
  EXPECT_EQ(t[t.size() - 1], 256);
  EXPECT_THROW(tokenize_to_token_file(tok, dir.file("nothing"), dir.file("x.tok")), Error);
}
