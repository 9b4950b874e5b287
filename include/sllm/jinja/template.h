// A Jinja2 renderer for chat templates: the subset real Hugging Face templates use, rendered
// the way transformers' apply_chat_template renders them (jinja2 with trim_blocks and
// lstrip_blocks, no autoescape, a single trailing newline of the template dropped, tojson that
// keeps non-ASCII characters, raise_exception and strftime_now as globals, loop controls).
//
// Statements: if/elif/else, for (with loop variables, `if` filter, else, break, continue), set
// (names, namespace attributes, tuples, block set), macro, raw, generation (the markers TRL
// uses for assistant masks; rendering reports their spans). Expressions: literals, lists,
// dicts, tuples, attribute/item access, slicing, calls, filters, tests, arithmetic, string
// concatenation (~), comparisons, in, and/or/not, conditional expressions.
//
// A template that uses a filter, test or statement outside the subset fails to parse with an
// error naming it; raise_exception() throws sllm::Error carrying the template's message.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sllm::jinja {

struct Node;

class Template {
 public:
  // Parses `source`. Throws sllm::Error naming the line and what is wrong.
  explicit Template(std::string_view source);
  ~Template();
  Template(Template&&) noexcept;
  Template& operator=(Template&&) noexcept;

  // Renders with the variables of `context` (a JSON object; key order is kept, as Python dicts
  // keep it). `spans`, when given, receives the [begin, end) byte ranges of the output that
  // {% generation %} blocks produced.
  std::string render(const nlohmann::ordered_json& context,
                     std::vector<std::pair<size_t, size_t>>* spans = nullptr) const;

 private:
  std::unique_ptr<Node> root_;
};

}  // namespace sllm::jinja
