#include "sllmtok_format.h"

#include <cstring>

#include "sllm/common/error.h"
#include "sllm/io/file.h"

namespace sllm {

uint32_t ByteReader::u32(const char* field) {
  std::string_view b = bytes(4, field);
  uint32_t v;
  std::memcpy(&v, b.data(), 4);
  return v;
}

float ByteReader::f32(const char* field) {
  std::string_view b = bytes(4, field);
  float v;
  std::memcpy(&v, b.data(), 4);
  return v;
}

std::string_view ByteReader::bytes(size_t n, const char* field) {
  if (n > remaining())
    fail("{}: truncated: {} needs {} bytes at offset {} but only {} remain", where_, field, n, pos_,
         remaining());
  std::string_view v = data_.substr(pos_, n);
  pos_ += n;
  return v;
}

void put_u32(std::string& out, uint32_t v) {
  out.append(reinterpret_cast<const char*>(&v), 4);
}
void put_f32(std::string& out, float v) {
  out.append(reinterpret_cast<const char*>(&v), 4);
}

nlohmann::json common_header(const Tokenizer& t) {
  nlohmann::json h;
  h["kind"] = t.kind();
  h["name"] = t.name();
  h["vocab_size"] = t.vocab_size();
  auto sp = nlohmann::json::array();
  for (const auto& s : t.special_tokens()) sp.push_back({{"id", s.id}, {"text", s.text}});
  h["specials"] = sp;
  h["bos_id"] = t.bos_id();
  h["eos_id"] = t.eos_id();
  return h;
}

std::vector<std::string> all_token_bytes(const Tokenizer& t) {
  std::vector<std::string> v(t.vocab_size());
  for (int32_t i = 0; i < t.vocab_size(); ++i) v[i] = std::string(t.token_bytes(i));
  return v;
}

std::vector<SpecialToken> header_specials(const nlohmann::json& header, int32_t vocab_size,
                                          const std::string& where) {
  std::vector<SpecialToken> out;
  if (!header.contains("specials")) return out;
  const auto& sp = header["specials"];
  if (!sp.is_array()) fail("{}: header field 'specials' must be an array", where);
  for (const auto& s : sp) {
    if (!s.is_object() || !s.contains("id") || !s.contains("text") ||
        !s["id"].is_number_integer() || !s["text"].is_string())
      fail("{}: every entry of 'specials' needs an integer 'id' and a string 'text'", where);
    int64_t id = s["id"].get<int64_t>();
    if (id < 0 || id >= vocab_size)
      fail("{}: special token '{}' has id {} outside the vocabulary (size {})", where,
           s["text"].get<std::string>(), id, vocab_size);
    out.push_back({s["text"].get<std::string>(), static_cast<int32_t>(id)});
  }
  return out;
}

void write_sllmtok(const std::string& path, const nlohmann::json& header,
                   const std::vector<std::string>& tokens, std::string_view extra) {
  std::string h = header.dump();
  std::string out;
  out.append(kSllmtokMagic, 8);
  put_u32(out, kSllmtokVersion);
  put_u32(out, static_cast<uint32_t>(h.size()));
  out += h;
  put_u32(out, static_cast<uint32_t>(tokens.size()));
  for (const auto& t : tokens) {
    put_u32(out, static_cast<uint32_t>(t.size()));
    out += t;
  }
  out += extra;
  write_file_atomic(path, out);
}

SllmtokContents parse_sllmtok(std::string_view data, const std::string& where) {
  ByteReader r(data, where);
  std::string_view magic = r.bytes(8, "magic");
  if (std::memcmp(magic.data(), kSllmtokMagic, 8) != 0)
    fail("{}: not an sllm tokenizer file (bad magic; expected \"SLLMTOKR\")", where);
  uint32_t version = r.u32("version");
  if (version != kSllmtokVersion)
    fail("{}: tokenizer format version {} is not supported (this build reads version {})", where,
         version, kSllmtokVersion);
  uint32_t hlen = r.u32("header length");
  std::string_view htext = r.bytes(hlen, "header");
  SllmtokContents c;
  c.header = nlohmann::json::parse(htext, nullptr, false);
  if (c.header.is_discarded() || !c.header.is_object())
    fail("{}: header is not a JSON object", where);
  if (!c.header.contains("kind") || !c.header["kind"].is_string())
    fail("{}: header has no string 'kind'", where);
  if (!c.header.contains("vocab_size") || !c.header["vocab_size"].is_number_integer())
    fail("{}: header has no integer 'vocab_size'", where);
  int64_t vocab = c.header["vocab_size"].get<int64_t>();
  uint32_t n = r.u32("token count");
  if (vocab <= 0 || vocab > (1 << 30) || static_cast<int64_t>(n) != vocab)
    fail("{}: token table has {} entries but the header says vocab_size {}", where, n, vocab);
  if (static_cast<size_t>(n) > r.remaining() / 4)
    fail("{}: truncated token table ({} tokens)", where, n);
  c.tokens.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    uint32_t len = r.u32("token length");
    c.tokens.emplace_back(r.bytes(len, "token bytes"));
  }
  c.extra = std::string(r.bytes(r.remaining(), "extra"));
  return c;
}

void apply_common_header(Tokenizer& t, const nlohmann::json& header, const std::string& where) {
  if (header.contains("name") && header["name"].is_string())
    t.set_name(header["name"].get<std::string>());
  auto id_field = [&](const char* key, int32_t dflt) {
    if (!header.contains(key)) return dflt;
    if (!header[key].is_number_integer())
      fail("{}: header field '{}' must be an integer", where, key);
    int64_t v = header[key].get<int64_t>();
    if (v < -1 || v >= t.vocab_size())
      fail("{}: header field '{}' = {} is not a token id", where, key, v);
    return static_cast<int32_t>(v);
  };
  t.set_bos_eos(id_field("bos_id", t.bos_id()), id_field("eos_id", t.eos_id()));
}

namespace {

std::vector<std::string> specials_in_order(const std::vector<SpecialToken>& sp, int32_t first_id,
                                           const std::string& where) {
  std::vector<std::string> out;
  for (size_t i = 0; i < sp.size(); ++i) {
    if (sp[i].id != first_id + static_cast<int32_t>(i))
      fail("{}: special token '{}' has id {}, expected {} (specials follow the base tokens)", where,
           sp[i].text, sp[i].id, first_id + static_cast<int32_t>(i));
    out.push_back(sp[i].text);
  }
  return out;
}

}  // namespace

std::unique_ptr<Tokenizer> tokenizer_from_sllmtok(const SllmtokContents& c,
                                                  const std::string& where) {
  const std::string kind = c.header["kind"].get<std::string>();
  const auto vocab = static_cast<int32_t>(c.tokens.size());
  auto specials = header_specials(c.header, vocab, where);
  std::unique_ptr<Tokenizer> t;
  if (kind == "char") {
    int32_t n_chars = vocab - static_cast<int32_t>(specials.size());
    auto sp = specials_in_order(specials, n_chars, where);
    try {
      t = std::make_unique<CharTokenizer>(
          std::vector<std::string>(c.tokens.begin(), c.tokens.begin() + n_chars), std::move(sp));
    } catch (const Error& e) {
      fail("{}: {}", where, e.what());
    }
  } else if (kind == "byte") {
    if (vocab < 256) fail("{}: byte tokenizer needs at least 256 tokens, has {}", where, vocab);
    for (int i = 0; i < 256; ++i)
      if (c.tokens[i].size() != 1 || static_cast<uint8_t>(c.tokens[i][0]) != i)
        fail("{}: byte tokenizer token {} is not the byte 0x{:02X}", where, i, i);
    t = std::make_unique<ByteTokenizer>(specials_in_order(specials, 256, where));
  } else if (kind == "bpe") {
    return bpe_from_sllmtok(c, where);
  } else {
    fail("{}: unknown tokenizer kind '{}' (expected char, byte or bpe)", where, kind);
  }
  apply_common_header(*t, c.header, where);
  return t;
}

std::unique_ptr<Tokenizer> load_tokenizer_from_memory(std::string_view data,
                                                      const std::string& where) {
  return tokenizer_from_sllmtok(parse_sllmtok(data, where), where);
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  MappedFile f(path);
  return load_tokenizer_from_memory(
      std::string_view(reinterpret_cast<const char*>(f.data()), f.size()), path);
}

void CharTokenizer::save(const std::string& path) const {
  write_sllmtok(path, common_header(*this), all_token_bytes(*this), {});
}

void ByteTokenizer::save(const std::string& path) const {
  write_sllmtok(path, common_header(*this), all_token_bytes(*this), {});
}

}  // namespace sllm
