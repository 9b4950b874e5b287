// Chat templates: turn a list of messages into the prompt text a chat model was trained on.
//   chatml: <|im_start|>role\ncontent<|im_end|>\n ... <|im_start|>assistant\n
//   llama2: <s>[INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] assistant </s><s>[INST] ...
//   llama3: <|begin_of_text|><|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>...
// The special markers are written as text; tokenizers match them as special tokens.
#pragma once
#include <string>
#include <vector>

namespace sllm {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

enum class ChatTemplate { ChatML, Llama2, Llama3 };

ChatTemplate parse_chat_template(const std::string& name);  // "chatml", "llama2", "llama3".
const char* chat_template_name(ChatTemplate t);
// Guesses the template from a GGUF/HF Jinja template string or the tokenizer's special tokens
// (whichever markers they contain); ChatML when nothing matches.
ChatTemplate detect_chat_template(const std::string& jinja,
                                  const std::vector<std::string>& special_tokens);

// With add_generation_prompt the text ends where the assistant's reply begins. Throws for
// unknown roles or an empty message list.
std::string apply_chat_template(ChatTemplate t, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt = true);
// Text that ends an assistant turn, to use as stop strings.
std::vector<std::string> chat_stop_strings(ChatTemplate t);

}  // namespace sllm
