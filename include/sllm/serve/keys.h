// API keys and the per-key usage ledger, in one SQLite database (WAL mode).
// Keys are stored as SHA-256(salt || key) with a random per-key salt; only a short prefix is
// kept in clear, to find the row and to show in listings. A usage row is committed durably
// (synchronous=FULL) before record() returns, so a kill -9 after it loses nothing.
#pragma once
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace sllm::serve {

struct ApiKey {
  int64_t id = 0;
  std::string name;
  std::string prefix;          // "sk-sllm-" plus the first 8 hex digits: enough to tell keys apart.
  int64_t created_at = 0;      // Unix seconds.
  int64_t revoked_at = 0;      // 0 while active.
  int64_t tokens_per_day = 0;  // 0 means unlimited.
  int64_t requests_per_minute = 0;  // 0 means unlimited.
};

struct UsageRecord {
  int64_t key_id = 0;
  std::string model;
  std::string endpoint;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  std::string finish_reason;
};

struct UsageTotals {
  int64_t requests = 0;
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t total() const { return prompt_tokens + completion_tokens; }
};

// Usage of the requests that ended one way: stop, length, cancelled (the client hung up) or
// error.
struct StatusUsage {
  std::string status;
  UsageTotals totals;
};

struct DailyUsage {
  std::string day;  // YYYY-MM-DD, UTC.
  UsageTotals totals;
};

class KeyStore {
 public:
  explicit KeyStore(const std::string& path);  // Creates the database and schema if needed.
  ~KeyStore();
  KeyStore(const KeyStore&) = delete;
  KeyStore& operator=(const KeyStore&) = delete;

  // Returns the new key in clear; it is never stored and cannot be shown again.
  std::string create(const std::string& name, int64_t tokens_per_day, int64_t requests_per_minute);
  std::vector<ApiKey> list() const;
  // Revokes by name or by prefix; returns how many keys were revoked.
  int revoke(const std::string& name_or_prefix);
  bool has_active_keys() const;
  // The active key matching `key`, if any (constant-time hash comparison).
  std::optional<ApiKey> verify(const std::string& key) const;
  std::optional<ApiKey> find(const std::string& name_or_prefix) const;

  void record(const UsageRecord& r);
  UsageTotals usage_since(int64_t key_id, int64_t since_unix) const;
  std::vector<DailyUsage> daily_usage(int64_t key_id, int days) const;
  std::vector<StatusUsage> usage_by_status(int64_t key_id, int64_t since_unix) const;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  sqlite3* db_ = nullptr;
  mutable std::mutex mu_;
};

int64_t unix_now();
int64_t start_of_utc_day(int64_t unix_seconds);

}  // namespace sllm::serve
