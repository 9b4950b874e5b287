// Sends a generation's choices: one JSON body once every choice is done, or a server-sent
// event stream (OpenAI's chunks) as tokens arrive. With tools, a choice's text is held until it
// ends, then sent as content and tool-call deltas, since a call cannot be told from prose
// before it is complete.
#include "generation_json.h"

namespace sllm::serve {

namespace {

// The message (chat) or text (completions) fields of one finished choice, and its reason.
json final_choice(const GenState& g, Choice& c) {
  std::string reason = c.reason();
  json out = {{"index", c.index}};
  if (g.chat) {
    json msg = {{"role", "assistant"}, {"content", c.text}};
    if (!g.tool_names.empty()) {
      ParsedReply p = parse_tool_calls(c.text, g.tool_names);
      if (!g.parallel_tool_calls && p.calls.size() > 1) p.calls.resize(1);
      if (!p.calls.empty()) {
        msg["content"] = p.content.empty() ? json(nullptr) : json(p.content);
        msg["tool_calls"] = tool_calls_json(p.calls, false);
        reason = "tool_calls";
      }
    }
    out["message"] = msg;
    out["logprobs"] = g.logprobs >= 0 ? chat_logprobs(c.logprobs) : json(nullptr);
  } else {
    out["text"] = c.echo + c.text;
    if (g.logprobs >= 0) {
      std::vector<TokenLogprob> all = c.echo_logprobs;
      all.insert(all.end(), c.logprobs.begin(), c.logprobs.end());
      size_t offset = 0;
      out["logprobs"] = completion_logprobs(all, offset);
    } else {
      out["logprobs"] = nullptr;
    }
  }
  out["finish_reason"] = reason;
  return out;
}

json chunk_json(const GenState& g, json choices) {
  return {{"id", g.id},
          {"object", g.chat ? "chat.completion.chunk" : "text_completion"},
          {"created", g.created},
          {"model", g.model},
          {"choices", std::move(choices)}};
}

}  // namespace

void Server::Impl::respond(const httplib::Request& req, httplib::Response& res,
                           std::shared_ptr<GenState> g, bool stream) {
  // Every admitted request gets exactly one ledger row, however it ends, before its quota
  // reservation is given back: the prompts once, and every choice's tokens.
  auto settle = [this, g](const std::string& reason, int completion_tokens) {
    if (g->settled) return;
    g->settled = true;
    record_usage(g->key, {0, g->model, g->endpoint, g->prompt_tokens, completion_tokens, reason});
    g->reservation.reset();
  };
  auto record = [g, settle] { settle(g->reason(), g->completion_tokens()); };
  // The client hung up (a failed write) or the connection died before the response began:
  // the jobs stop at the next step, and the bill is the prompts plus what was sent.
  auto hang_up = [g, settle] {
    for (auto& c : g->choices)
      if (c.job) c.job->cancel();
    settle("cancelled", g->taken_tokens());
  };
  auto keepalive = std::chrono::milliseconds(opt.keepalive_interval_ms);
  auto release = [hang_up](bool) { hang_up(); };
  // HTTP/1.0 has no chunked encoding: its response body ends when the connection closes.
  auto provide = [&](const char* type, httplib::ContentProviderWithoutLength provider) {
    if (req.version == "HTTP/1.0")
      res.set_content_provider(type, std::move(provider), release);
    else
      res.set_chunked_content_provider(type, std::move(provider), release);
  };
  // Waits on the choices in turn; true once all are done. `on_new` gets each new piece.
  auto poll = [g, keepalive](const auto& on_new) {
    const auto slice = g->choices.size() == 1 ? keepalive : std::chrono::milliseconds(5);
    bool all = true;
    for (auto& c : g->choices) {
      if (c.done) continue;
      std::string text;
      std::vector<TokenLogprob> lps;
      c.done = c.job->wait(text, lps, slice);
      if (!text.empty() || !lps.empty()) on_new(c, text, lps);
      all &= c.done;
    }
    return all;
  };

  if (!stream) {
    provide("application/json",
            [g, record, hang_up, keepalive, poll](size_t, httplib::DataSink& sink) {
              auto started = Clock::now();
              for (bool finished = false; !finished;) {
                finished = poll([](Choice& c, std::string& text, std::vector<TokenLogprob>& lps) {
                  c.text += text;
                  c.logprobs.insert(c.logprobs.end(), lps.begin(), lps.end());
                });
                // A long generation writes JSON-insignificant whitespace now and then: the only way
                // to learn that the client went away is a failed write.
                if (!finished && Clock::now() - started > 2 * keepalive) {
                  if (!sink.write(" ", 1)) {
                    hang_up();
                    return false;
                  }
                  started = Clock::now();
                }
              }
              record();
              json body;
              if (const std::string* err = g->error()) {
                body = error_body(ApiError(500, "server_error", "", *err));
              } else {
                json choices = json::array();
                for (auto& c : g->choices) choices.push_back(final_choice(*g, c));
                body = {{"id", g->id},
                        {"object", g->chat ? "chat.completion" : "text_completion"},
                        {"created", g->created},
                        {"model", g->model},
                        {"choices", choices},
                        {"usage", usage_json(g->prompt_tokens, g->completion_tokens())}};
              }
              std::string s = dump(body);
              if (!sink.write(s.data(), s.size())) return false;
              sink.done();
              return true;
            });
    return;
  }

  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  provide("text/event-stream", [g, record, hang_up, keepalive, poll](size_t,
                                                                     httplib::DataSink& sink) {
    auto last_write = Clock::now();
    auto send = [&](const json& j) {
      std::string line = "data: " + dump(j) + "\n\n";
      last_write = Clock::now();
      return sink.write(line.data(), line.size());
    };
    // One choice's new text (and logprobs) as a chunk.
    auto piece = [&](Choice& c, const std::string& text, const std::vector<TokenLogprob>& lps) {
      json ch = {{"index", c.index}};
      if (g->chat) {
        ch["delta"] = {{"content", text}};
        ch["logprobs"] = g->logprobs >= 0 ? chat_logprobs(lps) : json(nullptr);
      } else {
        ch["text"] = text;
        ch["logprobs"] = g->logprobs >= 0 ? completion_logprobs(lps, c.offset) : json(nullptr);
      }
      ch["finish_reason"] = nullptr;
      return send(chunk_json(*g, json::array({ch})));
    };
    const bool hold = !g->tool_names.empty();
    bool ok = true;
    for (auto& c : g->choices) {
      if (!ok) break;
      if (g->chat) {
        ok = send(chunk_json(*g, json::array({{{"index", c.index},
                                               {"delta", {{"role", "assistant"}, {"content", ""}}},
                                               {"logprobs", nullptr},
                                               {"finish_reason", nullptr}}})));
      } else if (!c.echo.empty() || !c.echo_logprobs.empty()) {
        ok = piece(c, c.echo, c.echo_logprobs);
        c.offset = c.echo.size();
      }
    }
    for (bool finished = false; ok && !finished;) {
      finished = poll([&](Choice& c, std::string& text, std::vector<TokenLogprob>& lps) {
        c.text += text;
        c.logprobs.insert(c.logprobs.end(), lps.begin(), lps.end());
        if (ok && !hold) ok = piece(c, text, lps);
      });
      if (ok && !finished && Clock::now() - last_write > keepalive) {
        ok = sink.write(": keepalive\n\n", 13);
        last_write = Clock::now();
      }
    }
    if (!ok) {
      hang_up();
      return false;
    }
    // The ledger row is durable before the last bytes of the response leave.
    record();
    if (const std::string* err = g->error()) {
      std::string line =
          "data: " + dump(error_body(ApiError(500, "server_error", "", *err))) + "\n\n";
      sink.write(line.data(), line.size());
      sink.done();
      return true;
    }
    for (auto& c : g->choices) {
      if (!ok) break;
      json last = final_choice(*g, c);
      if (hold) {  // The held text: content, then each call as one delta.
        const json& msg = last["message"];
        json delta = json::object();
        if (msg["content"].is_string() && !msg["content"].get<std::string>().empty())
          delta["content"] = msg["content"];
        if (msg.contains("tool_calls")) {
          delta["tool_calls"] = msg["tool_calls"];
          for (size_t i = 0; i < delta["tool_calls"].size(); ++i)
            delta["tool_calls"][i]["index"] = i;
        }
        if (!delta.empty())
          ok = send(chunk_json(*g, json::array({{{"index", c.index},
                                                 {"delta", delta},
                                                 {"logprobs", nullptr},
                                                 {"finish_reason", nullptr}}})));
      }
      json end = {
          {"index", c.index}, {"logprobs", nullptr}, {"finish_reason", last["finish_reason"]}};
      if (g->chat)
        end["delta"] = json::object();
      else
        end["text"] = "";
      if (ok) ok = send(chunk_json(*g, json::array({end})));
    }
    if (ok && g->include_usage) {
      json u = chunk_json(*g, json::array());
      u["usage"] = usage_json(g->prompt_tokens, g->completion_tokens());
      ok = send(u);
    }
    if (ok) ok = sink.write("data: [DONE]\n\n", 14);
    if (ok) sink.done();
    return ok;
  });
}

}  // namespace sllm::serve
