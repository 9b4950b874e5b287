#include "sllm/tokenizer/chat.h"

#include <algorithm>

#include "sllm/common/error.h"

namespace sllm {

ChatTemplate parse_chat_template(const std::string& name) {
  if (name == "chatml") return ChatTemplate::ChatML;
  if (name == "llama2" || name == "llama-2") return ChatTemplate::Llama2;
  if (name == "llama3" || name == "llama-3") return ChatTemplate::Llama3;
  fail("unknown chat template '{}' (expected chatml, llama2 or llama3)", name);
}

const char* chat_template_name(ChatTemplate t) {
  switch (t) {
    case ChatTemplate::ChatML:
      return "chatml";
    case ChatTemplate::Llama2:
      return "llama2";
    case ChatTemplate::Llama3:
      return "llama3";
  }
  return "?";
}

ChatTemplate detect_chat_template(const std::string& jinja,
                                  const std::vector<std::string>& specials) {
  auto has = [&](const std::string& s) {
    return jinja.find(s) != std::string::npos ||
           std::find(specials.begin(), specials.end(), s) != specials.end();
  };
  if (has("<|start_header_id|>")) return ChatTemplate::Llama3;
  if (has("<|im_start|>")) return ChatTemplate::ChatML;
  if (has("[INST]")) return ChatTemplate::Llama2;
  return ChatTemplate::ChatML;
}

namespace {
void check_role(const ChatMessage& m) {
  if (m.role != "system" && m.role != "user" && m.role != "assistant")
    fail("chat message role '{}' is not system, user or assistant", m.role);
}
}  // namespace

std::string apply_chat_template(ChatTemplate t, const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt) {
  if (messages.empty()) fail("a chat needs at least one message");
  for (const auto& m : messages) check_role(m);
  std::string out;
  switch (t) {
    case ChatTemplate::ChatML:
      for (const auto& m : messages)
        out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
      if (add_generation_prompt) out += "<|im_start|>assistant\n";
      return out;
    case ChatTemplate::Llama3:
      out = "<|begin_of_text|>";
      for (const auto& m : messages)
        out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + m.content + "<|eot_id|>";
      if (add_generation_prompt) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
      return out;
    case ChatTemplate::Llama2: {
      // Meta's format: the system prompt folds into the first user turn; each user turn opens
      // a <s>[INST] ... [/INST] block that the assistant reply and </s> close.
      std::string system;
      size_t i = 0;
      if (messages[0].role == "system") {
        system = messages[0].content;
        i = 1;
      }
      bool first_user = true;
      for (; i < messages.size(); ++i) {
        const auto& m = messages[i];
        if (m.role == "user") {
          out += "<s>[INST] ";
          if (first_user && !system.empty()) out += "<<SYS>>\n" + system + "\n<</SYS>>\n\n";
          first_user = false;
          out += m.content + " [/INST]";
        } else if (m.role == "assistant") {
          out += " " + m.content + " </s>";
        } else {
          fail("llama2 chat template: a system message may only come first");
        }
      }
      (void)add_generation_prompt;  // The prompt already ends with [/INST].
      return out;
    }
  }
  return out;
}

std::vector<std::string> chat_stop_strings(ChatTemplate t) {
  switch (t) {
    case ChatTemplate::ChatML:
      return {"<|im_end|>", "<|im_start|>"};
    case ChatTemplate::Llama2:
      return {"</s>", "[INST]"};
    case ChatTemplate::Llama3:
      return {"<|eot_id|>", "<|start_header_id|>"};
  }
  return {};
}

}  // namespace sllm
