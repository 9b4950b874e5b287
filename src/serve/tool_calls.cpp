#include "sllm/serve/tool_calls.h"

#include <algorithm>
#include <nlohmann/json.hpp>

namespace sllm::serve {

namespace {

using json = nlohmann::ordered_json;

std::string_view trim(std::string_view s) {
  const auto ws = " \t\r\n";
  const size_t a = s.find_first_not_of(ws);
  if (a == std::string_view::npos) return {};
  return s.substr(a, s.find_last_not_of(ws) - a + 1);
}

// A call object {"name": known, "arguments"|"parameters": object or JSON string}.
bool to_call(const json& j, const std::vector<std::string>& names, ToolCall& out) {
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string()) return false;
  const std::string name = j["name"];
  if (std::find(names.begin(), names.end(), name) == names.end()) return false;
  json args = json::object();
  for (const char* key : {"arguments", "parameters"})
    if (j.contains(key)) args = j[key];
  if (args.is_string()) args = json::parse(args.get<std::string>(), nullptr, false);
  if (!args.is_object()) return false;
  out = {name, args.dump()};
  return true;
}

// One call, or a list of calls; all must be calls for the text to count.
bool to_calls(std::string_view text, const std::vector<std::string>& names,
              std::vector<ToolCall>& out) {
  const json j = json::parse(trim(text), nullptr, false);
  if (j.is_discarded()) return false;
  const json list = j.is_array() ? j : json::array({j});
  if (list.empty()) return false;
  std::vector<ToolCall> calls(list.size());
  for (size_t i = 0; i < list.size(); ++i)
    if (!to_call(list[i], names, calls[i])) return false;
  out.insert(out.end(), calls.begin(), calls.end());
  return true;
}

// Tagged blocks: <tool_call>...</tool_call>, the closing tag optional at the end of the text.
bool tagged(std::string_view text, const std::vector<std::string>& names, ParsedReply& r) {
  constexpr std::string_view open = "<tool_call>", close = "</tool_call>";
  size_t at = text.find(open);
  if (at == std::string_view::npos) return false;
  std::string content(text.substr(0, at));
  std::vector<ToolCall> calls;
  while (at != std::string_view::npos) {
    const size_t body = at + open.size();
    size_t end = text.find(close, body);
    const std::string_view inner =
        text.substr(body, end == std::string_view::npos ? std::string_view::npos : end - body);
    if (!to_calls(inner, names, calls)) return false;
    if (end == std::string_view::npos) break;
    end += close.size();
    at = text.find(open, end);
    content += text.substr(end, at == std::string_view::npos ? std::string_view::npos : at - end);
  }
  r = {std::string(trim(content)), std::move(calls)};
  return true;
}

// A marker, then the calls to the end of the text (';'-separated for Llama's python_tag).
bool marked(std::string_view text, std::string_view marker, const std::vector<std::string>& names,
            ParsedReply& r) {
  const size_t at = text.find(marker);
  if (at == std::string_view::npos) return false;
  std::string_view rest = text.substr(at + marker.size());
  std::vector<ToolCall> calls;
  if (!to_calls(rest, names, calls)) {
    calls.clear();
    for (size_t from = 0; from <= rest.size();) {
      size_t semi = rest.find(';', from);
      if (semi == std::string_view::npos) semi = rest.size();
      if (!to_calls(rest.substr(from, semi - from), names, calls)) return false;
      from = semi + 1;
    }
  }
  r = {std::string(trim(text.substr(0, at))), std::move(calls)};
  return true;
}

}  // namespace

ParsedReply parse_tool_calls(std::string_view text, const std::vector<std::string>& names) {
  ParsedReply r;
  if (tagged(text, names, r)) return r;
  for (std::string_view marker : {"[TOOL_CALLS]", "<|python_tag|>"})
    if (marked(text, marker, names, r)) return r;
  if (to_calls(text, names, r.calls)) return r;
  return {std::string(text), {}};
}

ToolCallFormat tool_call_format(std::string_view src) {
  if (src.find("<tool_call>") != std::string_view::npos) return {"<tool_call>\n", "\n</tool_call>"};
  if (src.find("[TOOL_CALLS]") != std::string_view::npos) return {"[TOOL_CALLS][", "]"};
  return {"", ""};
}

}  // namespace sllm::serve
