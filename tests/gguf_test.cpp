#include "sllm/io/gguf.h"

#include <cstring>

#include "sllm/common/error.h"
#include "test_util.h"

namespace sllm {
namespace {

GGUFWriter sample_writer(std::vector<float>& f32, std::vector<uint8_t>& q8) {
  GGUFWriter w;
  w.set("general.architecture", GGUFValue::string("llama"));
  w.set("general.alignment", GGUFValue::u32(64));
  w.set("u8", GGUFValue::u8(200));
  w.set("i8", GGUFValue::i8(-5));
  w.set("u16", GGUFValue::u16(65000));
  w.set("i16", GGUFValue::i16(-30000));
  w.set("u32", GGUFValue::u32(4000000000u));
  w.set("i32", GGUFValue::i32(-7));
  w.set("u64", GGUFValue::u64(~0ull));
  w.set("i64", GGUFValue::i64(-(1ll << 40)));
  w.set("f32", GGUFValue::f32(0.25f));
  w.set("f64", GGUFValue::f64(-1.5e300));
  w.set("bool", GGUFValue::boolean(true));
  w.set("tokens", GGUFValue::strings({"a", "", "héllo", std::string("x\0y", 3)}));
  w.set("scores", GGUFValue::f32s({0.5f, -1.0f}));
  w.set("nested",
        GGUFValue::array(GGUFType::ARRAY, {GGUFValue::i32s({1, 2}), GGUFValue::i32s({3})}));
  f32.resize(6 * 4);
  for (size_t i = 0; i < f32.size(); ++i) f32[i] = static_cast<float>(i) * 0.5f;
  q8.assign(34 * 3, 7);
  w.add_tensor("w.f32", GGMLType::F32, {6, 4}, f32.data(), f32.size() * 4);
  w.add_tensor("w.q8", GGMLType::Q8_0, {32, 3}, q8.data(), q8.size());
  return w;
}

TEST(GGUF, RoundTripsEveryValueTypeAndTensors) {
  test::TempDir dir;
  std::vector<float> f32;
  std::vector<uint8_t> q8;
  sample_writer(f32, q8).write(dir.file("m.gguf"));
  GGUFReader r(dir.file("m.gguf"));
  EXPECT_EQ(r.version(), 3u);
  EXPECT_EQ(r.alignment(), 64u);
  EXPECT_EQ(r.get_string("general.architecture"), "llama");
  EXPECT_EQ(r.get("u8").as_int(), 200);
  EXPECT_EQ(r.get("i8").as_int(), -5);
  EXPECT_EQ(r.get("u16").as_int(), 65000);
  EXPECT_EQ(r.get("i16").as_int(), -30000);
  EXPECT_EQ(r.get("u32").as_uint(), 4000000000u);
  EXPECT_EQ(r.get("i32").as_int(), -7);
  EXPECT_EQ(r.get("u64").as_uint(), ~0ull);
  EXPECT_THROW(r.get("u64").as_int(), Error);
  EXPECT_THROW(r.get("i32").as_uint(), Error);
  EXPECT_EQ(r.get("i64").as_int(), -(1ll << 40));
  EXPECT_EQ(r.get("f32").as_float(), 0.25);
  EXPECT_EQ(r.get("f64").as_float(), -1.5e300);
  EXPECT_TRUE(r.get("bool").as_bool());
  EXPECT_EQ(r.get("tokens").as_strings(),
            (std::vector<std::string>{"a", "", "héllo", std::string("x\0y", 3)}));
  EXPECT_EQ(r.get("scores").as_floats(), (std::vector<float>{0.5f, -1.0f}));
  ASSERT_EQ(r.get("nested").array_size(), 2u);
  EXPECT_EQ(r.get("nested").items()[1].as_ints(), (std::vector<int64_t>{3}));
  EXPECT_THROW(r.get("tokens").as_int(), Error);
  EXPECT_THROW(r.get("missing"), Error);
  EXPECT_EQ(r.get_int("missing", 42), 42);
  EXPECT_THROW(r.get_int("general.architecture", 0), Error);

  ASSERT_EQ(r.tensors().size(), 2u);
  const auto& a = r.tensor("w.f32");
  EXPECT_EQ(a.type, GGMLType::F32);
  EXPECT_EQ(a.dims, (std::vector<int64_t>{6, 4}));
  EXPECT_EQ(a.rows(), 4);
  ASSERT_EQ(a.nbytes, f32.size() * 4);
  EXPECT_EQ(std::memcmp(a.data, f32.data(), a.nbytes), 0);
  const auto& b = r.tensor("w.q8");
  EXPECT_EQ(b.type, GGMLType::Q8_0);
  EXPECT_EQ(b.nbytes, 102u);
  EXPECT_EQ(b.offset % 64, 0u);
  EXPECT_EQ(r.data_offset() % 64, 0u);
  EXPECT_EQ(std::memcmp(b.data, q8.data(), b.nbytes), 0);
}

TEST(GGUF, WriterRejectsInconsistentTensors) {
  GGUFWriter w;
  std::vector<uint8_t> buf(100);
  EXPECT_THROW(w.add_tensor("x", GGMLType::Q8_0, {33}, buf.data(), 34),
               Error);                                                         // Not whole blocks.
  EXPECT_THROW(w.add_tensor("x", GGMLType::F32, {4}, buf.data(), 12), Error);  // Wrong byte count.
  w.add_tensor("x", GGMLType::F32, {4}, buf.data(), 16);
  EXPECT_THROW(w.add_tensor("x", GGMLType::F32, {4}, buf.data(), 16), Error);  // Duplicate.
}

TEST(GGUF, EveryTruncationIsAClearError) {
  test::TempDir dir;
  std::vector<float> f32;
  std::vector<uint8_t> q8;
  sample_writer(f32, q8).write(dir.file("m.gguf"));
  std::string bytes = read_file(dir.file("m.gguf"));
  GGUFReader full(dir.file("m.gguf"));
  const auto& last = full.tensor("w.q8");
  // Trailing padding after the last tensor is optional, so only shorter prefixes must fail.
  const size_t data_end = full.data_offset() + last.offset + last.nbytes;
  ASSERT_LT(data_end, bytes.size());
  EXPECT_NO_THROW(
      GGUFReader(reinterpret_cast<const uint8_t*>(bytes.data()), data_end, "exact.gguf"));
  for (size_t n = 0; n < data_end; ++n) {
    auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
    try {
      GGUFReader r(p, n, "cut.gguf");
      ADD_FAILURE() << "prefix of " << n << " bytes parsed";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cut.gguf"), std::string::npos) << e.what();
    }
  }
}

TEST(GGUF, CorruptFieldsAreRejected) {
  test::TempDir dir;
  std::vector<float> f32;
  std::vector<uint8_t> q8;
  sample_writer(f32, q8).write(dir.file("m.gguf"));
  const std::string good = read_file(dir.file("m.gguf"));
  auto expect_error = [&](std::string bytes, const char* needle) {
    try {
      GGUFReader r(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "bad.gguf");
      ADD_FAILURE() << "parsed; expected an error containing '" << needle << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto patch = [&](size_t at, uint64_t v, size_t width) {
    std::string b = good;
    std::memcpy(b.data() + at, &v, width);
    return b;
  };
  expect_error(patch(0, 0x12345678, 4), "bad magic");
  expect_error(patch(4, 9, 4), "unsupported GGUF version 9");
  expect_error(patch(8, 1ull << 60, 8), "tensors cannot fit");
  expect_error(patch(16, 1ull << 60, 8), "metadata entries cannot fit");
  // The first key's length.
  expect_error(patch(24, 1ull << 40, 8), "metadata key has length");
  // The first key's value type (after the 20-byte key "general.architecture").
  expect_error(patch(24 + 8 + 20, 99, 4), "unknown value type 99");
  // Tensor type of the last tensor info: find "w.q8" then skip n_dims and 2 dims.
  size_t q8_at = good.find("w.q8");
  ASSERT_NE(q8_at, std::string::npos);
  expect_error(patch(q8_at + 4 + 4 + 16, 77, 4), "unknown ggml type 77");
  expect_error(patch(q8_at + 4 + 4 + 16 + 4, 64 * 1000, 8), "runs past the end");
  expect_error(patch(q8_at + 4 + 4 + 16 + 4, 3, 8), "not a multiple of the alignment");
  expect_error(patch(q8_at + 4 + 4, 31, 8), "not a multiple of the block size 32");
  expect_error(patch(q8_at + 4, 5, 4), "5 dimensions");
}

// Issue 27: key names went into errors raw: escape sequences reached the terminal and a NUL
// cut the message short. Names from the file are shown with \xNN escapes.
TEST(GGUF, NamesFromTheFileAreEscapedInErrors) {
  test::TempDir dir;
  const std::string evil = std::string("\x1b[2J\x1b[31mkey") + '\0' + "tail";
  GGUFWriter w;
  w.set(evil, GGUFValue::u32(1));
  w.write(dir.file("m.gguf"));
  std::string bytes = read_file(dir.file("m.gguf"));
  const size_t at = bytes.find(evil);
  ASSERT_NE(at, std::string::npos);
  const uint32_t bad_type = 99;
  std::memcpy(bytes.data() + at + evil.size(), &bad_type, 4);
  try {
    GGUFReader r(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size(), "bad.gguf");
    ADD_FAILURE() << "parsed a key with an unknown value type";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("'\\x1b[2J\\x1b[31mkey\\x00tail' has unknown value type 99"),
              std::string::npos)
        << msg;
    EXPECT_EQ(msg.find('\x1b'), std::string::npos);
  }
}

TEST(GGUF, ReadsLlamaCppVocabularies) {
  SLLM_REQUIRE_SHARED("tokenizers/ggml-vocab-gpt-2.gguf");
  GGUFReader r(test::shared_data() + "/tokenizers/ggml-vocab-gpt-2.gguf");
  EXPECT_EQ(r.version(), 3u);
  EXPECT_EQ(r.get_string("tokenizer.ggml.model"), "gpt2");
  auto tokens = r.get("tokenizer.ggml.tokens").as_strings();
  EXPECT_EQ(tokens.size(), 50257u);
  EXPECT_EQ(tokens[0], "!");
  EXPECT_EQ(r.get("tokenizer.ggml.merges").array_size(), 50000u);
  EXPECT_TRUE(r.tensors().empty());

  GGUFReader l(test::shared_data() + "/tokenizers/ggml-vocab-llama-spm.gguf");
  EXPECT_EQ(l.get_string("tokenizer.ggml.model"), "llama");
  EXPECT_EQ(l.get("tokenizer.ggml.tokens").array_size(), 32000u);
  EXPECT_EQ(l.get("tokenizer.ggml.scores").as_floats().size(), 32000u);
}

}  // namespace
}  // namespace sllm
