// Supervised fine-tuning data: JSONL chat examples rendered with a chat template, tokenized
// with a loss mask that keeps only the assistant's tokens, and packed into fixed-length rows.
//
// Each JSONL line is one example, in one of TRL's layouts:
//   {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}   (chat SFT)
//   {"conversations": [{"from": "system"|"human"|"gpt", "value": "..."}, ...]}      (ShareGPT)
//   {"prompt": "...", "completion": "..."}          (the completion's tokens are trained)
//   {"prompt": [messages], "completion": [messages]}       (conversational prompt-completion:
//                                   trained like "messages", every assistant turn included)
//   {"text": "..."}                                                    (every token is trained)
// Blank lines are skipped; any other defect is an sllm::Error naming the file and line.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "sllm/tokenizer/chat.h"

namespace sllm {

// ChatMessage is the inference engine's (sllm/tokenizer/chat.h): one message type across sllm.

struct SftExample {
  std::vector<ChatMessage> messages;  // Empty for a {"text": ...} example.
  std::string text;
  std::string prompt;  // Untrained text before `text` (a standard prompt-completion row).
  int line = 0;        // 1-based line in the source file, for error messages.
};

std::vector<SftExample> parse_sft_jsonl(std::string_view contents, const std::string& source_name);
std::vector<SftExample> read_sft_jsonl(const std::string& path);  // Throws if no example.

// A piece of rendered text and whether its tokens count in the loss.
struct TextSegment {
  std::string text;
  bool train = false;
};

// Chat templates: "chatml" (<|im_start|>role\n...<|im_end|>\n), "zephyr" (<|role|>\n...</s>\n),
// "plain" (User: ...\nAssistant: ...\n, for char-level models with no special tokens).
// The assistant's content and its end-of-turn marker are trained; headers are not.
std::vector<std::string> chat_template_names();
std::vector<TextSegment> render_chat(const std::string& template_name,
                                     const std::vector<ChatMessage>& messages);

// A Jinja chat template (the model's own, as transformers renders it). The trained spans are
// its {% generation %} blocks when it has them (TRL's assistant masks); else each assistant
// message's span is what rendering messages[0..i] adds to messages[0..i) rendered with the
// generation prompt: the reply and its end-of-turn. Throws when the template does not render
// a conversation as a sequence of such extensions.
std::vector<TextSegment> render_chat(const ChatTemplate& t,
                                     const std::vector<ChatMessage>& messages);

using EncodeFn = std::function<std::vector<int32_t>(std::string_view)>;

// Rows of T input tokens with their next-token targets (-1 where the loss ignores a position).
struct PackedSequences {
  int T = 0;
  size_t rows = 0;
  std::vector<int32_t> inputs, targets;  // [rows, T]
  size_t trained_tokens = 0;             // Targets >= 0.
  const int32_t* row_inputs(size_t r) const { return inputs.data() + r * T; }
  const int32_t* row_targets(size_t r) const { return targets.data() + r * T; }
};

// Tokenizes every example (bos_id >= 0 is prepended to each) into one stream and cuts it into
// rows of T inputs; the last row is padded with token 0 and target -1. Rows with no trained
// target are dropped. Tokenizer errors are rethrown naming the example's line.
PackedSequences pack_sft(const std::vector<SftExample>& examples, const std::string& template_name,
                         const EncodeFn& encode, int32_t bos_id, int T,
                         const std::string& source_name);

// The same through a Jinja template; bos_id is not added when the template printed it.
PackedSequences pack_sft(const std::vector<SftExample>& examples, const ChatTemplate& t,
                         const EncodeFn& encode, int32_t bos_id, int T,
                         const std::string& source_name);

// Plain continued pretraining: every next token is a target.
PackedSequences pack_tokens(const std::vector<int32_t>& tokens, int T);

// Splits off the last `fraction` of the rows (at least one when there are two or more).
void split_rows(const PackedSequences& all, double fraction, PackedSequences& train,
                PackedSequences& val);

}  // namespace sllm
