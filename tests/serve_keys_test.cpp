// API keys (hashed at rest) and the usage ledger, including its survival across kill -9.
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>

#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "sllm/serve/keys.h"
#include "test_util.h"

using sllm::serve::KeyStore;

TEST(ServeKeys, CreateVerifyRevoke) {
  sllm::test::TempDir dir;
  KeyStore keys(dir.file("k.db"));
  EXPECT_FALSE(keys.has_active_keys());
  std::string a = keys.create("alice", 1000, 10);
  EXPECT_EQ(a.rfind("sk-sllm-", 0), 0u);
  EXPECT_TRUE(keys.has_active_keys());
  auto k = keys.verify(a);
  ASSERT_TRUE(k);
  EXPECT_EQ(k->name, "alice");
  EXPECT_EQ(k->tokens_per_day, 1000);
  EXPECT_EQ(k->requests_per_minute, 10);
  EXPECT_EQ(a.substr(0, k->prefix.size()), k->prefix);
  std::string wrong = a;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  EXPECT_FALSE(keys.verify(wrong));
  EXPECT_FALSE(keys.verify(""));
  EXPECT_THROW(keys.create("alice", 0, 0), sllm::Error);
  EXPECT_EQ(keys.revoke("alice"), 1);
  EXPECT_FALSE(keys.verify(a));
  EXPECT_FALSE(keys.has_active_keys());
  EXPECT_EQ(keys.list().size(), 1u);
  EXPECT_NE(keys.list()[0].revoked_at, 0);
}

TEST(ServeKeys, TheKeyIsNotStoredInClear) {
  sllm::test::TempDir dir;
  std::string key;
  {
    KeyStore keys(dir.file("k.db"));
    key = keys.create("alice", 0, 0);
  }
  std::string secret = key.substr(16);  // Past the prefix shown in listings.
  for (const char* f : {"k.db", "k.db-wal"}) {
    if (!std::filesystem::exists(dir.file(f))) continue;
    std::string bytes = sllm::read_file(dir.file(f));
    EXPECT_EQ(bytes.find(secret), std::string::npos) << f;
  }
}

TEST(ServeKeys, LedgerSurvivesKill9) {
  sllm::test::TempDir dir;
  std::string path = dir.file("k.db");
  int64_t id = 0;
  {
    KeyStore keys(path);
    id = keys.verify(keys.create("alice", 0, 0))->id;
  }
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    KeyStore keys(path);
    keys.record({id, "m", "/v1/completions", 11, 22, "stop"});
    raise(SIGKILL);  // No destructors, no checkpoint, no close.
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  KeyStore keys(path);
  auto u = keys.usage_since(id, 0);
  EXPECT_EQ(u.requests, 1);
  EXPECT_EQ(u.prompt_tokens, 11);
  EXPECT_EQ(u.completion_tokens, 22);
  auto days = keys.daily_usage(id, 7);
  ASSERT_EQ(days.size(), 1u);
  EXPECT_EQ(days[0].totals.total(), 33);
}

TEST(ServeKeys, DatabaseUsesWal) {
  sllm::test::TempDir dir;
  KeyStore keys(dir.file("k.db"));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir.file("k.db").c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
}

TEST(ServeKeys, StartOfUtcDay) {
  EXPECT_EQ(sllm::serve::start_of_utc_day(86400 * 3 + 5), 86400 * 3);
  EXPECT_EQ(sllm::serve::start_of_utc_day(86400 * 3), 86400 * 3);
}

// How each request ended is in the ledger and in `sllm keys usage`: a client that hung up
// mid-stream is billed as "cancelled".
TEST(ServeKeys, UsageShowsRequestsByStatus) {
  sllm::test::TempDir dir;
  std::string path = dir.file("k.db");
  {
    KeyStore keys(path);
    int64_t id = keys.verify(keys.create("alice", 0, 0))->id;
    keys.record({id, "m", "/v1/completions", 4, 10, "stop"});
    keys.record({id, "m", "/v1/completions", 4, 7, "cancelled"});
    keys.record({id, "m", "/v1/completions", 4, 2, "cancelled"});
    auto s = keys.usage_by_status(id, 0);
    ASSERT_EQ(s.size(), 2u);
    EXPECT_EQ(s[0].status, "cancelled");
    EXPECT_EQ(s[0].totals.requests, 2);
    EXPECT_EQ(s[0].totals.total(), 17);
    EXPECT_EQ(s[1].status, "stop");
  }
  auto run = sllm::test::run_sllm("keys --db " + path + " usage alice");
  EXPECT_EQ(run.rc, 0) << run.out;
  EXPECT_NE(run.out.find("requests by status: cancelled 2 (17 tokens), stop 1 (14 tokens)"),
            std::string::npos)
      << run.out;
}

// An open server is an explicit choice: `sllm serve` needs --keys or --open, never both.
TEST(ServeKeys, ServeNeedsKeysOrOpen) {
  for (const char* flags : {"", "--keys k.db --open"}) {
    auto run = sllm::test::run_sllm(std::string("serve --model /nonexistent ") + flags);
    EXPECT_EQ(run.rc, 1) << flags << ": " << run.out;
    EXPECT_NE(run.out.find("give either --keys DB"), std::string::npos) << run.out;
  }
}
