#include <gtest/gtest.h>

#include <array>
#include <cstdio>

#include "sllm/io/file.h"
#include "sllm/tokenizer/token_file.h"
#include "sllm/tokenizer/tokenizer.h"
#include "test_util.h"

using namespace sllm;

namespace {

// Runs the sllm binary; returns (exit code, stdout + stderr).
std::pair<int, std::string> run(const std::string& args) {
  std::string cmd = test::sllm_binary() + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  for (size_t n; (n = fread(buf.data(), 1, buf.size(), p)) > 0;) out.append(buf.data(), n);
  int rc = pclose(p);
  return {WEXITSTATUS(rc), out};
}

}  // namespace

TEST(TokenizeCli, TrainEncodeDecodeInspect) {
  test::TempDir dir;
  make_dirs(dir.file("corpus"));
  std::string text;
  for (int i = 0; i < 300; ++i)
    text += "the quick brown fox " + std::to_string(i % 7) + " 한국어 문장\n";
  write_file_atomic(dir.file("corpus/a.txt"), text);
  write_file_atomic(dir.file("corpus/b.txt"), "jumps over the lazy dog<|endoftext|>");

  auto [rc, out] = run("tokenize train --input " + dir.file("corpus") + " --out " +
                       dir.file("t.sllmtok") + " --vocab-size 300 --threads 2");
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("trained"), std::string::npos) << out;

  std::tie(rc, out) = run("tokenize encode --tokenizer " + dir.file("t.sllmtok") + " --input " +
                          dir.file("corpus") + " --out " + dir.file("c.tok") + " --threads 2");
  ASSERT_EQ(rc, 0) << out;
  TokenFile tf(dir.file("c.tok"));
  auto tok = load_tokenizer(dir.file("t.sllmtok"));
  EXPECT_GT(tok->vocab_size(), 270);  // fewer than 300 when pairs run out (min frequency 2)
  EXPECT_EQ(tf.vocab_size(), tok->vocab_size());
  std::vector<int32_t> ids = tf.read(0, tf.size());
  EXPECT_EQ(tok->decode(ids),
            text + "<|endoftext|>" + "jumps over the lazy dog<|endoftext|><|endoftext|>");

  std::tie(rc, out) =
      run("tokenize encode --tokenizer " + dir.file("t.sllmtok") + " --text 'the fox'");
  ASSERT_EQ(rc, 0) << out;
  std::tie(rc, out) = run("tokenize decode --tokenizer " + dir.file("t.sllmtok") + " --ids '" +
                          out.substr(0, out.size() - 1) + "'");
  EXPECT_EQ(out, "the fox\n");

  std::tie(rc, out) = run("tokenize inspect " + dir.file("t.sllmtok"));
  EXPECT_EQ(rc, 0);
  EXPECT_NE(out.find("kind: bpe"), std::string::npos) << out;
  EXPECT_NE(out.find("<|endoftext|>=" + std::to_string(tok->vocab_size() - 1)), std::string::npos)
      << out;
  std::tie(rc, out) = run("tokenize inspect " + dir.file("c.tok"));
  EXPECT_NE(out.find("tokens: " + std::to_string(tf.size())), std::string::npos) << out;

  std::tie(rc, out) = run("tokenize count --tokenizer byte --text 'hello'");
  EXPECT_NE(out.find("5 tokens"), std::string::npos) << out;

  std::tie(rc, out) =
      run("tokenize decode --tokenizer " + dir.file("t.sllmtok") + " --ids '1 99999'");
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("99999 is out of range"), std::string::npos) << out;
  std::tie(rc, out) = run("tokenize inspect " + dir.file("corpus/a.txt"));
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("not a tokenizer"), std::string::npos) << out;
}

// Issue 27: an empty --text is a text (no tokens), not a missing option.
TEST(TokenizeCli, EmptyTextEncodesToNoTokens) {
  auto [rc, out] = run("tokenize encode --tokenizer byte --text ''");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out, "\n");
  std::tie(rc, out) = run("tokenize count --tokenizer byte --text ''");
  EXPECT_EQ(rc, 0) << out;
  EXPECT_EQ(out.rfind("0 tokens, 0 bytes", 0), 0u) << out;
  std::tie(rc, out) = run("tokenize encode --tokenizer byte");
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("give exactly one of --input and --text"), std::string::npos) << out;
}
