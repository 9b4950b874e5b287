// Writes the small seed inputs of the fuzz targets into fuzz/seeds/<target>/ (run once; the
// seeds are committed): make_seeds SOURCE_DIR
#include <filesystem>
#include <string>

#include "sllm/io/file.h"
#include "sllm/io/gguf.h"
#include "sllm/tokenizer/bpe_trainer.h"
#include "sllm/tokenizer/token_file.h"

using namespace sllm;

namespace {

std::string gpt2_mapped(unsigned char b) {
  int n = 0, cp = b;
  for (int x = 0; x < 256; ++x) {
    bool printable = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
    if (!printable) {
      if (x == b) cp = 256 + n;
      ++n;
    }
  }
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

std::string mapped(std::string_view bytes) {
  std::string s;
  for (unsigned char c : bytes) s += gpt2_mapped(c);
  return s;
}

std::string base64(std::string_view in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t w = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {t[w >> 18], t[(w >> 12) & 63], t[(w >> 6) & 63], t[w & 63]};
  }
  if (in.size() - i == 1) {
    uint32_t w = uint8_t(in[i]) << 16;
    out += {t[w >> 18], t[(w >> 12) & 63], '=', '='};
  } else if (in.size() - i == 2) {
    uint32_t w = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {t[w >> 18], t[(w >> 12) & 63], t[(w >> 6) & 63], '='};
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string root = std::string(argc > 1 ? argv[1] : ".") + "/fuzz/seeds/";
  for (const char* d :
       {"sllmtok", "hf_bpe", "tiktoken", "gguf_tokenizer", "token_file", "bpe_encode"})
    make_dirs(root + d);

  std::string corpus;
  for (int i = 0; i < 20; ++i) corpus += "the cat sat on the mat, 안녕 세계 <|endoftext|>\n";
  std::vector<std::string_view> texts{corpus};
  BpeTrainOptions o;
  o.vocab_size = 280;
  o.min_frequency = 1;
  auto bpe = train_bpe(texts, o);
  bpe->save(root + "sllmtok/bpe.sllmtok");
  ByteTokenizer({"<s>", "</s>"}).save(root + "sllmtok/byte.sllmtok");
  CharTokenizer::from_corpus("hello 세계")->save(root + "sllmtok/char.sllmtok");

  // Hugging Face layout: vocab.json NUL merges.txt.
  std::string vocab = "{", merges = "#version: 0.2\n";
  for (int32_t i = 0; i < bpe->vocab_size(); ++i) {
    std::string key =
        bpe->is_special(i) ? std::string(bpe->token_bytes(i)) : mapped(bpe->token_bytes(i));
    std::string esc;
    for (char c : key) esc += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    vocab += (i ? "," : "") + std::string("\"") + esc + "\":" + std::to_string(i);
  }
  vocab += "}";
  for (auto [a, b] : bpe->spec().merges)
    merges += mapped(bpe->token_bytes(a)) + " " + mapped(bpe->token_bytes(b)) + "\n";
  write_file_atomic(root + "hf_bpe/small", vocab + std::string(1, '\0') + merges);

  // tiktoken: first byte picks the encoding; ranks are the trained ids (merge order).
  std::string ranks;
  for (int32_t i = 0; i < bpe->vocab_size(); ++i)
    if (!bpe->is_special(i)) ranks += base64(bpe->token_bytes(i)) + " " + std::to_string(i) + "\n";
  write_file_atomic(root + "tiktoken/small", std::string(1, '\0') + ranks);

  // GGUF: a gpt2 vocabulary and a llama (SentencePiece) one.
  {
    GGUFWriter w;
    std::vector<std::string> toks;
    std::vector<int32_t> types;
    std::vector<std::string> mlines;
    for (int32_t i = 0; i < bpe->vocab_size(); ++i) {
      toks.push_back(bpe->is_special(i) ? std::string(bpe->token_bytes(i))
                                        : mapped(bpe->token_bytes(i)));
      types.push_back(bpe->is_special(i) ? 3 : 1);
    }
    for (auto [a, b] : bpe->spec().merges)
      mlines.push_back(mapped(bpe->token_bytes(a)) + " " + mapped(bpe->token_bytes(b)));
    w.set("tokenizer.ggml.model", GGUFValue::string("gpt2"));
    w.set("tokenizer.ggml.tokens", GGUFValue::strings(toks));
    w.set("tokenizer.ggml.token_type", GGUFValue::i32s(types));
    w.set("tokenizer.ggml.merges", GGUFValue::strings(mlines));
    w.set("tokenizer.ggml.eos_token_id", GGUFValue::u32(bpe->vocab_size() - 1));
    w.write(root + "gguf_tokenizer/gpt2.gguf");
  }
  {
    GGUFWriter w;
    std::vector<std::string> toks = {"<unk>", "<s>", "</s>"};
    std::vector<int32_t> types = {2, 3, 3};
    std::vector<float> scores = {0, 0, 0};
    for (int b = 0; b < 256; ++b) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "<0x%02X>", b);
      toks.push_back(buf);
      types.push_back(6);
      scores.push_back(0);
    }
    const char* pieces[] = {"\xe2\x96\x81",     "h",  "e",  "l",   "o",
                            "\xe2\x96\x81h",    "he", "ll", "llo", "hello",
                            "\xe2\x96\x81hello"};
    float s = -1;
    for (const char* p : pieces) {
      toks.push_back(p);
      types.push_back(1);
      scores.push_back(s--);
    }
    w.set("tokenizer.ggml.model", GGUFValue::string("llama"));
    w.set("tokenizer.ggml.tokens", GGUFValue::strings(toks));
    w.set("tokenizer.ggml.token_type", GGUFValue::i32s(types));
    w.set("tokenizer.ggml.scores", GGUFValue::f32s(scores));
    w.set("tokenizer.ggml.bos_token_id", GGUFValue::u32(1));
    w.set("tokenizer.ggml.eos_token_id", GGUFValue::u32(2));
    w.set("tokenizer.ggml.unknown_token_id", GGUFValue::u32(0));
    w.write(root + "gguf_tokenizer/llama.gguf");
  }

  write_token_file(root + "token_file/u16", bpe->encode(corpus.substr(0, 200)), bpe->vocab_size());
  std::vector<int32_t> big{0, 70000, 5};
  write_token_file(root + "token_file/u32", big, 70001);

  write_file_atomic(root + "bpe_encode/en", "Hello, world! It's 12345 o'clock.\n\n  x");
  write_file_atomic(root + "bpe_encode/ko", "안녕하세요 세계 😀 \xff\xfe \xed\xa0\x80");
  return 0;
}
