#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "sllm/io/safetensors.h"
#include "test_util.h"

using namespace sllm;

TEST(Safetensors, RoundTrip) {
  test::TempDir dir;
  std::vector<float> a = {1, 2, 3, 4, 5, 6};
  std::vector<int32_t> b = {7, -8};
  write_safetensors(dir.file("x.safetensors"),
                    {{"a", DType::F32, {2, 3}, a.data(), a.size() * 4}, {"b", DType::I32, {2}, b.data(), 8}},
                    {{"format", "pt"}});
  SafetensorsReader r(dir.file("x.safetensors"));
  ASSERT_EQ(r.tensors().size(), 2u);
  const auto& ta = r.get("a");
  EXPECT_EQ(ta.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(std::memcmp(ta.data, a.data(), 24), 0);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(ta.data) % 8, 0u);
  EXPECT_EQ(r.metadata().at("format"), "pt");
  EXPECT_EQ(r.find("nope"), nullptr);
  EXPECT_THROW(r.get("nope"), Error);
}

TEST(Safetensors, RejectsTruncatedAndCorruptFiles) {
  test::TempDir dir;
  std::vector<float> a(100, 1.0f);
  const std::string p = dir.file("x.safetensors");
  write_safetensors(p, {{"a", DType::F32, {100}, a.data(), 400}});
  std::string full = read_file(p);
  for (size_t cut : {size_t{0}, size_t{4}, size_t{8}, size_t{20}, full.size() - 1}) {
    write_file_atomic(p, full.substr(0, cut));
    EXPECT_THROW(SafetensorsReader{p}, Error) << "cut at " << cut;
  }
  std::string bad = full;
  bad[8] = '!';  // Break the JSON: the opening brace.
  write_file_atomic(p, bad);
  EXPECT_THROW(SafetensorsReader{p}, Error);
  uint64_t huge = ~0ull;
  bad = full;
  std::memcpy(bad.data(), &huge, 8);
  write_file_atomic(p, bad);
  EXPECT_THROW(SafetensorsReader{p}, Error);
  EXPECT_THROW(SafetensorsReader{dir.file("missing")}, Error);
}

TEST(AtomicFile, UncommittedWriteLeavesOldFile) {
  test::TempDir dir;
  const std::string p = dir.file("f.txt");
  write_file_atomic(p, "old");
  {
    AtomicFile f(p);
    f.write("new contents");
  }  // Destroyed without commit, as when an exception unwinds.
  EXPECT_EQ(read_file(p), "old");
  EXPECT_FALSE(file_exists(p + ".tmp." + std::to_string(getpid())));
}
