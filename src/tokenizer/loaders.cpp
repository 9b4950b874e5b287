#include "sllm/tokenizer/loaders.h"

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "pretokenizer.h"
#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "sllm/io/gguf.h"
#include "sllm/tokenizer/hf_tokenizer.h"
#include "sllmtok_format.h"
#include "utf8.h"

namespace sllm {

namespace fs = std::filesystem;

namespace {

// GPT-2's bytes_to_unicode(): printable bytes stand for themselves, the others for U+0100...
struct ByteUnicode {
  uint32_t to_cp[256];
  std::unordered_map<uint32_t, uint8_t> to_byte;
  ByteUnicode() {
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      to_cp[b] = printable ? b : 256 + n++;
      to_byte[to_cp[b]] = static_cast<uint8_t>(b);
    }
  }
};
const ByteUnicode& byte_unicode() {
  static const ByteUnicode m;
  return m;
}

// "Ġhello" -> " hello". Throws naming the token when a character is not in the mapping.
std::string unmap_gpt2_token(std::string_view s, const std::string& where) {
  const auto& m = byte_unicode();
  std::string out;
  const auto* p = reinterpret_cast<const uint8_t*>(s.data());
  for (size_t i = 0; i < s.size();) {
    uint32_t cp;
    int len = utf8::decode(p + i, s.size() - i, &cp);
    if (len == 0) fail("{}: token '{}' is not valid UTF-8", where, std::string(s));
    auto it = m.to_byte.find(cp);
    if (it == m.to_byte.end())
      fail("{}: token '{}' has character U+{:04X}, which is not in GPT-2's byte-to-unicode mapping",
           where, std::string(s), cp);
    out += static_cast<char>(it->second);
    i += len;
  }
  return out;
}

struct EncodingInfo {
  const char* name;
  const char* pattern;
  std::vector<SpecialToken> specials;
};

const EncodingInfo* tiktoken_encoding(std::string_view name) {
  static const std::vector<EncodingInfo> encodings = {
      {"r50k_base", "gpt2", {{"<|endoftext|>", 50256}}},
      {"p50k_base", "gpt2", {{"<|endoftext|>", 50256}}},
      {"cl100k_base",
       "cl100k",
       {{"<|endoftext|>", 100257},
        {"<|fim_prefix|>", 100258},
        {"<|fim_middle|>", 100259},
        {"<|fim_suffix|>", 100260},
        {"<|endofprompt|>", 100276}}},
      {"o200k_base", "o200k", {{"<|endoftext|>", 199999}, {"<|endofprompt|>", 200018}}},
  };
  for (const auto& e : encodings)
    if (name == e.name) return &e;
  return nullptr;
}

bool base64_decode(std::string_view in, std::string& out) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  out.clear();
  if (in.empty() || in.size() % 4 != 0) return false;
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else {
        if (pad) return false;
        v[k] = val(c);
        if (v[k] < 0) return false;
      }
    }
    uint32_t w = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += static_cast<char>(w >> 16);
    if (pad < 2) out += static_cast<char>((w >> 8) & 0xFF);
    if (pad < 1) out += static_cast<char>(w & 0xFF);
  }
  return true;
}

std::string_view as_view(const MappedFile& f) {
  return {reinterpret_cast<const char*>(f.data()), f.size()};
}

std::unique_ptr<BpeTokenizer> build(BpeSpec spec, const std::string& where) {
  try {
    return std::make_unique<BpeTokenizer>(std::move(spec));
  } catch (const Error& e) {
    fail("{}: {}", where, e.what());
  }
}

}  // namespace

std::unique_ptr<BpeTokenizer> parse_hf_bpe(std::string_view vocab_json, std::string_view merges_txt,
                                           const std::string& where,
                                           const std::vector<std::string>& extra_specials) {
  auto vocab = nlohmann::json::parse(vocab_json, nullptr, false);
  if (vocab.is_discarded() || !vocab.is_object())
    fail("{}: vocab.json is not a JSON object of token -> id", where);
  if (vocab.empty()) fail("{}: vocab.json is empty", where);
  BpeSpec spec;
  spec.name = "gpt2";
  spec.pattern = builtin_pattern("gpt2");
  std::unordered_map<std::string, int32_t> mapped_id;  // mapped form -> id, for the merges
  int64_t max_id = -1;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_integer())
      fail("{}: vocab.json entry '{}' is not an integer id", where, it.key());
    int64_t id = it.value().get<int64_t>();
    // Ids are about 0..n-1: a far larger id would only make a tiny file allocate a huge table.
    if (id < 0 || id >= static_cast<int64_t>(2 * vocab.size() + 256))
      fail("{}: vocab.json entry '{}' has id {} out of range (the file has {} entries)", where,
           it.key(), id, vocab.size());
    max_id = std::max(max_id, id);
  }
  spec.tokens.assign(max_id + 1, "");
  spec.types.assign(max_id + 1, TokenType::Unused);
  std::vector<std::string> specials = extra_specials;
  if (vocab.contains("<|endoftext|>")) specials.push_back("<|endoftext|>");
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    auto id = static_cast<int32_t>(it.value().get<int64_t>());
    if (spec.types[id] != TokenType::Unused)
      fail("{}: vocab.json gives id {} to both '{}' and another token", where, id, it.key());
    if (!mapped_id.emplace(it.key(), id).second)
      fail("{}: vocab.json has token '{}' twice", where, it.key());
    bool special = std::find(specials.begin(), specials.end(), it.key()) != specials.end();
    spec.tokens[id] = special ? it.key() : unmap_gpt2_token(it.key(), where + " vocab.json");
    spec.types[id] = special ? TokenType::Control : TokenType::Normal;
  }
  for (const auto& s : specials) {
    auto it = mapped_id.find(s);
    if (it == mapped_id.end()) fail("{}: special token '{}' is not in vocab.json", where, s);
    if (std::none_of(spec.specials.begin(), spec.specials.end(),
                     [&](auto& x) { return x.text == s; }))
      spec.specials.push_back({s, it->second});
  }
  size_t line_no = 0, pos = 0;
  while (pos < merges_txt.size()) {
    size_t eol = merges_txt.find('\n', pos);
    if (eol == std::string_view::npos) eol = merges_txt.size();
    std::string_view line = merges_txt.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || (line_no == 1 && line.substr(0, 8) == "#version")) continue;
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos || sp == 0 || sp + 1 >= line.size() ||
        line.find(' ', sp + 1) != std::string_view::npos)
      fail("{}: merges.txt line {} is '{}', expected two tokens separated by one space", where,
           line_no, std::string(line));
    auto a = mapped_id.find(std::string(line.substr(0, sp)));
    auto b = mapped_id.find(std::string(line.substr(sp + 1)));
    if (a == mapped_id.end() || b == mapped_id.end())
      fail("{}: merges.txt line {} ('{}') names a token that is not in vocab.json", where, line_no,
           std::string(line));
    spec.merges.push_back({a->second, b->second});
  }
  return build(std::move(spec), where);
}

std::unique_ptr<BpeTokenizer> load_hf_bpe(const std::string& vocab_json,
                                          const std::string& merges_txt,
                                          const std::vector<std::string>& extra_specials) {
  MappedFile v(vocab_json), m(merges_txt);
  return parse_hf_bpe(as_view(v), as_view(m), vocab_json + " + " + merges_txt, extra_specials);
}

std::unique_ptr<BpeTokenizer> parse_tiktoken(std::string_view data, const std::string& encoding,
                                             const std::string& where) {
  const EncodingInfo* enc = tiktoken_encoding(encoding);
  if (!enc)
    fail("{}: unknown tiktoken encoding '{}' (r50k_base, p50k_base, cl100k_base or o200k_base)",
         where, encoding);
  BpeSpec spec;
  spec.name = enc->name;
  spec.pattern = builtin_pattern(enc->pattern);
  spec.order = MergeOrder::Ranks;
  spec.whole_piece_first = true;
  // Ranks are 0..n-1 in every tiktoken file: a rank past the line count would only make a tiny
  // file allocate a vocabulary of up to a billion entries.
  const int64_t n_lines = static_cast<int64_t>(std::count(data.begin(), data.end(), '\n')) + 1;
  std::string tok;
  size_t line_no = 0, pos = 0;
  while (pos < data.size()) {
    size_t eol = data.find('\n', pos);
    if (eol == std::string_view::npos) eol = data.size();
    std::string_view line = data.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (line.empty()) continue;
    size_t sp = line.find(' ');
    if (sp == std::string_view::npos)
      fail("{}: line {} has no space between token and rank", where, line_no);
    if (!base64_decode(line.substr(0, sp), tok))
      fail("{}: line {}: token is not valid base64", where, line_no);
    std::string_view rank_s = line.substr(sp + 1);
    int64_t rank = 0;
    if (rank_s.empty() || rank_s.size() > 9)
      fail("{}: line {}: bad rank '{}'", where, line_no, std::string(rank_s));
    for (char c : rank_s) {
      if (c < '0' || c > '9')
        fail("{}: line {}: bad rank '{}'", where, line_no, std::string(rank_s));
      rank = rank * 10 + (c - '0');
    }
    if (rank >= n_lines)
      fail("{}: line {}: rank {} but the file has only {} lines (ranks must be 0..n-1)", where,
           line_no, rank, n_lines);
    if (rank >= static_cast<int64_t>(spec.tokens.size())) {
      spec.tokens.resize(rank + 1);
      spec.types.resize(rank + 1, TokenType::Unused);
    }
    if (spec.types[rank] != TokenType::Unused)
      fail("{}: line {}: rank {} appears twice", where, line_no, rank);
    spec.tokens[rank] = tok;
    spec.types[rank] = TokenType::Normal;
  }
  for (const auto& s : enc->specials) {
    if (static_cast<size_t>(s.id) >= spec.tokens.size()) {
      spec.tokens.resize(s.id + 1);
      spec.types.resize(s.id + 1, TokenType::Unused);
    }
    if (spec.types[s.id] != TokenType::Unused)
      fail("{}: special token '{}' id {} is taken by a rank in the file", where, s.text, s.id);
    spec.tokens[s.id] = s.text;
    spec.types[s.id] = TokenType::Control;
    spec.specials.push_back(s);
  }
  return build(std::move(spec), where);
}

std::unique_ptr<BpeTokenizer> load_tiktoken(const std::string& path, std::string encoding) {
  if (encoding.empty()) {
    std::string stem = fs::path(path).stem().string();
    for (const char* e : {"r50k_base", "p50k_base", "cl100k_base", "o200k_base"})
      if (stem.find(e) != std::string::npos) encoding = e;
    if (encoding.empty())
      fail(
          "{}: cannot tell the tiktoken encoding from the file name; name it (r50k_base, "
          "p50k_base, cl100k_base, "
          "o200k_base)",
          path);
  }
  MappedFile f(path);
  return parse_tiktoken(as_view(f), encoding, path);
}

std::unique_ptr<BpeTokenizer> tokenizer_from_gguf(const GGUFReader& g) {
  const std::string where = g.path();
  std::string model = g.get_string("tokenizer.ggml.model", "");
  if (model.empty()) fail("{}: no tokenizer.ggml.model: the file carries no tokenizer", where);
  const GGUFValue* toks = g.find("tokenizer.ggml.tokens");
  if (!toks) fail("{}: no tokenizer.ggml.tokens", where);
  BpeSpec spec;
  try {
    spec.tokens = toks->as_strings();
  } catch (const Error& e) {
    fail("{}: tokenizer.ggml.tokens: {}", where, e.what());
  }
  const size_t n = spec.tokens.size();
  if (n == 0) fail("{}: tokenizer.ggml.tokens is empty", where);
  spec.types.assign(n, TokenType::Normal);
  if (const GGUFValue* tt = g.find("tokenizer.ggml.token_type")) {
    std::vector<int64_t> v;
    try {
      v = tt->as_ints();
    } catch (const Error& e) {
      fail("{}: tokenizer.ggml.token_type: {}", where, e.what());
    }
    if (v.size() != n) fail("{}: {} token types for {} tokens", where, v.size(), n);
    for (size_t i = 0; i < n; ++i) {
      if (v[i] < 1 || v[i] > 6) fail("{}: token {} has unknown token type {}", where, i, v[i]);
      spec.types[i] = static_cast<TokenType>(v[i]);
    }
  }
  auto id_key = [&](const char* key) -> int32_t {
    int64_t v = g.get_int(key, -1);
    if (v < -1 || v >= static_cast<int64_t>(n))
      fail("{}: {} = {} is outside the vocabulary", where, key, v);
    return static_cast<int32_t>(v);
  };
  spec.unk_id = id_key("tokenizer.ggml.unknown_token_id");
  if (model == "gpt2") {
    std::string pre = g.get_string("tokenizer.ggml.pre", "default");
    if (!llama_cpp_pre_tokenizer(pre, &spec.pattern, &spec.whole_piece_first))
      fail("{}: pre-tokenizer '{}' is not supported (see llama_cpp_pre_tokenizer for the names)",
           where, pre);
    spec.name = pre == "default" || pre == "gpt-2" ? "gpt2" : pre;
    std::unordered_map<std::string, int32_t> mapped_id;
    for (size_t i = 0; i < n; ++i) {
      mapped_id.emplace(spec.tokens[i], static_cast<int32_t>(i));
      if (spec.types[i] == TokenType::Normal || spec.types[i] == TokenType::Byte) {
        spec.types[i] = TokenType::Normal;
        spec.tokens[i] = unmap_gpt2_token(spec.tokens[i], where);
      }
    }
    const GGUFValue* merges = g.find("tokenizer.ggml.merges");
    if (!merges) fail("{}: gpt2 tokenizer without tokenizer.ggml.merges", where);
    std::vector<std::string> lines;
    try {
      lines = merges->as_strings();
    } catch (const Error& e) {
      fail("{}: tokenizer.ggml.merges: {}", where, e.what());
    }
    for (size_t r = 0; r < lines.size(); ++r) {
      const std::string& line = lines[r];
      size_t sp = line.find(' ', 1);
      if (sp == std::string::npos || sp + 1 >= line.size())
        fail("{}: merge {} is '{}', expected two tokens separated by a space", where, r, line);
      auto a = mapped_id.find(line.substr(0, sp));
      auto b = mapped_id.find(line.substr(sp + 1));
      if (a == mapped_id.end() || b == mapped_id.end())
        fail("{}: merge {} ('{}') names a token that is not in the vocabulary", where, r, line);
      spec.merges.push_back({a->second, b->second});
    }
    spec.order = MergeOrder::Merges;
  } else if (model == "llama") {
    spec.name = "llama-spm";
    spec.sentencepiece = true;
    spec.order = MergeOrder::Scores;
    const GGUFValue* scores = g.find("tokenizer.ggml.scores");
    if (!scores) fail("{}: llama tokenizer without tokenizer.ggml.scores", where);
    try {
      spec.scores = scores->as_floats();
    } catch (const Error& e) {
      fail("{}: tokenizer.ggml.scores: {}", where, e.what());
    }
    if (spec.scores.size() != n) fail("{}: {} scores for {} tokens", where, spec.scores.size(), n);
    if (const GGUFValue* v = g.find("tokenizer.ggml.add_space_prefix"))
      spec.add_space_prefix = v->as_bool();
  } else {
    fail("{}: tokenizer model '{}' is not supported (gpt2 and llama are)", where, model);
  }
  for (size_t i = 0; i < n; ++i) {
    TokenType t = spec.types[i];
    if (t == TokenType::Control || t == TokenType::UserDefined ||
        (t == TokenType::Unknown && spec.sentencepiece))
      if (!spec.tokens[i].empty())
        spec.specials.push_back({spec.tokens[i], static_cast<int32_t>(i)});
  }
  int32_t bos = id_key("tokenizer.ggml.bos_token_id"), eos = id_key("tokenizer.ggml.eos_token_id");
  auto t = build(std::move(spec), where);
  t->set_bos_eos(bos >= 0 ? bos : t->bos_id(), eos >= 0 ? eos : t->eos_id());
  return t;
}

std::unique_ptr<BpeTokenizer> load_gguf_tokenizer(const std::string& path) {
  GGUFReader g(path);
  return tokenizer_from_gguf(g);
}

std::unique_ptr<Tokenizer> open_tokenizer(const std::string& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    if (fs::exists(fs::path(path) / "tokenizer.sllmtok"))
      return load_tokenizer((fs::path(path) / "tokenizer.sllmtok").string());
    if (fs::exists(fs::path(path) / "tokenizer.json")) return load_hf_tokenizer(path);
    if (fs::exists(fs::path(path) / "vocab.json") && fs::exists(fs::path(path) / "merges.txt"))
      return load_hf_bpe((fs::path(path) / "vocab.json").string(),
                         (fs::path(path) / "merges.txt").string());
    fail("{}: folder has neither tokenizer.sllmtok, tokenizer.json nor vocab.json + merges.txt",
         path);
  }
  MappedFile f(path);
  std::string_view head = as_view(f).substr(0, 8);
  if (head.size() == 8 && head == std::string_view(kSllmtokMagic, 8)) return load_tokenizer(path);
  if (head.substr(0, 4) == "GGUF") return load_gguf_tokenizer(path);
  if (!head.empty() && head[0] == '{' &&
      !fs::path(path).filename().string().ends_with("vocab.json"))
    return load_hf_tokenizer(path);  // tokenizer.json, under any name
  std::string name = fs::path(path).filename().string();
  if (name.ends_with(".tiktoken")) return load_tiktoken(path);
  if (name.ends_with(".json") && !name.ends_with("vocab.json")) return load_hf_tokenizer(path);
  if (name.ends_with("vocab.json")) {
    std::string merges =
        path.substr(0, path.size() - std::string("vocab.json").size()) + "merges.txt";
    if (!fs::exists(merges)) fail("{}: no merges file {} next to it", path, merges);
    return load_hf_bpe(path, merges);
  }
  fail(
      "{}: not a tokenizer sllm can read (.sllmtok, GGUF, .tiktoken, tokenizer.json, vocab.json + "
      "merges.txt)",
      path);
}

}  // namespace sllm
