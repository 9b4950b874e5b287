#include "sllm/format/model_tokenizer.h"

#include "sllm/common/error.h"
#include "sllm/tokenizer/bpe.h"
#include "sllm/tokenizer/loaders.h"

namespace sllm {

namespace {

// llama2.c's tokenizer.bin is a SentencePiece BPE vocabulary exported with "▁" turned into
// a plain space; ids 0, 1, 2 are <unk>, <s>, </s> and "<0xXX>" pieces are byte fallbacks.
std::unique_ptr<Tokenizer> sentencepiece_from_vocab(const VocabInfo& v, const std::string& where) {
  BpeSpec spec;
  spec.name = "llama2c";
  spec.sentencepiece = true;
  spec.order = MergeOrder::Scores;
  spec.scores = v.scores;
  const size_t n = v.tokens.size();
  spec.types.assign(n, TokenType::Normal);
  for (size_t i = 0; i < n; ++i) {
    std::string t = v.tokens[i];
    const bool byte = t.size() == 6 && t.rfind("<0x", 0) == 0 && t.back() == '>';
    if (static_cast<int32_t>(i) == v.bos_id || static_cast<int32_t>(i) == v.eos_id) {
      spec.types[i] = TokenType::Control;
      // llama2.c writes "\n<s>\n" and "\n</s>\n"; the specials are matched as <s> and </s>.
      t = static_cast<int32_t>(i) == v.bos_id ? "<s>" : "</s>";
      spec.specials.push_back({t, static_cast<int32_t>(i)});
    } else if (i == 0) {
      spec.types[i] = TokenType::Unknown;
      spec.unk_id = 0;
    } else if (byte) {
      spec.types[i] = TokenType::Byte;
    } else {
      std::string piece;
      for (char c : t) piece += c == ' ' ? std::string("\xe2\x96\x81") : std::string(1, c);
      t = piece;
    }
    spec.tokens.push_back(std::move(t));
  }
  try {
    auto tok = std::make_unique<BpeTokenizer>(std::move(spec));
    tok->set_bos_eos(v.bos_id, v.eos_id);
    return tok;
  } catch (const Error& e) {
    fail("{}: {}", where, e.what());
  }
}

}  // namespace

std::unique_ptr<Tokenizer> model_tokenizer(const ModelFiles& files) {
  if (!files.tokenizer_path.empty()) return open_tokenizer(files.tokenizer_path);
  if (files.format == "gguf" && !files.vocab.tokens.empty())
    return load_gguf_tokenizer(files.source);
  if (files.format == "llama2c" && !files.vocab.tokens.empty())
    return sentencepiece_from_vocab(files.vocab, files.source);
  fail(
      "{}: the model carries no tokenizer (pass --tokenizer FILE: a llama2.c tokenizer.bin next to "
      "a .bin "
      "checkpoint, or an .sllmtok / GGUF / vocab.json tokenizer)",
      files.source);
}

}  // namespace sllm
