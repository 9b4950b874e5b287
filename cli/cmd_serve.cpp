// sllm serve: the OpenAI-compatible HTTP server (see sllm/serve/server.h).
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <thread>

#include "command.h"
#include "model_flags.h"
#include "sllm/common/error.h"
#include "sllm/common/runtime.h"
#include "sllm/serve/server.h"

namespace {

// SIGINT/SIGTERM write a byte here; a plain thread reads it and stops the server. (A handler,
// not sigwait: threads that libraries start before main, such as OpenBLAS's, would otherwise
// take the signal with its default action and kill the process mid-request.)
int g_stop_pipe[2] = {-1, -1};

extern "C" void on_stop_signal(int) {
  const char c = 1;
  (void)!write(g_stop_pipe[1], &c, 1);
}

// "path" names the model after its folder or file; "name=path" names it explicitly.
std::pair<std::string, std::string> named_path(const std::string& spec, const char* flag) {
  auto eq = spec.find('=');
  if (eq != std::string::npos) {
    if (eq == 0 || eq + 1 == spec.size()) sllm::fail("{} '{}': expected NAME=PATH", flag, spec);
    return {spec.substr(0, eq), spec.substr(eq + 1)};
  }
  std::string p = spec;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  auto slash = p.rfind('/');
  std::string name = slash == std::string::npos ? p : p.substr(slash + 1);
  return {name, spec};
}

int run_serve(int argc, char** argv) {
  CLI::App app{"Serve models over an OpenAI-compatible HTTP API, with a web UI at /"};
  std::vector<std::string> model_specs, lora_specs;
  std::string keys_db;
  sllm::serve::ServerOptions o;
  int threads = 0, ctx = 0;
  std::string kv_type = "f32";
  app.add_option("--model,-m", model_specs,
                 "Model path, or NAME=PATH (repeatable); requests pick it by name")
      ->required();
  app.add_option("--lora", lora_specs,
                 "NAME=ADAPTER_PATH[@BASE]: a LoRA adapter on a base model (default: the first)");
  app.add_option("--host", o.host, "Address to listen on")->capture_default_str();
  app.add_option("--port", o.port, "Port (0 picks a free one)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  bool open = false;
  app.add_option("--keys", keys_db,
                 "API key database (from `sllm keys`): every request needs one of its active keys");
  app.add_flag("--open", open,
               "Serve without API keys: anyone who can connect may use the models (instead of "
               "--keys)");
  app.add_option("--ctx", ctx, "Context length per sequence (default: the model's)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--threads", threads, "Compute threads (0 = all cores)")->capture_default_str();
  sllm::cli::add_kv_type_option(app, kv_type);
  app.add_option("--max-batch", o.scheduler.max_batch, "Sequences decoded together")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app.add_option("--max-queue", o.scheduler.max_queue,
                 "Requests waiting beyond the batch before 429")
      ->check(CLI::Range(0, 100000))
      ->capture_default_str();
  app.add_option("--prefill-chunk", o.scheduler.prefill_chunk,
                 "Prompt tokens per sequence per step")
      ->check(CLI::Range(1, 65536))
      ->capture_default_str();
  app.add_option("--max-tokens-cap", o.limits.max_tokens_cap,
                 "Largest max_tokens a request may ask for")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--max-body", o.max_body_bytes, "Largest request body in bytes")
      ->capture_default_str();
  app.add_option("--max-connections", o.max_connections,
                 "Connections served at once (more get 503)")
      ->check(CLI::Range(1, 4096))
      ->capture_default_str();
  app.add_option("--header-timeout", o.header_timeout_s,
                 "Seconds from a request's first byte to the end of its headers (slow clients "
                 "get 408)")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  app.add_option("--timeout", o.read_timeout_s, "Read and write timeout in seconds")
      ->check(CLI::Range(1, 3600))
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (keys_db.empty() == !open)
    sllm::fail(
        "give either --keys DB (requests need an API key; see `sllm keys create`) or "
        "--open (no authentication: anyone who can connect may use the server)");
  o.write_timeout_s = o.read_timeout_s;
  if (pipe(g_stop_pipe) != 0) sllm::fail("sllm serve: cannot create a pipe");
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);
  o.scheduler.step_token_budget = std::max(o.scheduler.step_token_budget, o.scheduler.max_batch);
  sllm::set_num_threads(threads);

  std::vector<sllm::serve::ServedModel> models;
  std::vector<std::pair<std::string, std::string>> bases;
  const sllm::KVType kv = sllm::parse_kv_type(kv_type);
  for (const auto& spec : model_specs) {
    auto [name, path] = named_path(spec, "--model");
    std::fprintf(stderr, "sllm serve: loading %s as '%s'\n", path.c_str(), name.c_str());
    models.push_back({name, sllm::serve::load_backend(path, "", ctx, kv)});
    bases.emplace_back(name, path);
  }
  for (const auto& spec : lora_specs) {
    auto [name, rest] = named_path(spec, "--lora");
    if (spec.find('=') == std::string::npos)
      sllm::fail("--lora '{}': expected NAME=ADAPTER_PATH[@BASE]", spec);
    std::string adapter = rest, base_path = bases.front().second;
    if (auto at = rest.rfind('@'); at != std::string::npos) {
      adapter = rest.substr(0, at);
      std::string base = rest.substr(at + 1);
      auto it =
          std::find_if(bases.begin(), bases.end(), [&](const auto& b) { return b.first == base; });
      if (it == bases.end()) sllm::fail("--lora '{}': no --model named '{}'", spec, base);
      base_path = it->second;
    }
    std::fprintf(stderr, "sllm serve: loading adapter %s on %s as '%s'\n", adapter.c_str(),
                 base_path.c_str(), name.c_str());
    models.push_back({name, sllm::serve::load_backend(base_path, adapter, ctx, kv)});
  }

  std::unique_ptr<sllm::serve::KeyStore> keys;
  if (!keys_db.empty()) keys = std::make_unique<sllm::serve::KeyStore>(keys_db);
  sllm::serve::Server server(std::move(models), o, keys.get());
  server.bind();
  std::thread stopper([&] {
    char c = 0;
    while (read(g_stop_pipe[0], &c, 1) < 0 && errno == EINTR) {
    }
    server.stop();
  });
  std::fprintf(stderr, "sllm serve: listening on http://%s:%d/ (%s)\n", o.host.c_str(),
               server.port(),
               !keys                     ? "--open: no API keys, open to anyone who can connect"
               : keys->has_active_keys() ? "API keys required"
                                         : "API keys required, and none is active yet: every "
                                           "request gets 401 until `sllm keys create`");
  server.run();
  on_stop_signal(0);  // Wakes the stopper if run() ended on its own.
  stopper.join();
  std::fprintf(stderr, "sllm serve: stopped\n");
  return 0;
}

sllm::cli::Registrar reg("serve", "Serve models over an OpenAI-compatible HTTP API with a web UI",
                         run_serve);

}  // namespace
