// Loaders for other projects' tokenizer files. Each builds a BpeTokenizer that encodes exactly
// like the original and throws sllm::Error naming the file, line or entry at fault.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "sllm/tokenizer/bpe.h"

namespace sllm {

// Hugging Face GPT-2 layout: vocab.json (byte-to-unicode mapped token -> id) and merges.txt
// ("a b" per line, optional "#version" first line). <|endoftext|> and `extra_specials` (which
// must be in the vocab) become special tokens.
std::unique_ptr<BpeTokenizer> load_hf_bpe(const std::string& vocab_json,
                                          const std::string& merges_txt,
                                          const std::vector<std::string>& extra_specials = {});

// A tiktoken rank file (base64 token, space, rank per line). `encoding` picks the regex and the
// special tokens: r50k_base, p50k_base, cl100k_base or o200k_base; empty: from the file name.
std::unique_ptr<BpeTokenizer> load_tiktoken(const std::string& path, std::string encoding = "");

// The vocabulary of a GGUF file (tokenizer.ggml.*): model "gpt2" (byte-level BPE with merges)
// or "llama" (SentencePiece BPE with scores).
std::unique_ptr<BpeTokenizer> load_gguf_tokenizer(const std::string& path);
class GGUFReader;
std::unique_ptr<BpeTokenizer> tokenizer_from_gguf(const GGUFReader& gguf);

// Opens any tokenizer sllm reads, by content and name: an .sllmtok file, a GGUF file, a
// .tiktoken file, a folder (or vocab.json path) with vocab.json + merges.txt, or a model
// directory holding tokenizer.sllmtok.
std::unique_ptr<Tokenizer> open_tokenizer(const std::string& path);

// The in-memory parsers behind the loaders above (fuzz targets call these). `where` names the
// source in errors.
std::unique_ptr<BpeTokenizer> parse_hf_bpe(std::string_view vocab_json, std::string_view merges_txt,
                                           const std::string& where,
                                           const std::vector<std::string>& extra_specials = {});
std::unique_ptr<BpeTokenizer> parse_tiktoken(std::string_view data, const std::string& encoding,
                                             const std::string& where);

}  // namespace sllm
