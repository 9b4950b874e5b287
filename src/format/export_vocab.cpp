#include "export_vocab.h"

#include <nlohmann/json.hpp>

#include "sllm/common/error.h"
#include "sllm/format/model_tokenizer.h"
#include "sllm/io/file.h"
#include "sllm/tokenizer/bpe.h"
#include "sllm/tokenizer/hf_tokenizer.h"
#include "sllm/tokenizer/pre_names.h"

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
  if (std::string name = llama_cpp_pre_name(s.pattern, s.whole_piece_first); !name.empty())
    return name;
  if (s.pattern.starts_with("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+")) return "gpt-2";
  if (s.pattern.starts_with("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+") &&
      s.whole_piece_first)
    return "llama-bpe";
  return "";
}

bool byte_level_vocab(const Tokenizer& tok, ByteLevelVocab& v, std::string& note) {
  const auto* bpe = dynamic_cast<const BpeTokenizer*>(&tok);
  if (const auto* hf = dynamic_cast<const HfTokenizer*>(&tok)) {
    // tokenizer.json: byte-level BPE whose pre-tokenizer llama.cpp has a name for.
    if (hf->llama_pattern().empty()) {
      note = "the tokenizer.json pipeline (normalizer / pre-tokenizer) has no GGUF form";
      return false;
    }
    v.pre = llama_cpp_pre_name(hf->llama_pattern(), hf->model().spec().whole_piece_first);
    if (v.pre.empty()) {
      note = "the tokenizer.json pre-tokenizer regex has no llama.cpp name";
      return false;
    }
    const BpeSpec& s = hf->model().spec();
    for (int32_t id = 0; id < tok.vocab_size(); ++id) {
      const bool added = s.types[id] == TokenType::Unused;  // ids outside the model vocabulary
      v.tokens.push_back(added ? s.tokens[id] : map_gpt2_bytes(s.tokens[id]));
      v.types.push_back(tok.is_special(id) ? 3 : added ? 4 : 1);
    }
    for (const auto& [a, b] : s.merges) v.merges.push_back(v.tokens[a] + " " + v.tokens[b]);
    return true;
  }
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

namespace {

// tokenizer_config.json: what transformers reads next to tokenizer.json (special-token names
// and the chat template); a tokenizer.json source keeps its own config (add_bos, pad, eos ids in
// generation_config.json).
void write_tokenizer_config(const Tokenizer& tok, const ModelFiles& files, const std::string& dir) {
  HfTokenizerConfig c;
  if (const auto* hf = dynamic_cast<const HfTokenizer*>(&tok)) {
    c = hf->config();
  } else {
    if (tok.bos_id() >= 0) c.bos_token = std::string(tok.token_bytes(tok.bos_id()));
    if (tok.eos_id() >= 0) c.eos_token = std::string(tok.token_bytes(tok.eos_id()));
  }
  if (!files.chat_template.empty() && c.named_templates.empty())
    c.chat_template = files.chat_template;
  write_file_atomic(dir + "/tokenizer_config.json", hf_tokenizer_config_json(c));
  if (std::string g = hf_generation_config_json(c); !g.empty())
    write_file_atomic(dir + "/generation_config.json", g);
}

// tokenizer.json for a byte-level BPE vocabulary: its regexes as Split pre-tokenizers (one per
// regex, as llama.cpp applies them), then ByteLevel without its own regex.
std::string byte_level_tokenizer_json(const Tokenizer& tok, const ByteLevelVocab& v) {
  using oj = nlohmann::ordered_json;
  const auto* bpe = dynamic_cast<const BpeTokenizer*>(&tok);
  oj pre = oj::array();
  if (bpe) {
    const std::string& pat = bpe->spec().pattern;
    for (size_t pos = 0; !pat.empty() && pos <= pat.size();) {
      size_t nul = pat.find('\0', pos);
      if (nul == std::string::npos) nul = pat.size();
      pre.push_back({{"type", "Split"},
                     {"pattern", {{"Regex", pat.substr(pos, nul - pos)}}},
                     {"behavior", "Isolated"},
                     {"invert", false}});
      pos = nul + 1;
    }
  }
  pre.push_back({{"type", "ByteLevel"},
                 {"add_prefix_space", false},
                 {"trim_offsets", true},
                 {"use_regex", false}});
  oj added = oj::array();
  oj vocab = oj::object();
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (v.types[i] == 3)
      added.push_back({{"id", i},
                       {"content", v.tokens[i]},
                       {"single_word", false},
                       {"lstrip", false},
                       {"rstrip", false},
                       {"normalized", false},
                       {"special", true}});
    else
      vocab[v.tokens[i]] = i;
  }
  oj merges = oj::array();
  for (const auto& m : v.merges) {
    size_t sp = m.find(' ');
    merges.push_back({m.substr(0, sp), m.substr(sp + 1)});
  }
  oj j = {{"version", "1.0"},
          {"truncation", nullptr},
          {"padding", nullptr},
          {"added_tokens", added},
          {"normalizer", nullptr},
          {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", pre}}},
          {"post_processor", nullptr},
          {"decoder",
           {{"type", "ByteLevel"},
            {"add_prefix_space", false},
            {"trim_offsets", true},
            {"use_regex", false}}},
          {"model",
           {{"type", "BPE"},
            {"dropout", nullptr},
            {"unk_token", nullptr},
            {"continuing_subword_prefix", nullptr},
            {"end_of_word_suffix", nullptr},
            {"fuse_unk", false},
            {"byte_fallback", false},
            {"ignore_merges", bpe && bpe->spec().whole_piece_first},
            {"vocab", vocab},
            {"merges", merges}}}};
  return j.dump();
}

}  // namespace

bool write_hf_vocab(const ModelFiles& files, const std::string& dir, std::string& note) {
  auto tok = try_tokenizer(files, note);
  if (!tok) return false;
  if (const auto* hf = dynamic_cast<const HfTokenizer*>(tok.get())) {
    hf->save(dir + "/tokenizer.json");  // the original file, as it was read
    write_tokenizer_config(*tok, files, dir);
    return true;
  }
  ByteLevelVocab v;
  if (!byte_level_vocab(*tok, v, note)) return false;
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  for (size_t i = 0; i < v.tokens.size(); ++i) vocab[v.tokens[i]] = i;
  std::string merges = "#version: 0.2\n";
  for (const auto& m : v.merges) merges += m + "\n";
  write_file_atomic(dir + "/vocab.json", vocab.dump());
  write_file_atomic(dir + "/merges.txt", merges);
  write_file_atomic(dir + "/tokenizer.json", byte_level_tokenizer_json(*tok, v));
  write_tokenizer_config(*tok, files, dir);
  return true;
}

}  // namespace sllm
