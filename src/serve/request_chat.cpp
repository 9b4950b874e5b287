// Chat request bodies: messages (text parts, assistant tool calls, tool results) and tools.
#include <set>

#include "json_fields.h"

namespace sllm::serve::fields {

namespace {

std::string message_content(const json& content, const std::string& name) {
  if (content.is_string()) return content.get<std::string>();
  // The array form: [{"type":"text","text":"..."}, ...]; only text parts are understood.
  if (!content.is_array())
    bad_field(name,
              fmt::format("expected a string or an array of parts, got {}", type_name(content)));
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    std::string part = fmt::format("{}[{}]", name, i);
    const json& p = content[i];
    if (!p.is_object()) bad_field(part, "expected an object");
    const json* type = field(p, "type");
    if (!type || !type->is_string() || type->get<std::string>() != "text")
      bad_field(part + ".type", "only \"text\" content parts are supported");
    const json* t = field(p, "text");
    if (!t || !t->is_string()) bad_field(part + ".text", "expected a string");
    text += t->get<std::string>();
  }
  return text;
}

// An assistant's tool_calls, as chat templates expect them: arguments as an object (OpenAI
// sends a JSON string), with the call's id and type kept.
json tool_calls(const json& calls, const std::string& name) {
  if (!calls.is_array()) bad_field(name, "expected an array");
  json out = json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    const std::string at = fmt::format("{}[{}]", name, i);
    const json& c = calls[i];
    if (!c.is_object()) bad_field(at, "expected an object");
    if (get_string(c, "type", false) != "function" && field(c, "type"))
      bad_field(at + ".type", "only \"function\" tool calls are supported");
    const json* fn = field(c, "function");
    if (!fn || !fn->is_object()) bad_field(at + ".function", "expected an object");
    const std::string fname = get_string(*fn, "name", true);
    json args = json::object();
    if (const json* a = field(*fn, "arguments")) {
      if (!a->is_string()) bad_field(at + ".function.arguments", "expected a JSON string");
      args = json::parse(a->get<std::string>(), nullptr, false);
      if (args.is_discarded()) bad_field(at + ".function.arguments", "is not valid JSON");
    }
    json call = {{"type", "function"}, {"function", {{"name", fname}, {"arguments", args}}}};
    if (const json* id = field(c, "id")) call["id"] = *id;
    out.push_back(std::move(call));
  }
  return out;
}

// Message keys each role may carry besides role and content.
const std::set<std::string> kMessageKeys = {"role",       "content",      "name",
                                            "tool_calls", "tool_call_id", "refusal"};

}  // namespace

std::vector<ChatMessage> parse_messages(const json& obj, const RequestLimits& limits,
                                        bool required) {
  const json* v = field(obj, "messages");
  if (!v) {
    if (required) bad_field("messages", "is required");
    return {};
  }
  if (!v->is_array())
    bad_field("messages", fmt::format("expected an array, got {}", type_name(*v)));
  if (v->empty() && required) bad_field("messages", "must not be empty");
  if (v->size() > limits.max_input_items)
    bad_field("messages", fmt::format("at most {} messages are accepted", limits.max_input_items));
  std::vector<ChatMessage> out;
  for (size_t i = 0; i < v->size(); ++i) {
    std::string name = fmt::format("messages[{}]", i);
    const json& m = (*v)[i];
    if (!m.is_object()) bad_field(name, fmt::format("expected an object, got {}", type_name(m)));
    for (auto it = m.begin(); it != m.end(); ++it)
      if (!kMessageKeys.count(it.key()))
        bad_field(name + "." + it.key(), "is not a supported message field");
    ChatMessage msg;
    const json* role = field(m, "role");
    if (!role || !role->is_string()) bad_field(name + ".role", "expected a string");
    msg.role = role->get<std::string>();
    if (msg.role != "system" && msg.role != "user" && msg.role != "assistant" &&
        msg.role != "developer" && msg.role != "tool")
      bad_field(
          name + ".role",
          fmt::format("unknown role '{}' (system, developer, user, assistant or tool)", msg.role));
    if (msg.role == "developer") msg.role = "system";
    const json* calls = field(m, "tool_calls");
    if (calls && msg.role != "assistant")
      bad_field(name + ".tool_calls", "only assistant messages carry tool calls");
    if (calls) msg.extra["tool_calls"] = tool_calls(*calls, name + ".tool_calls");
    if (msg.role == "tool")
      msg.extra["tool_call_id"] = get_string(m, "tool_call_id", true);
    else if (field(m, "tool_call_id"))
      bad_field(name + ".tool_call_id", "only tool messages carry a tool_call_id");
    if (field(m, "name")) msg.extra["name"] = get_string(m, "name", false);
    if (field(m, "refusal") && msg.role != "assistant")
      bad_field(name + ".refusal", "only assistant messages carry a refusal");
    const json* content = field(m, "content");
    if (!content && !calls) bad_field(name + ".content", "is required");
    if (content) msg.content = message_content(*content, name + ".content");
    out.push_back(std::move(msg));
  }
  return out;
}

void parse_tools(const json& j, GenerationRequest& r) {
  const json* tools = field(j, "tools");
  if (tools) {
    if (!tools->is_array()) bad_field("tools", "expected an array");
    if (tools->size() > 128) bad_field("tools", "at most 128 tools are accepted");
    std::set<std::string> names;
    for (size_t i = 0; i < tools->size(); ++i) {
      const std::string at = fmt::format("tools[{}]", i);
      const json& t = (*tools)[i];
      if (!t.is_object()) bad_field(at, "expected an object");
      if (get_string(t, "type", true) != "function")
        bad_field(at + ".type", "only \"function\" tools are supported");
      const json* fn = field(t, "function");
      if (!fn || !fn->is_object()) bad_field(at + ".function", "expected an object");
      for (auto it = fn->begin(); it != fn->end(); ++it)
        if (it.key() != "name" && it.key() != "description" && it.key() != "parameters" &&
            it.key() != "strict")
          bad_field(at + ".function." + it.key(), "is not a supported function field");
      ToolDef d;
      d.name = get_string(*fn, "name", true);
      if (d.name.empty() || !names.insert(d.name).second)
        bad_field(at + ".function.name", "must be a non-empty name no other tool has");
      get_string(*fn, "description", false);
      get_bool(*fn, "strict", false);  // Arguments are always held to the schema when forced.
      const json* params = field(*fn, "parameters");
      if (params && !params->is_object())
        bad_field(at + ".function.parameters", "expected a JSON schema object");
      d.parameters = params ? *params : json{{"type", "object"}};
      r.tool_defs.push_back(std::move(d));
    }
    r.tools = *tools;
  }
  r.parallel_tool_calls = get_bool(j, "parallel_tool_calls", true);
  const json* choice = field(j, "tool_choice");
  if (!choice) {
    r.tool_choice = r.tool_defs.empty() ? "none" : "auto";
    return;
  }
  if (choice->is_string()) {
    r.tool_choice = choice->get<std::string>();
    if (r.tool_choice != "none" && r.tool_choice != "auto" && r.tool_choice != "required")
      bad_field("tool_choice", "expected none, auto, required or a named function");
  } else if (choice->is_object()) {
    if (get_string(*choice, "type", true) != "function")
      bad_field("tool_choice.type", "only \"function\" is supported");
    const json* fn = field(*choice, "function");
    if (!fn || !fn->is_object()) bad_field("tool_choice.function", "expected an object");
    r.tool_choice = "function";
    r.tool_name = get_string(*fn, "name", true);
    bool known = false;
    for (const auto& d : r.tool_defs) known |= d.name == r.tool_name;
    if (!known) bad_field("tool_choice.function.name", "names no tool in tools");
  } else {
    bad_field("tool_choice", "expected a string or an object");
  }
  if (r.tool_choice != "none" && r.tool_defs.empty()) bad_field("tool_choice", "needs tools");
}

}  // namespace sllm::serve::fields
