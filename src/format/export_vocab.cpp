#include "export_vocab.h"

#include <nlohmann/json.hpp>

#include "sllm/common/error.h"
#include "sllm/format/model_tokenizer.h"
#include "sllm/io/file.h"
#include "sllm/tokenizer/bpe.h"

namespace sllm {

namespace {

// GPT-2's bytes_to_unicode(): the byte-level vocabularies of GGUF "gpt2" and HF vocab.json
// spell each byte as one printable character.
std::string map_gpt2_bytes(std::string_view bytes) {
  static const auto table = [] {
    std::array<uint32_t, 256> cp{};
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable =
          (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      cp[b] = printable ? b : 256 + n++;
    }
    return cp;
  }();
  std::string out;
  for (unsigned char b : bytes) {
    const uint32_t c = table[b];
    if (c < 0x80) {
      out += static_cast<char>(c);
    } else {
      out += static_cast<char>(0xC0 | (c >> 6));
      out += static_cast<char>(0x80 | (c & 0x3F));
    }
  }
  return out;
}

// A byte-level vocabulary: token strings as GGUF/HF spell them, merges as "a b" lines.
struct ByteLevelVocab {
  std::vector<std::string> tokens;
  std::vector<int32_t> types;  // GGUF token types: 1 normal, 3 control.
  std::vector<std::string> merges;
  std::string pre;  // llama.cpp pre-tokenizer name.
};

// The regex families sllm's BPE tokenizers use, told apart by their leading alternatives.
std::string pre_tokenizer_name(const BpeSpec& s) {
  if (s.pattern.starts_with("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+")) return "gpt-2";
  if (s.pattern.starts_with("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+") &&
      s.whole_piece_first)
    return "llama-bpe";
  return "";
}

bool byte_level_vocab(const Tokenizer& tok, ByteLevelVocab& v, std::string& note) {
  const auto* bpe = dynamic_cast<const BpeTokenizer*>(&tok);
  if (bpe) {
    const BpeSpec& s = bpe->spec();
    if (s.sentencepiece) {
      note = "a SentencePiece tokenizer has no byte-level vocabulary";
      return false;
    }
    if (s.order != MergeOrder::Merges) {
      note = "a rank-ordered (tiktoken) tokenizer has no merge list to write";
      return false;
    }
    v.pre = pre_tokenizer_name(s);
    if (v.pre.empty()) {
      note = "the tokenizer's pre-tokenizer regex has no llama.cpp name";
      return false;
    }
  } else if (tok.kind() == "byte") {
    v.pre = "gpt-2";  // One token per byte: no merges to apply.
  } else {
    note = "tokenizer kind '" + tok.kind() + "' has no byte-level form";
    return false;
  }
  const int32_t n = tok.vocab_size();
  for (int32_t id = 0; id < n; ++id) {
    const bool special = tok.is_special(id);
    v.tokens.push_back(special ? std::string(tok.token_bytes(id))
                               : map_gpt2_bytes(tok.token_bytes(id)));
    v.types.push_back(special ? 3 : 1);
  }
  if (bpe)
    for (const auto& [a, b] : bpe->spec().merges)
      v.merges.push_back(v.tokens[a] + " " + v.tokens[b]);
  return true;
}

std::unique_ptr<Tokenizer> try_tokenizer(const ModelFiles& files, std::string& note) {
  try {
    return model_tokenizer(files);
  } catch (const Error& e) {
    note = e.what();
    return nullptr;
  }
}

}  // namespace

bool add_gguf_vocab(const ModelFiles& files, GGUFWriter& w, std::string& note) {
  if (files.format == "gguf") {
    GGUFReader src(files.source);
    bool any = false;
    for (const auto& [k, v] : src.metadata())
      if (k.starts_with("tokenizer.")) {
        w.set(k, v);
        any = true;
      }
    if (!any) note = files.source + " carries no tokenizer";
    return any;
  }
  auto tok = try_tokenizer(files, note);
  if (!tok) return false;
  const auto* bpe = dynamic_cast<const BpeTokenizer*>(tok.get());
  if (tok->kind() == "char") {
    // A character vocabulary lacks the 256 byte tokens a byte-level ("gpt2") vocabulary needs;
    // as a SentencePiece vocabulary without merges every character is its own piece.
    const int32_t n = tok->vocab_size();
    std::vector<std::string> pieces;
    std::vector<int32_t> types;
    for (int32_t id = 0; id < n; ++id) {
      const std::string_view b = tok->token_bytes(id);
      std::string piece;
      for (char ch : b) piece += ch == ' ' ? std::string("\xe2\x96\x81") : std::string(1, ch);
      pieces.push_back(tok->is_special(id) ? std::string(b) : piece);
      types.push_back(tok->is_special(id) ? 3 : 1);
    }
    w.set("tokenizer.ggml.model", GGUFValue::string("llama"));
    w.set("tokenizer.ggml.tokens", GGUFValue::strings(pieces));
    w.set("tokenizer.ggml.scores", GGUFValue::f32s(std::vector<float>(n, 0.0f)));
    w.set("tokenizer.ggml.token_type", GGUFValue::i32s(types));
    w.set("tokenizer.ggml.add_space_prefix", GGUFValue::boolean(false));
    w.set("tokenizer.ggml.add_bos_token", GGUFValue::boolean(false));
  } else if (bpe && bpe->spec().sentencepiece) {
    const BpeSpec& s = bpe->spec();
    const size_t n = s.tokens.size();
    std::vector<float> scores = s.scores;
    if (scores.size() != n) scores.assign(n, 0.0f);
    std::vector<int32_t> types(n, 1);
    for (size_t i = 0; i < s.types.size(); ++i) types[i] = static_cast<int32_t>(s.types[i]);
    w.set("tokenizer.ggml.model", GGUFValue::string("llama"));
    w.set("tokenizer.ggml.tokens", GGUFValue::strings(s.tokens));
    w.set("tokenizer.ggml.scores", GGUFValue::f32s(scores));
    w.set("tokenizer.ggml.token_type", GGUFValue::i32s(types));
    w.set("tokenizer.ggml.add_space_prefix", GGUFValue::boolean(s.add_space_prefix));
    if (s.unk_id >= 0) w.set("tokenizer.ggml.unknown_token_id", GGUFValue::u32(s.unk_id));
  } else {
    ByteLevelVocab v;
    if (!byte_level_vocab(*tok, v, note)) return false;
    w.set("tokenizer.ggml.model", GGUFValue::string("gpt2"));
    w.set("tokenizer.ggml.pre", GGUFValue::string(v.pre));
    w.set("tokenizer.ggml.tokens", GGUFValue::strings(v.tokens));
    w.set("tokenizer.ggml.token_type", GGUFValue::i32s(v.types));
    w.set("tokenizer.ggml.merges", GGUFValue::strings(v.merges));
  }
  if (tok->bos_id() >= 0) w.set("tokenizer.ggml.bos_token_id", GGUFValue::u32(tok->bos_id()));
  if (tok->eos_id() >= 0) w.set("tokenizer.ggml.eos_token_id", GGUFValue::u32(tok->eos_id()));
  if (!files.chat_template.empty())
    w.set("tokenizer.chat_template", GGUFValue::string(files.chat_template));
  return true;
}

bool write_hf_vocab(const ModelFiles& files, const std::string& dir, std::string& note) {
  auto tok = try_tokenizer(files, note);
  if (!tok) return false;
  ByteLevelVocab v;
  if (!byte_level_vocab(*tok, v, note)) return false;
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  for (size_t i = 0; i < v.tokens.size(); ++i) vocab[v.tokens[i]] = i;
  std::string merges = "#version: 0.2\n";
  for (const auto& m : v.merges) merges += m + "\n";
  write_file_atomic(dir + "/vocab.json", vocab.dump());
  write_file_atomic(dir + "/merges.txt", merges);
  return true;
}

}  // namespace sllm
