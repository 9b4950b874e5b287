#include "sllm/serve/keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include <chrono>

#include "sllm/common/error.h"

namespace sllm::serve {

namespace {

constexpr const char* kKeyPrefix = "sk-sllm-";
constexpr size_t kShownHexDigits = 8;

std::string to_hex(const unsigned char* p, size_t n) {
  static const char* digits = "0123456789abcdef";
  std::string s(2 * n, '0');
  for (size_t i = 0; i < n; ++i) {
    s[2 * i] = digits[p[i] >> 4];
    s[2 * i + 1] = digits[p[i] & 15];
  }
  return s;
}

std::string random_bytes(size_t n) {
  std::string b(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(b.data()), int(n)) != 1)
    fail("OpenSSL RAND_bytes failed");
  return b;
}

std::string sha256(const std::string& salt, const std::string& key) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  bool ok = ctx && EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx, salt.data(), salt.size()) == 1 &&
            EVP_DigestUpdate(ctx, key.data(), key.size()) == 1 &&
            EVP_DigestFinal_ex(ctx, out, &len) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok) fail("OpenSSL SHA-256 failed");
  return std::string(reinterpret_cast<char*>(out), len);
}

// RAII prepared statement; every step's error names the database.
class Stmt {
 public:
  Stmt(sqlite3* db, const std::string& path, const char* sql) : db_(db), path_(path) {
    if (sqlite3_prepare_v2(db, sql, -1, &st_, nullptr) != SQLITE_OK)
      fail("key database {}: {}", path_, sqlite3_errmsg(db));
  }
  ~Stmt() { sqlite3_finalize(st_); }
  Stmt& bind(int i, int64_t v) {
    sqlite3_bind_int64(st_, i, v);
    return *this;
  }
  Stmt& bind(int i, const std::string& v) {
    sqlite3_bind_blob(st_, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& bind_text(int i, const std::string& v) {
    sqlite3_bind_text(st_, i, v.data(), int(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  bool row() {
    int rc = sqlite3_step(st_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) fail("key database {}: {}", path_, sqlite3_errmsg(db_));
    return false;
  }
  void run() { row(); }
  int64_t i64(int c) { return sqlite3_column_int64(st_, c); }
  std::string str(int c) {
    const void* p = sqlite3_column_blob(st_, c);
    return p ? std::string(static_cast<const char*>(p), size_t(sqlite3_column_bytes(st_, c)))
             : std::string();
  }

 private:
  sqlite3* db_;
  const std::string& path_;
  sqlite3_stmt* st_ = nullptr;
};

ApiKey read_key(Stmt& s) {
  ApiKey k;
  k.id = s.i64(0);
  k.name = s.str(1);
  k.prefix = s.str(2);
  k.created_at = s.i64(3);
  k.revoked_at = s.i64(4);
  k.tokens_per_day = s.i64(5);
  k.requests_per_minute = s.i64(6);
  return k;
}

constexpr const char* kKeyColumns =
    "id, name, prefix, created_at, revoked_at, tokens_per_day, requests_per_minute";

}  // namespace

int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t start_of_utc_day(int64_t t) {
  return t - (t % 86400 + 86400) % 86400;
}

KeyStore::KeyStore(const std::string& path) : path_(path) {
  if (sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    fail("cannot open key database {}: {}", path, msg);
  }
  sqlite3_busy_timeout(db_, 5000);
  const char* schema =
      "PRAGMA journal_mode=WAL;"
      "PRAGMA synchronous=FULL;"
      "CREATE TABLE IF NOT EXISTS api_keys ("
      "  id INTEGER PRIMARY KEY, name TEXT NOT NULL, prefix TEXT NOT NULL, salt BLOB NOT NULL,"
      "  hash BLOB NOT NULL, created_at INTEGER NOT NULL, revoked_at INTEGER NOT NULL DEFAULT 0,"
      "  tokens_per_day INTEGER NOT NULL DEFAULT 0, requests_per_minute INTEGER NOT NULL DEFAULT "
      "0);"
      "CREATE INDEX IF NOT EXISTS api_keys_prefix ON api_keys(prefix);"
      "CREATE TABLE IF NOT EXISTS usage ("
      "  id INTEGER PRIMARY KEY, key_id INTEGER NOT NULL, at INTEGER NOT NULL, model TEXT NOT NULL,"
      "  endpoint TEXT NOT NULL, prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT "
      "NULL,"
      "  finish_reason TEXT NOT NULL);"
      "CREATE INDEX IF NOT EXISTS usage_key_at ON usage(key_id, at);";
  char* err = nullptr;
  if (sqlite3_exec(db_, schema, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    sqlite3_close(db_);
    db_ = nullptr;
    fail("key database {}: {}", path, msg);
  }
}

KeyStore::~KeyStore() {
  sqlite3_close(db_);
}

std::string KeyStore::create(const std::string& name, int64_t tokens_per_day,
                             int64_t requests_per_minute) {
  if (name.empty() || name.size() > 64) fail("key name must be 1 to 64 characters, got '{}'", name);
  if (name.rfind(kKeyPrefix, 0) == 0)
    fail("key name '{}' must not start with {}", name, kKeyPrefix);
  if (tokens_per_day < 0 || requests_per_minute < 0)
    fail("quotas must be >= 0 (0 means unlimited)");
  std::lock_guard lock(mu_);
  {
    Stmt dup(db_, path_, "SELECT 1 FROM api_keys WHERE name = ? AND revoked_at = 0");
    if (dup.bind_text(1, name).row()) fail("an active key named '{}' already exists", name);
  }
  std::string raw = random_bytes(24);
  std::string key =
      kKeyPrefix + to_hex(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
  std::string salt = random_bytes(16);
  Stmt ins(db_, path_,
           "INSERT INTO api_keys(name, prefix, salt, hash, created_at, tokens_per_day, "
           "requests_per_minute) "
           "VALUES (?, ?, ?, ?, ?, ?, ?)");
  ins.bind_text(1, name)
      .bind_text(2, key.substr(0, std::char_traits<char>::length(kKeyPrefix) + kShownHexDigits))
      .bind(3, salt)
      .bind(4, sha256(salt, key))
      .bind(5, unix_now())
      .bind(6, tokens_per_day)
      .bind(7, requests_per_minute)
      .run();
  return key;
}

std::vector<ApiKey> KeyStore::list() const {
  std::lock_guard lock(mu_);
  Stmt s(db_, path_, fmt::format("SELECT {} FROM api_keys ORDER BY id", kKeyColumns).c_str());
  std::vector<ApiKey> out;
  while (s.row()) out.push_back(read_key(s));
  return out;
}

int KeyStore::revoke(const std::string& name_or_prefix) {
  std::lock_guard lock(mu_);
  Stmt s(db_, path_,
         "UPDATE api_keys SET revoked_at = ? WHERE revoked_at = 0 AND (name = ? OR prefix = ?)");
  s.bind(1, unix_now()).bind_text(2, name_or_prefix).bind_text(3, name_or_prefix).run();
  return sqlite3_changes(db_);
}

bool KeyStore::has_active_keys() const {
  std::lock_guard lock(mu_);
  Stmt s(db_, path_, "SELECT 1 FROM api_keys WHERE revoked_at = 0 LIMIT 1");
  return s.row();
}

std::optional<ApiKey> KeyStore::verify(const std::string& key) const {
  size_t shown = std::char_traits<char>::length(kKeyPrefix) + kShownHexDigits;
  if (key.size() < shown || key.size() > 256) return std::nullopt;
  std::lock_guard lock(mu_);
  Stmt s(db_, path_,
         fmt::format("SELECT {}, salt, hash FROM api_keys WHERE prefix = ? AND revoked_at = 0",
                     kKeyColumns)
             .c_str());
  s.bind_text(1, key.substr(0, shown));
  while (s.row()) {
    std::string salt = s.str(7), hash = s.str(8);
    std::string got = sha256(salt, key);
    if (got.size() == hash.size() && CRYPTO_memcmp(got.data(), hash.data(), got.size()) == 0)
      return read_key(s);
  }
  return std::nullopt;
}

std::optional<ApiKey> KeyStore::find(const std::string& name_or_prefix) const {
  std::lock_guard lock(mu_);
  Stmt s(db_, path_,
         fmt::format("SELECT {} FROM api_keys WHERE name = ? OR prefix = ? ORDER BY revoked_at = 0 "
                     "DESC, id DESC LIMIT 1",
                     kKeyColumns)
             .c_str());
  s.bind_text(1, name_or_prefix).bind_text(2, name_or_prefix);
  if (s.row()) return read_key(s);
  return std::nullopt;
}

void KeyStore::record(const UsageRecord& r) {
  std::lock_guard lock(mu_);
  Stmt s(db_, path_,
         "INSERT INTO usage(key_id, at, model, endpoint, prompt_tokens, completion_tokens, "
         "finish_reason) "
         "VALUES (?, ?, ?, ?, ?, ?, ?)");
  s.bind(1, r.key_id)
      .bind(2, unix_now())
      .bind_text(3, r.model)
      .bind_text(4, r.endpoint)
      .bind(5, r.prompt_tokens)
      .bind(6, r.completion_tokens)
      .bind_text(7, r.finish_reason)
      .run();
}

UsageTotals KeyStore::usage_since(int64_t key_id, int64_t since) const {
  std::lock_guard lock(mu_);
  Stmt s(db_, path_,
         "SELECT COUNT(*), COALESCE(SUM(prompt_tokens),0), COALESCE(SUM(completion_tokens),0) FROM "
         "usage "
         "WHERE key_id = ? AND at >= ?");
  s.bind(1, key_id).bind(2, since);
  UsageTotals t;
  if (s.row()) {
    t.requests = s.i64(0);
    t.prompt_tokens = s.i64(1);
    t.completion_tokens = s.i64(2);
  }
  return t;
}

std::vector<DailyUsage> KeyStore::daily_usage(int64_t key_id, int days) const {
  std::lock_guard lock(mu_);
  Stmt s(db_, path_,
         "SELECT date(at, 'unixepoch'), COUNT(*), SUM(prompt_tokens), SUM(completion_tokens) FROM "
         "usage "
         "WHERE key_id = ? AND at >= ? GROUP BY 1 ORDER BY 1");
  s.bind(1, key_id).bind(2, start_of_utc_day(unix_now()) - int64_t(days - 1) * 86400);
  std::vector<DailyUsage> out;
  while (s.row()) {
    DailyUsage d;
    d.day = s.str(0);
    d.totals.requests = s.i64(1);
    d.totals.prompt_tokens = s.i64(2);
    d.totals.completion_tokens = s.i64(3);
    out.push_back(d);
  }
  return out;
}

std::vector<StatusUsage> KeyStore::usage_by_status(int64_t key_id, int64_t since) const {
  std::lock_guard lock(mu_);
  Stmt s(db_, path_,
         "SELECT finish_reason, COUNT(*), SUM(prompt_tokens), SUM(completion_tokens) FROM usage "
         "WHERE key_id = ? AND at >= ? GROUP BY 1 ORDER BY 1");
  s.bind(1, key_id).bind(2, since);
  std::vector<StatusUsage> out;
  while (s.row()) {
    StatusUsage u;
    u.status = s.str(0);
    u.totals.requests = s.i64(1);
    u.totals.prompt_tokens = s.i64(2);
    u.totals.completion_tokens = s.i64(3);
    out.push_back(u);
  }
  return out;
}

}  // namespace sllm::serve
