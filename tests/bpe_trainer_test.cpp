#include "sllm/tokenizer/bpe_trainer.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>

#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "test_util.h"

using namespace sllm;

namespace {

// GPT-2's bytes_to_unicode(), to compare with the reference files' mapped form.
std::string gpt2_mapped(std::string_view bytes) {
  std::string out;
  for (unsigned char b : bytes) {
    int n = 0, cp = -1;
    for (int x = 0; x < 256; ++x) {
      bool printable = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
      int mapped = printable ? x : 256 + n++;
      if (x == b) cp = mapped;
    }
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }
  return out;
}

}  // namespace

TEST(BpeTrainer, ReproducesReferenceMerges) {
  SLLM_REQUIRE_SHARED("bpe-reference/corpus.en");
  std::string corpus = read_file(test::shared_data() + "/bpe-reference/corpus.en");
  BpeTrainOptions o;
  o.vocab_size = 500;
  o.specials = {"<|endoftext|>"};
  o.min_frequency = 1;
  o.threads = 2;
  std::vector<std::string_view> texts{corpus};
  auto tok = train_bpe(texts, o);
  ASSERT_EQ(tok->vocab_size(), 500);

  std::istringstream ref(
      read_file(test::shared_data() + "/bpe-reference/train-bpe-reference-merges.txt"));
  std::vector<std::string> want;
  for (std::string line; std::getline(ref, line);)
    if (!line.empty()) want.push_back(line);
  const auto& merges = tok->spec().merges;
  ASSERT_EQ(merges.size(), want.size());
  for (size_t i = 0; i < merges.size(); ++i)
    EXPECT_EQ(gpt2_mapped(tok->token_bytes(merges[i].first)) + " " +
                  gpt2_mapped(tok->token_bytes(merges[i].second)),
              want[i])
        << "merge " << i;

  auto ref_vocab = nlohmann::json::parse(
      read_file(test::shared_data() + "/bpe-reference/train-bpe-reference-vocab.json"));
  std::set<std::string> want_vocab, got_vocab;
  for (auto it = ref_vocab.begin(); it != ref_vocab.end(); ++it) want_vocab.insert(it.key());
  for (int32_t i = 0; i < tok->vocab_size(); ++i)
    got_vocab.insert(tok->is_special(i) ? std::string(tok->token_bytes(i))
                                        : gpt2_mapped(tok->token_bytes(i)));
  EXPECT_EQ(got_vocab, want_vocab);
}

TEST(BpeTrainer, ThreadCountDoesNotChangeResult) {
  std::mt19937 rng(3);
  const char* words[] = {"안녕하세요", " 영화", " 정말", " 재밌", "어요", " the",
                         " cat",       "s",     "\n",    "!!",    " 123"};
  std::string text;
  while (text.size() < (3u << 20)) text += words[rng() % 11];
  std::vector<std::string_view> texts{text};
  BpeTrainOptions o;
  o.vocab_size = 400;
  o.threads = 1;
  auto a = train_bpe(texts, o);
  o.threads = 2;
  auto b = train_bpe(texts, o);
  EXPECT_EQ(a->spec().merges, b->spec().merges);
  EXPECT_EQ(a->decode(a->encode(text)), text);
  EXPECT_LT(a->encode(text).size(), text.size() / 4);
}

TEST(BpeTrainer, SpecialsAndMinFrequency) {
  std::string text = "aaaa<|endoftext|>bbbb<|endoftext|>abab";
  std::vector<std::string_view> texts{text};
  BpeTrainOptions o;
  o.vocab_size = 300;
  o.min_frequency = 2;
  BpeTrainStats st;
  auto tok = train_bpe(texts, o, &st);
  // Pairs: aa x3, bb x3, ab x2, ba x1 -> merges aa, bb, ab; then (aa,aa) x1 etc. fall below 2.
  EXPECT_EQ(st.merges, 3);
  EXPECT_EQ(tok->vocab_size(), 256 + 3 + 1);
  EXPECT_EQ(tok->eos_id(), 259);
  EXPECT_EQ(tok->decode(tok->encode(text)), text);
  for (const auto& m : tok->spec().merges)
    EXPECT_EQ(tok->token_bytes(m.first).find('<'), std::string_view::npos);
  o.vocab_size = 100;
  EXPECT_THROW(train_bpe(texts, o), Error);
  o.vocab_size = 300;
  o.specials = {"<x>", "<x>"};
  EXPECT_THROW(train_bpe(texts, o), Error);
}

TEST(BpeTrainer, InvalidUtf8TrainsAndRoundTrips) {
  // Lone continuation bytes, a truncated 3-byte sequence, an overlong '/', a UTF-16 surrogate.
  std::string junk = "\x80\xbf \xed\x95 \xc0\xaf \xed\xa0\x80 \xff\xfe";
  std::string text;
  for (int i = 0; i < 50; ++i) text += "한국어 text " + junk + "\n";
  std::vector<std::string_view> texts{text};
  for (const char* pattern : {"gpt2", "cl100k", "o200k"}) {
    BpeTrainOptions o;
    o.vocab_size = 320;
    o.pattern = pattern;
    auto tok = train_bpe(texts, o);
    EXPECT_EQ(tok->decode(tok->encode(text)), text) << pattern;
    EXPECT_EQ(tok->decode(tok->encode(junk + "\xe2")), junk + "\xe2") << pattern;
    EXPECT_LT(tok->encode(text).size(), text.size() / 2) << pattern;
  }
}
