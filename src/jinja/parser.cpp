// Template text -> Node tree: the tag scanner with jinja2's whitespace rules (trim_blocks,
// lstrip_blocks, '-' and '+' markers), then a recursive-descent parser with jinja2's grammar
// and operator precedence.
#include <fmt/format.h>

#include <cstring>

#include "ast.h"
#include "sllm/common/error.h"

namespace sllm::jinja {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

struct Segment {
  enum Kind { Text, Expr, Stmt, Comment } kind;
  std::string text;
  int line;
  bool strip_before = false, strip_after = false, no_lstrip = false, no_trim = false;
};

int line_of(std::string_view src, size_t pos) {
  int n = 1;
  for (size_t i = 0; i < pos && i < src.size(); ++i) n += src[i] == '\n';
  return n;
}

// Position of the tag end `close` ("}}" or "%}") at or after pos, skipping string literals
// and, for expressions, the braces of dict literals. npos when missing.
size_t find_close(std::string_view src, size_t pos, char close_first) {
  int depth = 0;
  for (size_t i = pos; i + 1 < src.size(); ++i) {
    char c = src[i];
    if (c == '\'' || c == '"') {
      for (++i; i < src.size() && src[i] != c; ++i)
        if (src[i] == '\\') ++i;
      continue;
    }
    if (close_first == '}' && c == '{') ++depth;
    if (c == close_first && src[i + 1] == '}') {
      if (close_first == '}' && depth > 0) {
        --depth;
        continue;
      }
      return i;
    }
    if (close_first == '}' && c == '}' && depth > 0) --depth;
  }
  return std::string_view::npos;
}

std::vector<Segment> scan(std::string_view src) {
  std::vector<Segment> segs;
  size_t pos = 0;
  auto push_text = [&](size_t a, size_t b) {
    segs.push_back({Segment::Text, std::string(src.substr(a, b - a)), line_of(src, a)});
  };
  while (pos < src.size()) {
    size_t open = std::string_view::npos;
    for (size_t i = src.find('{', pos); i != std::string_view::npos && i + 1 < src.size();
         i = src.find('{', i + 1)) {
      char n = src[i + 1];
      if (n == '{' || n == '%' || n == '#') {
        open = i;
        break;
      }
    }
    if (open == std::string_view::npos) {
      push_text(pos, src.size());
      break;
    }
    if (open > pos) push_text(pos, open);
    const int line = line_of(src, open);
    const char type = src[open + 1];
    size_t body = open + 2;
    Segment seg{type == '{'   ? Segment::Expr
                : type == '%' ? Segment::Stmt
                              : Segment::Comment,
                "", line};
    if (body < src.size() && (src[body] == '-' || src[body] == '+')) {
      (src[body] == '-' ? seg.strip_before : seg.no_lstrip) = true;
      ++body;
    }
    size_t close;
    if (type == '#') {
      close = src.find("#}", body);
      if (close == std::string_view::npos) fail("chat template line {}: unclosed comment", line);
    } else {
      close = find_close(src, body, type == '{' ? '}' : '%');
      if (close == std::string_view::npos)
        fail("chat template line {}: unclosed '{{{}' tag", line, type);
    }
    size_t inner_end = close;
    if (inner_end > body && (src[inner_end - 1] == '-' || src[inner_end - 1] == '+')) {
      (src[inner_end - 1] == '-' ? seg.strip_after : seg.no_trim) = true;
      --inner_end;
    }
    seg.text = std::string(src.substr(body, inner_end - body));
    pos = close + 2;
    // {% raw %}: everything up to {% endraw %} is text.
    std::string_view t = seg.text;
    while (!t.empty() && is_space(t.front())) t.remove_prefix(1);
    while (!t.empty() && is_space(t.back())) t.remove_suffix(1);
    if (seg.kind == Segment::Stmt && t == "raw") {
      segs.push_back(seg);
      size_t search = pos;
      while (true) {
        size_t e = src.find("{%", search);
        if (e == std::string_view::npos) fail("chat template line {}: raw without endraw", line);
        size_t k = e + 2;
        bool sb = k < src.size() && src[k] == '-';
        if (k < src.size() && (src[k] == '-' || src[k] == '+')) ++k;
        while (k < src.size() && is_space(src[k])) ++k;
        if (src.substr(k, 6) == "endraw") {
          size_t c = src.find("%}", k);
          if (c == std::string_view::npos) fail("chat template line {}: unclosed endraw", line);
          push_text(pos, e);
          Segment endseg{Segment::Stmt, "endraw", line_of(src, e)};
          endseg.strip_before = sb;
          endseg.strip_after = c > 0 && src[c - 1] == '-';
          segs.push_back(endseg);
          pos = c + 2;
          break;
        }
        search = e + 2;
      }
      continue;
    }
    segs.push_back(std::move(seg));
  }
  // Whitespace control, as jinja2's lexer applies it with trim_blocks and lstrip_blocks.
  for (size_t k = 0; k < segs.size(); ++k) {
    Segment& g = segs[k];
    if (g.kind == Segment::Text) continue;
    const bool block = g.kind != Segment::Expr;
    Segment* prev = k > 0 && segs[k - 1].kind == Segment::Text ? &segs[k - 1] : nullptr;
    Segment* next =
        k + 1 < segs.size() && segs[k + 1].kind == Segment::Text ? &segs[k + 1] : nullptr;
    if (prev && g.strip_before) {
      while (!prev->text.empty() && is_space(prev->text.back())) prev->text.pop_back();
    } else if (prev && block && !g.no_lstrip) {
      size_t nl = prev->text.rfind('\n');
      size_t from = nl == std::string::npos ? 0 : nl + 1;
      bool line_start = nl != std::string::npos || k == 1;
      bool blank = true;
      for (size_t i = from; i < prev->text.size(); ++i)
        blank = blank && (prev->text[i] == ' ' || prev->text[i] == '\t');
      if (line_start && blank) prev->text.erase(from);
    } else if (!prev && k == 0) {
      // a tag at the very start: nothing to strip
    }
    if (next && g.strip_after) {
      size_t i = 0;
      while (i < next->text.size() && is_space(next->text[i])) ++i;
      next->text.erase(0, i);
    } else if (next && block && !g.no_trim && !next->text.empty() && next->text[0] == '\n') {
      next->text.erase(0, 1);
    }
  }
  return segs;
}

// ---- expression tokens ----

struct Tok {
  enum Kind { Name, Num, Str, Op, End } k = End;
  std::string s;
  Value num;
};

std::vector<Tok> tokenize(std::string_view s, int line) {
  std::vector<Tok> out;
  static const char* kOps[] = {"==", "!=", "<=", ">=", "//", "**", "<", ">", "+",
                               "-",  "*",  "/",  "%",  "~",  "(",  ")", "[", "]",
                               "{",  "}",  ",",  ".",  ":",  "|",  "="};
  for (size_t i = 0; i < s.size();) {
    char c = s[i];
    if (is_space(c)) {
      ++i;
      continue;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({Tok::Name, std::string(s.substr(i, j - i)), {}});
      i = j;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      bool is_float = false;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      if (j + 1 < s.size() && s[j] == '.' && std::isdigit(static_cast<unsigned char>(s[j + 1]))) {
        is_float = true;
        for (++j; j < s.size() && std::isdigit(static_cast<unsigned char>(s[j])); ++j) {
        }
      }
      if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
        size_t e = j + 1;
        if (e < s.size() && (s[e] == '+' || s[e] == '-')) ++e;
        if (e < s.size() && std::isdigit(static_cast<unsigned char>(s[e]))) {
          is_float = true;
          for (j = e; j < s.size() && std::isdigit(static_cast<unsigned char>(s[j])); ++j) {
          }
        }
      }
      std::string text;
      for (size_t k = i; k < j; ++k)
        if (s[k] != '_') text += s[k];
      Tok t{Tok::Num, text,
            is_float ? Value::real(std::stod(text)) : Value::integer(std::stoll(text))};
      out.push_back(std::move(t));
      i = j;
      continue;
    }
    if (c == '\'' || c == '"') {
      std::string v;
      size_t j = i + 1;
      for (; j < s.size() && s[j] != c; ++j) {
        if (s[j] != '\\' || j + 1 >= s.size()) {
          v += s[j];
          continue;
        }
        char e = s[++j];
        switch (e) {
          case 'n':
            v += '\n';
            break;
          case 't':
            v += '\t';
            break;
          case 'r':
            v += '\r';
            break;
          case 'b':
            v += '\b';
            break;
          case 'f':
            v += '\f';
            break;
          case 'v':
            v += '\v';
            break;
          case '0':
            v += '\0';
            break;
          case '\\':
            v += '\\';
            break;
          case '\'':
            v += '\'';
            break;
          case '"':
            v += '"';
            break;
          case '\n':
            break;  // a backslash-newline continues the line
          case 'x':
          case 'u':
          case 'U': {
            size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            if (j + n >= s.size()) fail("chat template line {}: short \\{} escape", line, e);
            for (size_t k = 1; k <= n; ++k)
              if (!std::isxdigit(static_cast<unsigned char>(s[j + k])))
                fail("chat template line {}: bad \\{} escape", line, e);
            uint32_t cp =
                static_cast<uint32_t>(std::stoul(std::string(s.substr(j + 1, n)), nullptr, 16));
            j += n;
            // UTF-8 encode
            if (cp < 0x80) {
              v += static_cast<char>(cp);
            } else if (cp < 0x800) {
              v += static_cast<char>(0xC0 | (cp >> 6));
              v += static_cast<char>(0x80 | (cp & 0x3F));
            } else if (cp < 0x10000) {
              v += static_cast<char>(0xE0 | (cp >> 12));
              v += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
              v += static_cast<char>(0x80 | (cp & 0x3F));
            } else {
              v += static_cast<char>(0xF0 | (cp >> 18));
              v += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
              v += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
              v += static_cast<char>(0x80 | (cp & 0x3F));
            }
            break;
          }
          default:  // Python keeps unknown escapes as written
            v += '\\';
            v += e;
        }
      }
      if (j >= s.size()) fail("chat template line {}: unterminated string literal", line);
      out.push_back({Tok::Str, v, {}});
      i = j + 1;
      continue;
    }
    bool matched = false;
    for (const char* op : kOps) {
      size_t n = std::strlen(op);
      if (s.substr(i, n) == op) {
        out.push_back({Tok::Op, op, {}});
        i += n;
        matched = true;
        break;
      }
    }
    if (!matched) fail("chat template line {}: unexpected character '{}'", line, c);
  }
  out.push_back({Tok::End, "", {}});
  return out;
}

using P = std::unique_ptr<Node>;

class ExprParser {
 public:
  ExprParser(std::vector<Tok> toks, int line) : t_(std::move(toks)), line_(line) {}

  bool at_end() const { return t_[p_].k == Tok::End; }
  const Tok& peek(size_t ahead = 0) const { return t_[std::min(p_ + ahead, t_.size() - 1)]; }
  bool is_op(const char* op, size_t ahead = 0) const {
    return peek(ahead).k == Tok::Op && peek(ahead).s == op;
  }
  bool is_name(const char* n, size_t ahead = 0) const {
    return peek(ahead).k == Tok::Name && peek(ahead).s == n;
  }
  bool accept_op(const char* op) {
    if (!is_op(op)) return false;
    ++p_;
    return true;
  }
  bool accept_name(const char* n) {
    if (!is_name(n)) return false;
    ++p_;
    return true;
  }
  void expect_op(const char* op) {
    if (!accept_op(op)) error(fmt::format("expected '{}'", op));
  }
  std::string expect_name() {
    if (peek().k != Tok::Name) error("expected a name");
    return t_[p_++].s;
  }
  [[noreturn]] void error(const std::string& what) const {
    std::string near = at_end() ? "end of tag" : "'" + peek().s + "'";
    fail("chat template line {}: {} at {}", line_, what, near);
  }
  void expect_end() {
    if (!at_end()) error("unexpected token");
  }

  P node(Node::K k) { return std::make_unique<Node>(k, line_); }

  P expr() {
    P e = or_expr();
    if (is_name("if")) {
      ++p_;
      P n = node(Node::K::Cond);
      n->c.push_back(or_expr());
      n->c.push_back(std::move(e));
      n->c.push_back(accept_name("else") ? expr() : nullptr);
      return n;
    }
    return e;
  }

  P binary(const std::string& op, P a, P b) {
    P n = node(Node::K::Binary);
    n->s = op;
    n->c.push_back(std::move(a));
    n->c.push_back(std::move(b));
    return n;
  }

  P or_expr() {
    P e = and_expr();
    while (accept_name("or")) e = binary("or", std::move(e), and_expr());
    return e;
  }
  P and_expr() {
    P e = not_expr();
    while (accept_name("and")) e = binary("and", std::move(e), not_expr());
    return e;
  }
  P not_expr() {
    if (accept_name("not")) {
      P n = node(Node::K::Unary);
      n->s = "not";
      n->c.push_back(not_expr());
      return n;
    }
    return compare();
  }
  P compare() {
    P e = math1();
    while (true) {
      std::string op;
      for (const char* o : {"==", "!=", "<", "<=", ">", ">="})
        if (is_op(o)) op = o;
      if (!op.empty()) {
        ++p_;
      } else if (is_name("in")) {
        ++p_;
        op = "in";
      } else if (is_name("not") && is_name("in", 1)) {
        p_ += 2;
        op = "not in";
      } else {
        return e;
      }
      e = binary(op, std::move(e), math1());
    }
  }
  P math1() {
    P e = concat();
    while (is_op("+") || is_op("-")) {
      std::string op = t_[p_++].s;
      e = binary(op, std::move(e), concat());
    }
    return e;
  }
  P concat() {
    P e = math2();
    while (accept_op("~")) e = binary("~", std::move(e), math2());
    return e;
  }
  P math2() {
    P e = pow_expr();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      std::string op = t_[p_++].s;
      e = binary(op, std::move(e), pow_expr());
    }
    return e;
  }
  P pow_expr() {
    P e = unary(true);
    while (accept_op("**")) e = binary("**", std::move(e), unary(true));
    return e;
  }
  P unary(bool with_filter) {
    // Nesting (parentheses, brackets, unary signs) is bounded: the parser recurses on it.
    if (++depth_ > 200) error("expression nests too deep");
    struct Leave {
      int& d;
      ~Leave() { --d; }
    } leave{depth_};
    P e;
    if (is_op("-") || is_op("+")) {
      e = node(Node::K::Unary);
      e->s = t_[p_++].s;
      e->c.push_back(unary(false));
    } else {
      e = primary();
    }
    e = postfix(std::move(e));
    if (with_filter) e = filters(std::move(e));
    return e;
  }

  void call_args(Node& n) {
    // after '('
    if (accept_op(")")) return;
    while (true) {
      if (peek().k == Tok::Name && is_op("=", 1)) {
        n.names.push_back(t_[p_].s);
        p_ += 2;
      } else {
        n.names.push_back("");
      }
      n.c.push_back(expr());
      if (accept_op(")")) return;
      expect_op(",");
      if (accept_op(")")) return;
    }
  }

  P postfix(P e) {
    while (true) {
      if (accept_op(".")) {
        P n = node(Node::K::Attr);
        if (peek().k == Tok::Num) {  // x.0 is x[0]
          n->k = Node::K::Item;
          P idx = node(Node::K::Literal);
          idx->v = t_[p_++].num;
          n->c.push_back(std::move(e));
          n->c.push_back(std::move(idx));
        } else {
          n->s = expect_name();
          n->c.push_back(std::move(e));
        }
        e = std::move(n);
      } else if (accept_op("[")) {
        P parts[3];
        bool slice = false;
        for (int k = 0; k < 3; ++k) {
          if (!is_op(":") && !is_op("]")) parts[k] = expr();
          if (k < 2 && accept_op(":")) {
            slice = true;
            continue;
          }
          break;
        }
        expect_op("]");
        P n = node(slice ? Node::K::Slice : Node::K::Item);
        n->c.push_back(std::move(e));
        if (slice) {
          for (auto& q : parts) n->c.push_back(std::move(q));
        } else {
          if (!parts[0]) error("empty subscript");
          n->c.push_back(std::move(parts[0]));
        }
        e = std::move(n);
      } else if (accept_op("(")) {
        P n = node(Node::K::Call);
        n->c.push_back(std::move(e));
        n->names.push_back("");
        call_args(*n);
        e = std::move(n);
      } else {
        return e;
      }
    }
  }

  P filters(P e) {
    while (true) {
      if (accept_op("|")) {
        P n = node(Node::K::Filter);
        n->s = expect_name();
        if (!has_filter(n->s)) error(fmt::format("unknown filter '{}'", n->s));
        n->c.push_back(std::move(e));
        n->names.push_back("");
        if (accept_op("(")) call_args(*n);
        e = postfix(std::move(n));
      } else if (accept_name("is")) {
        P n = node(Node::K::Test);
        n->negate = accept_name("not");
        n->s = expect_name();
        if (!has_test(n->s)) error(fmt::format("unknown test '{}'", n->s));
        n->c.push_back(std::move(e));
        n->names.push_back("");
        if (accept_op("(")) {
          call_args(*n);
        } else if ((peek().k == Tok::Num || peek().k == Tok::Str ||
                    (peek().k == Tok::Name && !is_name("else") && !is_name("or") &&
                     !is_name("and") && !is_name("if") && !is_name("in") && !is_name("not") &&
                     !is_name("is")) ||
                    is_op("[") || is_op("{"))) {
          n->names.push_back("");
          n->c.push_back(postfix(primary()));
        }
        e = std::move(n);
      } else {
        return e;
      }
    }
  }

  P primary() {
    const Tok& t = peek();
    if (t.k == Tok::Str) {
      P n = node(Node::K::Literal);
      std::string s;
      while (peek().k == Tok::Str) s += t_[p_++].s;  // adjacent literals concatenate
      n->v = Value::str(s);
      return n;
    }
    if (t.k == Tok::Num) {
      P n = node(Node::K::Literal);
      n->v = t_[p_++].num;
      return n;
    }
    if (t.k == Tok::Name) {
      ++p_;
      P n = node(Node::K::Literal);
      if (t.s == "true" || t.s == "True") {
        n->v = Value::boolean(true);
      } else if (t.s == "false" || t.s == "False") {
        n->v = Value::boolean(false);
      } else if (t.s == "none" || t.s == "None") {
        n->v = Value::none();
      } else {
        n->k = Node::K::Name;
        n->s = t.s;
      }
      return n;
    }
    if (accept_op("(")) {
      if (accept_op(")")) return node(Node::K::ListLit);  // () as an empty tuple
      P e = expr();
      if (is_op(",")) {
        P n = node(Node::K::ListLit);
        n->c.push_back(std::move(e));
        while (accept_op(",")) {
          if (is_op(")")) break;
          n->c.push_back(expr());
        }
        e = std::move(n);
      }
      expect_op(")");
      return e;
    }
    if (accept_op("[")) {
      P n = node(Node::K::ListLit);
      while (!accept_op("]")) {
        n->c.push_back(expr());
        if (!is_op("]")) expect_op(",");
      }
      return n;
    }
    if (accept_op("{")) {
      P n = node(Node::K::DictLit);
      while (!accept_op("}")) {
        n->c.push_back(expr());
        expect_op(":");
        n->c.push_back(expr());
        if (!is_op("}")) expect_op(",");
      }
      return n;
    }
    error("expected an expression");
  }

  // Assignment targets: a name, names separated by commas, or ns.attr.
  void targets(Node& n, bool allow_attr) {
    n.names.push_back(expect_name());
    if (allow_attr && accept_op(".")) {
      n.s = expect_name();
      return;
    }
    while (accept_op(",")) n.names.push_back(expect_name());
  }

 private:
  std::vector<Tok> t_;
  size_t p_ = 0;
  int line_;
  int depth_ = 0;
};

class Parser {
 public:
  explicit Parser(std::vector<Segment> segs) : segs_(std::move(segs)) {}

  P parse() {
    std::string end;
    P root = block({}, &end, nullptr);
    return root;
  }

 private:
  // Parses statements until a tag whose keyword is in `ends`; returns the block and sets
  // *end to that keyword and *rest to the parser over the rest of its tag.
  P block(const std::vector<std::string>& ends, std::string* end,
          std::unique_ptr<ExprParser>* rest) {
    if (++depth_ > 200) fail("chat template line {}: blocks nest too deep", segs_[pos_ - 1].line);
    struct Leave {
      int& d;
      ~Leave() { --d; }
    } leave{depth_};
    P b = std::make_unique<Node>(Node::K::Block, pos_ < segs_.size() ? segs_[pos_].line : 0);
    while (pos_ < segs_.size()) {
      Segment& g = segs_[pos_++];
      if (g.kind == Segment::Comment) continue;
      if (g.kind == Segment::Text) {
        if (g.text.empty()) continue;
        P n = std::make_unique<Node>(Node::K::Text, g.line);
        n->s = g.text;
        b->c.push_back(std::move(n));
        continue;
      }
      auto ep = std::make_unique<ExprParser>(tokenize(g.text, g.line), g.line);
      if (g.kind == Segment::Expr) {
        P n = std::make_unique<Node>(Node::K::Output, g.line);
        n->c.push_back(ep->expr());
        ep->expect_end();
        b->c.push_back(std::move(n));
        continue;
      }
      std::string kw = ep->peek().k == Tok::Name ? ep->peek().s : "";
      if (kw.empty()) ep->error("expected a statement");
      for (const auto& e : ends)
        if (kw == e) {
          ep->expect_name();
          *end = kw;
          if (rest) *rest = std::move(ep);
          return b;
        }
      ep->expect_name();
      b->c.push_back(statement(kw, *ep, g.line));
    }
    if (!ends.empty())
      fail("chat template: missing {{% {} %}} at the end of the template", ends.back());
    return b;
  }

  P statement(const std::string& kw, ExprParser& ep, int line) {
    auto mk = [&](Node::K k) { return std::make_unique<Node>(k, line); };
    std::string end;
    std::unique_ptr<ExprParser> rest;
    if (kw == "if") {
      P n = mk(Node::K::If);
      n->c.push_back(ep.expr());
      ep.expect_end();
      Node* cur = n.get();
      while (true) {
        cur->c.push_back(block({"elif", "else", "endif"}, &end, &rest));
        if (end == "elif") {
          P e = mk(Node::K::If);
          e->c.push_back(rest->expr());
          rest->expect_end();
          Node* next = e.get();
          cur->c.push_back(std::move(e));
          cur = next;
          continue;
        }
        if (end == "else") {
          rest->expect_end();
          cur->c.push_back(block({"endif"}, &end, &rest));
        } else {
          cur->c.push_back(nullptr);
        }
        rest->expect_end();
        return n;
      }
    }
    if (kw == "for") {
      P n = mk(Node::K::For);
      ep.targets(*n, false);
      if (!ep.accept_name("in")) ep.error("expected 'in'");
      n->c.push_back(ep.or_expr());  // `if` here filters the loop
      P cond = ep.accept_name("if") ? ep.expr() : nullptr;
      if (ep.is_name("recursive")) ep.error("recursive loops are not supported");
      ep.expect_end();
      n->c.push_back(block({"else", "endfor"}, &end, &rest));
      rest->expect_end();
      if (end == "else") {
        n->c.push_back(block({"endfor"}, &end, &rest));
        rest->expect_end();
      } else {
        n->c.push_back(nullptr);
      }
      n->c.push_back(std::move(cond));
      return n;
    }
    if (kw == "set") {
      P n = mk(Node::K::Set);
      ep.targets(*n, true);
      if (ep.accept_op("=")) {
        n->c.push_back(ep.expr());
        if (ep.is_op(",")) {  // set a = 1, 2 makes a tuple
          P t = mk(Node::K::ListLit);
          t->c.push_back(std::move(n->c[0]));
          while (ep.accept_op(",")) t->c.push_back(ep.expr());
          n->c[0] = std::move(t);
        }
        ep.expect_end();
      } else {
        ep.expect_end();
        n->block_set = true;
        n->c.push_back(block({"endset"}, &end, &rest));
        rest->expect_end();
      }
      return n;
    }
    if (kw == "macro") {
      P n = mk(Node::K::Macro);
      n->s = ep.expect_name();
      ep.expect_op("(");
      std::vector<P> defaults;
      if (!ep.accept_op(")")) {
        while (true) {
          n->names.push_back(ep.expect_name());
          defaults.push_back(ep.accept_op("=") ? ep.expr() : nullptr);
          if (ep.accept_op(")")) break;
          ep.expect_op(",");
        }
      }
      ep.expect_end();
      n->c.push_back(block({"endmacro"}, &end, &rest));
      for (auto& d : defaults) n->c.push_back(std::move(d));
      return n;
    }
    if (kw == "break" || kw == "continue") {
      ep.expect_end();
      return mk(kw == "break" ? Node::K::Break : Node::K::Continue);
    }
    if (kw == "generation") {
      ep.expect_end();
      P n = mk(Node::K::Generation);
      n->c.push_back(block({"endgeneration"}, &end, &rest));
      rest->expect_end();
      return n;
    }
    if (kw == "raw") {
      ep.expect_end();
      P b = block({"endraw"}, &end, &rest);
      return b;
    }
    fail("chat template line {}: the statement '{}' is not supported", line, kw);
  }

  std::vector<Segment> segs_;
  size_t pos_ = 0;
  int depth_ = 0;
};

}  // namespace

std::unique_ptr<Node> parse_template(std::string_view source) {
  // As jinja2 with keep_trailing_newline=False: one trailing newline is dropped.
  if (source.ends_with("\r\n"))
    source.remove_suffix(2);
  else if (source.ends_with('\n'))
    source.remove_suffix(1);
  return Parser(scan(source)).parse();
}

}  // namespace sllm::jinja
