// The generation endpoints, /v1/completions and /v1/chat/completions, plain and streamed:
// n choices per prompt (sharing one prefill), several prompts, logprobs, echo (with the
// prompt's logprobs: lm-eval's loglikelihood request), tools, and grammar-constrained output.
#include <fmt/format.h>

#include "generation_json.h"
#include "server_impl.h"
#include "sllm/common/error.h"
#include "sllm/infer/gbnf.h"
#include "sllm/infer/json_grammar.h"
#include "sllm/serve/tool_calls.h"

namespace sllm::serve {

namespace {

// Compiles a grammar or schema, turning its error into a 400 that names the field.
template <class F>
std::shared_ptr<const Constraint> compile(const std::string& field, F&& make) {
  try {
    return make();
  } catch (const Error& e) {
    bad_field(field, e.what());
  }
}

// The constraint a request asks for: a GBNF grammar, a JSON schema, or a forced tool call
// ({"name": ..., "arguments": ...} in the template's own call markers, arguments held to
// the function's schema).
std::shared_ptr<const Constraint> request_constraint(const GenerationRequest& r,
                                                     const Backend& be) {
  using ojson = nlohmann::ordered_json;
  if (!r.grammar.empty()) return compile("grammar", [&] { return gbnf_constraint(r.grammar); });
  if (!r.json_schema.empty())
    return compile("response_format.json_schema.schema",
                   [&] { return json_schema_constraint(r.json_schema); });
  if (r.tool_choice != "required" && r.tool_choice != "function") return nullptr;
  ojson any = ojson::array();
  for (size_t i = 0; i < r.tool_defs.size(); ++i) {
    const ToolDef& d = r.tool_defs[i];
    if (r.tool_choice == "function" && d.name != r.tool_name) continue;
    const std::string field = fmt::format("tools[{}].function.parameters", i);
    compile(field, [&] { return json_schema_constraint(d.parameters.dump()); });
    any.push_back({{"type", "object"},
                   {"properties", {{"name", {{"const", d.name}}}, {"arguments", d.parameters}}},
                   {"required", {"name", "arguments"}}});
  }
  const ojson schema = any.size() == 1 ? any[0] : ojson{{"anyOf", any}};
  const ToolCallFormat f = tool_call_format(be.chat_template_source());
  return compile("tools", [&] {
    return std::make_shared<GrammarConstraint>(
        json_schema_grammar(schema.dump(), f.before, f.after));
  });
}

}  // namespace

void Server::Impl::handle_generation(const httplib::Request& req, httplib::Response& res,
                                     bool chat) {
  auto key = authenticate(req);
  GenerationRequest r = parse_generation_request(req.body, chat, opt.limits);
  ModelSlot& slot = model(r.model);
  Backend& be = *slot.backend;
  if (key) check_rate(*key);

  // The prompts, as token ids.
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::string> echo_texts;
  const bool tools = chat && r.tool_choice != "none";
  if (chat) {
    prompts.push_back(be.encode(be.render_chat(r.messages, tools ? r.tools : nullptr)));
  } else {
    for (size_t i = 0; i < r.prompts.size(); ++i) {
      const std::string name = r.prompts.size() == 1 ? "prompt" : fmt::format("prompt[{}]", i);
      const Prompt& p = r.prompts[i];
      prompts.push_back(p.tokens.empty() ? be.encode(p.text)
                                         : check_ids(p.tokens, be.vocab_size(), name));
      echo_texts.push_back(p.tokens.empty() ? p.text : be.decode(prompts.back()));
    }
  }
  const int ctx = be.context_length();
  for (size_t i = 0; i < prompts.size(); ++i) {
    const std::string name = chat                  ? "messages"
                             : prompts.size() == 1 ? "prompt"
                                                   : fmt::format("prompt[{}]", i);
    if (prompts[i].empty()) bad_field(name, "must not be empty");
    if (int(prompts[i].size()) > ctx || (int(prompts[i].size()) == ctx && r.max_tokens > 0))
      bad_field(name,
                fmt::format("the prompt is {} tokens, and model '{}' has a context of {} tokens",
                            prompts[i].size(), r.model, ctx));
  }
  for (const auto& [id, bias] : r.sampling.logit_bias)
    if (id >= be.vocab_size())
      bad_field(fmt::format("logit_bias.{}", id), "token id is outside the vocabulary");
  const std::shared_ptr<const Constraint> constraint = request_constraint(r, be);

  auto g = std::make_shared<GenState>();
  g->key = key;
  g->id = random_id(chat ? "chatcmpl-" : "cmpl-");
  g->model = r.model;
  g->endpoint = chat ? "/v1/chat/completions" : "/v1/completions";
  g->created = unix_now();
  g->chat = chat;
  g->include_usage = r.include_usage;
  g->logprobs = r.logprobs;
  g->parallel_tool_calls = r.parallel_tool_calls;
  if (tools)
    for (const auto& d : r.tool_defs) g->tool_names.push_back(d.name);
  int64_t reserve = 0;
  for (const auto& p : prompts) {
    g->prompt_tokens += int(p.size());
    reserve += int64_t(p.size()) + int64_t(r.n) * std::min<int>(r.max_tokens, ctx - int(p.size()));
  }
  g->reservation = reserve_tokens(key, reserve);

  for (size_t p = 0; p < prompts.size(); ++p) {
    std::vector<TokenLogprob> echo_lp;
    if (r.echo && r.logprobs >= 0) echo_lp = prompt_logprobs(slot, prompts[p], r.logprobs);
    std::shared_ptr<Job> parent;
    for (int j = 0; j < r.n; ++j) {
      Choice c;
      c.index = int(p) * r.n + j;
      if (r.echo) {
        c.echo = echo_texts[p];
        c.echo_logprobs = echo_lp;
      }
      if (r.max_tokens > 0) {
        GenerationSpec spec{
            prompts[p], r.sampling, std::min<int>(r.max_tokens, ctx - int(prompts[p].size())),
            r.stop,     chat,       r.seeded,
            r.json_mode};
        spec.sampling.seed += uint64_t(j);  // Each choice its own stream, all from the seed.
        spec.constraint = constraint;
        spec.logprobs = r.logprobs;
        c.job = std::make_shared<Job>(std::move(spec));
        if (parent)
          parent->add_fork(c.job);
        else
          parent = c.job;
      } else {
        c.done = true;
      }
      g->choices.push_back(std::move(c));
    }
    if (parent && !slot.scheduler->submit(parent)) {
      for (auto& c : g->choices)
        if (c.job) c.job->cancel();
      throw ApiError(
          429, "requests", "",
          fmt::format("model '{}' is at capacity (its queue is full); retry shortly", r.model),
          "rate_limit_exceeded");
    }
  }
  respond(req, res, g, r.stream);
}

std::vector<TokenLogprob> Server::Impl::prompt_logprobs(ModelSlot& slot,
                                                        const std::vector<int32_t>& ids, int top) {
  std::vector<TokenLogprob> lp;
  slot.scheduler->run_exclusive([&](Backend& b) { lp = b.prompt_logprobs(ids, top); });
  // The first token has no logprob (null in the response): a NaN marks it.
  TokenLogprob first;
  first.chosen = {ids[0], slot.backend->decode(std::span<const int32_t>(ids.data(), 1)), NAN};
  lp.insert(lp.begin(), std::move(first));
  return lp;
}

}  // namespace sllm::serve
