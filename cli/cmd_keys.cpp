// sllm keys create|list|revoke|usage: API keys and their usage ledger for `sllm serve`.
#include <fmt/format.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <ctime>

#include "command.h"
#include "sllm/serve/keys.h"

namespace {

std::string utc_time(int64_t t) {
  if (t == 0) return "-";
  std::time_t tt = std::time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

std::string limit(int64_t n) {
  return n ? std::to_string(n) : "unlimited";
}

int run_keys(int argc, char** argv) {
  CLI::App app{"Manage the API keys of `sllm serve` (stored hashed) and read their usage ledger"};
  app.require_subcommand(1);
  std::string db = "sllm-keys.db";
  app.add_option("--db", db,
                 "Key and usage database (SQLite); give the same to `sllm serve --keys`")
      ->capture_default_str();

  auto* create = app.add_subcommand("create", "Create a key and print it (shown only once)");
  std::string name;
  int64_t tokens_per_day = 0, requests_per_minute = 0;
  create->add_option("name", name, "A name for the key (who or what uses it)")->required();
  create->add_option("--tokens-per-day", tokens_per_day,
                     "Prompt + completion tokens per UTC day (0 = unlimited)");
  create->add_option("--requests-per-minute", requests_per_minute,
                     "Requests per minute (0 = unlimited)");

  auto* list = app.add_subcommand("list", "List keys (prefixes only; keys are not stored)");
  auto* revoke = app.add_subcommand("revoke", "Revoke a key by name or prefix");
  std::string which;
  revoke->add_option("key", which, "Name or prefix (sk-sllm-xxxxxxxx)")->required();
  auto* usage = app.add_subcommand("usage", "Token usage per key (today, all time, per day)");
  std::string usage_key;
  int days = 7;
  usage->add_option("key", usage_key, "Only this key (name or prefix)");
  usage->add_option("--days", days, "Days of per-day detail")
      ->check(CLI::Range(1, 3660))
      ->capture_default_str();

  CLI11_PARSE(app, argc, argv);
  sllm::serve::KeyStore store(db);

  if (*create) {
    std::string key = store.create(name, tokens_per_day, requests_per_minute);
    std::printf("%s\n", key.c_str());
    std::fprintf(stderr,
                 "created key '%s' in %s (tokens/day %s, requests/minute %s); store it now: it is "
                 "not shown again\n",
                 name.c_str(), db.c_str(), limit(tokens_per_day).c_str(),
                 limit(requests_per_minute).c_str());
  } else if (*list) {
    std::printf("%-20s %-17s %-17s %-17s %12s %12s\n", "name", "prefix", "created (UTC)",
                "revoked (UTC)", "tokens/day", "requests/min");
    for (const auto& k : store.list())
      std::printf("%-20s %-17s %-17s %-17s %12s %12s\n", k.name.c_str(), k.prefix.c_str(),
                  utc_time(k.created_at).c_str(), utc_time(k.revoked_at).c_str(),
                  limit(k.tokens_per_day).c_str(), limit(k.requests_per_minute).c_str());
  } else if (*revoke) {
    int n = store.revoke(which);
    if (n == 0) {
      std::fprintf(stderr, "sllm keys: no active key named or prefixed '%s' in %s\n", which.c_str(),
                   db.c_str());
      return 1;
    }
    std::printf("revoked %d key(s)\n", n);
  } else if (*usage) {
    std::vector<sllm::serve::ApiKey> keys;
    if (!usage_key.empty()) {
      auto k = store.find(usage_key);
      if (!k) {
        std::fprintf(stderr, "sllm keys: no key named or prefixed '%s' in %s\n", usage_key.c_str(),
                     db.c_str());
        return 1;
      }
      keys.push_back(*k);
    } else {
      keys = store.list();
    }
    int64_t today = sllm::serve::start_of_utc_day(sllm::serve::unix_now());
    for (const auto& k : keys) {
      auto t = store.usage_since(k.id, today);
      auto all = store.usage_since(k.id, 0);
      std::printf(
          "%s (%s)%s: today %lld tokens (%lld prompt + %lld completion) in %lld requests of "
          "%s/day; all time %lld tokens in %lld requests\n",
          k.name.c_str(), k.prefix.c_str(), k.revoked_at ? " [revoked]" : "", (long long)t.total(),
          (long long)t.prompt_tokens, (long long)t.completion_tokens, (long long)t.requests,
          limit(k.tokens_per_day).c_str(), (long long)all.total(), (long long)all.requests);
      std::string by_status;
      for (const auto& u : store.usage_by_status(k.id, 0))
        by_status += fmt::format("{}{} {} ({} tokens)", by_status.empty() ? "" : ", ", u.status,
                                 u.totals.requests, u.totals.total());
      if (!by_status.empty()) std::printf("  requests by status: %s\n", by_status.c_str());
      for (const auto& d : store.daily_usage(k.id, days))
        std::printf("  %s  %8lld requests  %10lld prompt  %10lld completion\n", d.day.c_str(),
                    (long long)d.totals.requests, (long long)d.totals.prompt_tokens,
                    (long long)d.totals.completion_tokens);
    }
  }
  return 0;
}

sllm::cli::Registrar reg("keys", "Manage API keys and read per-key token usage (for sllm serve)",
                         run_keys);

}  // namespace
