#include "sllm/tokenizer/chat.h"

#include <filesystem>

#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "sllm/jinja/template.h"
#include "sllm/tokenizer/hf_tokenizer.h"
#include "sllm/tokenizer/tokenizer.h"

namespace sllm {

namespace {

// The built-in templates, written in Jinja so that every chat goes through one renderer.
const struct {
  const char* name;
  const char* source;
  const char* stops[2];
} kBuiltins[] = {
    {"chatml",
     "{% for m in messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}"
     "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
     {"<|im_end|>", "<|im_start|>"}},
    // Meta's format: the system prompt folds into the first user turn; each user turn opens a
    // <s>[INST] ... [/INST] block that the assistant reply and </s> close.
    {"llama2",
     "{% if messages[0].role == 'system' %}{% set system = messages[0].content %}"
     "{% set loop_messages = messages[1:] %}{% else %}{% set system = '' %}"
     "{% set loop_messages = messages %}{% endif %}{% set ns = namespace(first=true) %}"
     "{% for m in loop_messages %}{% if m.role == 'user' %}{{ '<s>[INST] ' }}"
     "{% if ns.first and system %}{{ '<<SYS>>\\n' + system + '\\n<</SYS>>\\n\\n' }}{% endif %}"
     "{% set ns.first = false %}{{ m.content + ' [/INST]' }}"
     "{% elif m.role == 'assistant' %}{{ ' ' + m.content + ' </s>' }}"
     "{% else %}{{ raise_exception('llama2 chat template: a system message may only come "
     "first') }}{% endif %}{% endfor %}",
     {"</s>", "[INST]"}},
    {"llama3",
     "{{ '<|begin_of_text|>' }}{% for m in messages %}{{ '<|start_header_id|>' + m.role + "
     "'<|end_header_id|>\\n\\n' + m.content + '<|eot_id|>' }}{% endfor %}"
     "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
     "{% endif %}",
     {"<|eot_id|>", "<|start_header_id|>"}},
    {"zephyr",
     "{% for m in messages %}{{ '<|' + m.role + '|>\\n' + m.content + '</s>\\n' }}{% endfor %}"
     "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}",
     {"</s>", "<|user|>"}},
};

void check_roles(const nlohmann::ordered_json& messages) {
  if (!messages.is_array() || messages.empty()) fail("a chat needs at least one message");
  for (const auto& m : messages) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      fail("chat message {} needs a string role", m.dump().substr(0, 80));
    const std::string role = m["role"];
    if (role != "system" && role != "user" && role != "assistant" && role != "tool")
      fail("chat message role '{}' is not system, user, assistant or tool", role);
  }
}

}  // namespace

std::vector<std::string> builtin_chat_template_names() {
  std::vector<std::string> out;
  for (const auto& b : kBuiltins) out.push_back(b.name);
  return out;
}

ChatTemplate::ChatTemplate() : ChatTemplate(named("chatml")) {}

ChatTemplate ChatTemplate::named(const std::string& name) {
  std::string want = name == "llama-2" ? "llama2" : name == "llama-3" ? "llama3" : name;
  for (const auto& b : kBuiltins) {
    if (want != b.name) continue;
    ChatTemplate t = jinja(b.source, "", "", b.name);
    t.stops_ = {b.stops[0], b.stops[1]};
    return t;
  }
  fail("unknown chat template '{}' (expected chatml, llama2, llama3, zephyr or a .jinja file)",
       name);
}

ChatTemplate ChatTemplate::jinja(const std::string& source, std::string bos, std::string eos,
                                 std::string name) {
  ChatTemplate t(nullptr);
  t.name_ = std::move(name);
  t.source_ = source;
  t.bos_ = std::move(bos);
  t.eos_ = std::move(eos);
  try {
    t.tpl_ = std::make_shared<const jinja::Template>(source);
  } catch (const Error& e) {
    fail("chat template '{}': {}", t.name_, e.what());
  }
  if (!t.eos_.empty()) t.stops_.push_back(t.eos_);
  return t;
}

void ChatTemplate::add_stop_string(const std::string& s) {
  if (s.empty()) return;
  for (const auto& x : stops_)
    if (x == s) return;
  stops_.push_back(s);
}

std::string ChatTemplate::apply(const std::vector<ChatMessage>& messages,
                                bool add_generation_prompt) const {
  nlohmann::ordered_json j = nlohmann::ordered_json::array();
  for (const auto& m : messages) j.push_back({{"role", m.role}, {"content", m.content}});
  return apply_json(j, add_generation_prompt);
}

std::string ChatTemplate::apply_json(const nlohmann::ordered_json& messages,
                                     bool add_generation_prompt,
                                     const nlohmann::ordered_json& extra,
                                     std::vector<std::pair<size_t, size_t>>* spans) const {
  check_roles(messages);
  // What transformers passes: messages, tools (None when absent), add_generation_prompt and
  // the special tokens, then the caller's variables.
  nlohmann::ordered_json ctx = {{"messages", messages},
                                {"tools", nullptr},
                                {"add_generation_prompt", add_generation_prompt},
                                {"bos_token", bos_},
                                {"eos_token", eos_}};
  if (extra.is_object())
    for (auto it = extra.begin(); it != extra.end(); ++it) ctx[it.key()] = it.value();
  return tpl_->render(ctx, spans);
}

ChatTemplate model_chat_template(const std::string& jinja_source, const Tokenizer& tok,
                                 const std::string& choice) {
  auto token_text = [&](int32_t id) -> std::string {
    if (id < 0) return "";
    return std::string(tok.token_bytes(id));
  };
  const std::string bos = token_text(tok.bos_id()), eos = token_text(tok.eos_id());
  auto with_stops = [&](ChatTemplate t) {
    t.add_stop_string(eos);
    if (const auto* hf = dynamic_cast<const HfTokenizer*>(&tok))
      for (int32_t id : hf->config().eos_ids) t.add_stop_string(token_text(id));
    return t;
  };
  if (!choice.empty()) {
    if (choice.ends_with(".jinja") || std::filesystem::exists(choice))
      return with_stops(ChatTemplate::jinja(read_file(choice), bos, eos, choice));
    return ChatTemplate::named(choice);
  }
  if (!jinja_source.empty()) return with_stops(ChatTemplate::jinja(jinja_source, bos, eos));
  return ChatTemplate::named("chatml");
}

}  // namespace sllm
