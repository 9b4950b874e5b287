// Chat templates: turn a list of messages into the prompt text a chat model was trained on.
//
// A model's own template (GGUF tokenizer.chat_template, tokenizer_config.json's chat_template
// or chat_template.jinja) is rendered by sllm's Jinja engine exactly as transformers'
// apply_chat_template renders it. Models without one use a built-in template by name:
//   chatml: <|im_start|>role\ncontent<|im_end|>\n ... <|im_start|>assistant\n
//   llama2: <s>[INST] <<SYS>>\nsystem\n<</SYS>>\n\nuser [/INST] assistant </s><s>[INST] ...
//   llama3: <|begin_of_text|><|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>...
//   zephyr: <|role|>\ncontent</s>\n ... <|assistant|>\n
// The special markers are written as text; tokenizers match them as special tokens.
#pragma once
#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace sllm {

namespace jinja {
class Template;
}
class Tokenizer;

struct ChatMessage {
  std::string role;  // "system", "user", "assistant" or "tool"
  std::string content;
};

class ChatTemplate {
 public:
  ChatTemplate();  // chatml
  // A built-in template: chatml, llama2, llama3 or zephyr. Throws for other names.
  static ChatTemplate named(const std::string& name);
  // A Jinja template with the text of the tokens it may print as bos_token / eos_token.
  // Throws sllm::Error when the template does not parse.
  static ChatTemplate jinja(const std::string& source, std::string bos_token, std::string eos_token,
                            std::string name = "model");

  const std::string& name() const { return name_; }
  const std::string& source() const { return source_; }

  // With add_generation_prompt the text ends where the assistant's reply begins. Throws for an
  // empty message list, and with the template's message when it raises.
  std::string apply(const std::vector<ChatMessage>& messages,
                    bool add_generation_prompt = true) const;
  // Messages as JSON (content as a string or a list of parts, tool_calls, ...). `extra` adds
  // variables (tools, enable_thinking, ...). `spans` receives the {% generation %} ranges.
  std::string apply_json(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                         const nlohmann::ordered_json& extra = nlohmann::ordered_json::object(),
                         std::vector<std::pair<size_t, size_t>>* spans = nullptr) const;

  // Text that ends an assistant turn, to use as stop strings.
  const std::vector<std::string>& stop_strings() const { return stops_; }
  void add_stop_string(const std::string& s);

 private:
  explicit ChatTemplate(std::nullptr_t) {}
  std::string name_, source_, bos_, eos_;
  std::shared_ptr<const jinja::Template> tpl_;
  std::vector<std::string> stops_;
};

std::vector<std::string> builtin_chat_template_names();

// The template a model chats with: `choice` when given (a built-in name or a .jinja file),
// else the model's own `jinja` (with the tokenizer's bos/eos and end-of-turn tokens as stops),
// else chatml.
ChatTemplate model_chat_template(const std::string& jinja, const Tokenizer& tok,
                                 const std::string& choice = "");

}  // namespace sllm
