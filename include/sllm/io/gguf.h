// GGUF (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md), versions 2 and 3:
//   "GGUF" magic, uint32 version, uint64 tensor count, uint64 metadata count,
//   metadata key/value pairs, tensor infos (name, dims, ggml type, offset), padding to the
//   alignment (general.alignment, default 32), then the tensor data.
// Everything is little-endian. The reader memory-maps the file and checks every count, length
// and offset against the bytes actually present before it allocates or exposes anything.
// Tensor dims are in ggml order: dims[0] is the innermost (contiguous) one, so a row-major
// [out, in] matrix has dims {in, out}.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "sllm/io/file.h"

namespace sllm {

// ggml tensor types (ggml.h enum ggml_type). Numbers are part of the file format.
enum class GGMLType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q5_0 = 6,
  Q5_1 = 7,
  Q8_0 = 8,
  Q8_1 = 9,
  Q2_K = 10,
  Q3_K = 11,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  Q8_K = 15,
  IQ2_XXS = 16,
  IQ2_XS = 17,
  IQ3_XXS = 18,
  IQ1_S = 19,
  IQ4_NL = 20,
  IQ3_S = 21,
  IQ2_S = 22,
  IQ4_XS = 23,
  I8 = 24,
  I16 = 25,
  I32 = 26,
  I64 = 27,
  F64 = 28,
  IQ1_M = 29,
  BF16 = 30,
  TQ1_0 = 34,
  TQ2_0 = 35,
};

struct GGMLTypeTraits {
  const char* name = nullptr;  // nullptr: not a known type.
  int64_t block_size = 0;      // Elements per block.
  size_t type_size = 0;        // Bytes per block.
};
GGMLTypeTraits ggml_type_traits(uint32_t type);  // name == nullptr for unknown numbers.
const char* ggml_type_name(GGMLType t);
// Bytes of a row of n elements; throws sllm::Error if n is not a whole number of blocks.
size_t ggml_row_size(GGMLType t, int64_t n);

// Metadata value types (gguf_type).
enum class GGUFType : uint32_t {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
};
const char* gguf_type_name(GGUFType t);

// One metadata value: a scalar, a string, or an array (of scalars, strings or arrays).
class GGUFValue {
 public:
  GGUFValue() = default;
  static GGUFValue u8(uint8_t v) { return scalar(GGUFType::U8, v); }
  static GGUFValue i8(int8_t v) {
    return scalar(GGUFType::I8, static_cast<uint64_t>(static_cast<int64_t>(v)));
  }
  static GGUFValue u16(uint16_t v) { return scalar(GGUFType::U16, v); }
  static GGUFValue i16(int16_t v) {
    return scalar(GGUFType::I16, static_cast<uint64_t>(static_cast<int64_t>(v)));
  }
  static GGUFValue u32(uint32_t v) { return scalar(GGUFType::U32, v); }
  static GGUFValue i32(int32_t v) {
    return scalar(GGUFType::I32, static_cast<uint64_t>(static_cast<int64_t>(v)));
  }
  static GGUFValue u64(uint64_t v) { return scalar(GGUFType::U64, v); }
  static GGUFValue i64(int64_t v) { return scalar(GGUFType::I64, static_cast<uint64_t>(v)); }
  static GGUFValue f32(float v);
  static GGUFValue f64(double v);
  static GGUFValue boolean(bool v) { return scalar(GGUFType::BOOL, v ? 1 : 0); }
  static GGUFValue string(std::string v);
  static GGUFValue strings(std::vector<std::string> v);
  static GGUFValue array(GGUFType elem, std::vector<GGUFValue> items);  // Items must all be `elem`.
  static GGUFValue i32s(const std::vector<int32_t>& v);
  static GGUFValue f32s(const std::vector<float>& v);

  GGUFType type() const { return type_; }
  bool is_integer() const;
  bool is_float() const { return type_ == GGUFType::F32 || type_ == GGUFType::F64; }
  bool is_array() const { return type_ == GGUFType::ARRAY; }

  // Typed access; each throws sllm::Error naming the types when the value is not convertible
  // (e.g. a negative integer to as_uint, a string to as_int).
  int64_t as_int() const;
  uint64_t as_uint() const;
  double as_float() const;  // Integers convert too.
  bool as_bool() const;
  const std::string& as_string() const;

  GGUFType array_type() const;  // Throws unless an array.
  size_t array_size() const;
  const std::vector<GGUFValue>& items() const;  // Any array.
  std::vector<std::string> as_strings() const;  // Array of STRING.
  std::vector<int64_t> as_ints() const;         // Array of integers (or BOOL).
  std::vector<float> as_floats() const;         // Array of numbers.

  std::string to_string(size_t max_items = 8) const;  // For error messages and `sllm info`.

  // Raw 64-bit payload of a scalar (integers sign-extended, floats as double bits).
  uint64_t raw_bits() const { return bits_; }

 private:
  static GGUFValue scalar(GGUFType t, uint64_t bits) {
    GGUFValue v;
    v.type_ = t;
    v.bits_ = bits;
    return v;
  }
  GGUFType type_ = GGUFType::U32;
  GGUFType elem_ = GGUFType::U32;
  uint64_t bits_ = 0;
  std::string str_;
  std::vector<GGUFValue> items_;
};

struct GGUFTensorInfo {
  std::string name;
  GGMLType type = GGMLType::F32;
  std::vector<int64_t> dims;  // ggml order: dims[0] innermost.
  uint64_t offset = 0;        // From the start of the data section.
  size_t nbytes = 0;
  const uint8_t* data = nullptr;  // Into the mapped file.
  int64_t numel() const;
  int64_t rows() const { return dims.empty() ? 1 : numel() / dims[0]; }
};

class GGUFReader {
 public:
  explicit GGUFReader(const std::string& path);  // Maps and validates; throws sllm::Error.
  // Parses a buffer the caller keeps alive (fuzzing, embedded files). `name` labels errors.
  GGUFReader(const uint8_t* data, size_t size, std::string name);

  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  const std::string& path() const { return name_; }

  const std::vector<std::pair<std::string, GGUFValue>>& metadata() const { return kv_; }
  const GGUFValue* find(const std::string& key) const;  // nullptr if absent.
  const GGUFValue& get(const std::string& key) const;   // Throws naming the key and file.
  // Convenience getters with defaults; they still throw on a present value of the wrong type.
  std::string get_string(const std::string& key, const std::string& def = "") const;
  int64_t get_int(const std::string& key, int64_t def) const;
  double get_float(const std::string& key, double def) const;

  const std::vector<GGUFTensorInfo>& tensors() const { return tensors_; }
  const GGUFTensorInfo* find_tensor(const std::string& name) const;
  const GGUFTensorInfo& tensor(const std::string& name) const;  // Throws if absent.
  size_t data_offset() const { return data_offset_; }

 private:
  void parse(const uint8_t* data, size_t size);
  MappedFile file_;
  std::string name_;
  uint32_t version_ = 0;
  uint32_t alignment_ = 32;
  size_t data_offset_ = 0;
  std::vector<std::pair<std::string, GGUFValue>> kv_;
  std::vector<GGUFTensorInfo> tensors_;
};

// Builds a GGUF v3 file. Metadata keeps insertion order (setting a key again replaces it in
// place). Tensor data is referenced, not copied, until write() streams it out atomically.
class GGUFWriter {
 public:
  void set(const std::string& key, GGUFValue v);
  // dims in ggml order; nbytes must match the type and dims.
  void add_tensor(const std::string& name, GGMLType type, std::vector<int64_t> dims,
                  const void* data, size_t nbytes);
  void write(const std::string& path) const;  // Temp file + fsync + rename.

 private:
  struct Pending {
    std::string name;
    GGMLType type;
    std::vector<int64_t> dims;
    const void* data;
    size_t nbytes;
  };
  std::vector<std::pair<std::string, GGUFValue>> kv_;
  std::vector<Pending> tensors_;
};

}  // namespace sllm
