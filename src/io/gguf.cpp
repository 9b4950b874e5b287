#include "sllm/io/gguf.h"

#include <fmt/ranges.h>

#include <algorithm>
#include <bit>
#include <cstring>
#include <set>

#include "sllm/common/error.h"
#include "sllm/common/printable.h"

namespace sllm {

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32.
constexpr int kMaxDims = 4;              // GGML_MAX_DIMS.
constexpr int kMaxArrayDepth = 8;

struct TypeRow {
  uint32_t id;
  GGMLTypeTraits t;
};
// Block sizes and bytes per block, from ggml's type_traits table.
constexpr TypeRow kTypes[] = {
    {0, {"F32", 1, 4}},         {1, {"F16", 1, 2}},         {2, {"Q4_0", 32, 18}},
    {3, {"Q4_1", 32, 20}},      {6, {"Q5_0", 32, 22}},      {7, {"Q5_1", 32, 24}},
    {8, {"Q8_0", 32, 34}},      {9, {"Q8_1", 32, 36}},      {10, {"Q2_K", 256, 84}},
    {11, {"Q3_K", 256, 110}},   {12, {"Q4_K", 256, 144}},   {13, {"Q5_K", 256, 176}},
    {14, {"Q6_K", 256, 210}},   {15, {"Q8_K", 256, 292}},   {16, {"IQ2_XXS", 256, 66}},
    {17, {"IQ2_XS", 256, 74}},  {18, {"IQ3_XXS", 256, 98}}, {19, {"IQ1_S", 256, 50}},
    {20, {"IQ4_NL", 32, 18}},   {21, {"IQ3_S", 256, 110}},  {22, {"IQ2_S", 256, 82}},
    {23, {"IQ4_XS", 256, 136}}, {24, {"I8", 1, 1}},         {25, {"I16", 1, 2}},
    {26, {"I32", 1, 4}},        {27, {"I64", 1, 8}},        {28, {"F64", 1, 8}},
    {29, {"IQ1_M", 256, 56}},   {30, {"BF16", 1, 2}},       {34, {"TQ1_0", 256, 54}},
    {35, {"TQ2_0", 256, 66}},
};

size_t scalar_size(GGUFType t) {
  switch (t) {
    case GGUFType::U8:
    case GGUFType::I8:
    case GGUFType::BOOL:
      return 1;
    case GGUFType::U16:
    case GGUFType::I16:
      return 2;
    case GGUFType::U32:
    case GGUFType::I32:
    case GGUFType::F32:
      return 4;
    case GGUFType::U64:
    case GGUFType::I64:
    case GGUFType::F64:
      return 8;
    default:
      return 0;
  }
}

bool known_value_type(uint32_t t) {
  return t <= 12;
}

// A bounds-checked little-endian cursor over the file's bytes.
class Cursor {
 public:
  Cursor(const uint8_t* p, size_t n, const std::string& name) : p_(p), n_(n), name_(name) {}
  size_t pos() const { return pos_; }
  size_t left() const { return n_ - pos_; }
  void need(size_t k, const char* what) const {
    if (k > left())
      fail("{}: truncated GGUF file: {} needs {} bytes at offset {} but only {} remain", name_,
           what, k, pos_, left());
  }
  template <typename T>
  T read(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string read_string(const char* what) {
    uint64_t len = read<uint64_t>(what);
    if (len > left())
      fail("{}: corrupt GGUF file: {} has length {} at offset {} but only {} bytes remain", name_,
           what, len, pos_ - 8, left());
    std::string s(reinterpret_cast<const char*>(p_ + pos_), len);
    pos_ += len;
    return s;
  }

 private:
  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
  const std::string& name_;
};

GGUFValue read_value(Cursor& c, GGUFType t, const std::string& key, const std::string& file,
                     int depth);

GGUFValue read_scalar(Cursor& c, GGUFType t) {
  switch (t) {
    case GGUFType::U8:
      return GGUFValue::u8(c.read<uint8_t>("u8 value"));
    case GGUFType::I8:
      return GGUFValue::i8(c.read<int8_t>("i8 value"));
    case GGUFType::U16:
      return GGUFValue::u16(c.read<uint16_t>("u16 value"));
    case GGUFType::I16:
      return GGUFValue::i16(c.read<int16_t>("i16 value"));
    case GGUFType::U32:
      return GGUFValue::u32(c.read<uint32_t>("u32 value"));
    case GGUFType::I32:
      return GGUFValue::i32(c.read<int32_t>("i32 value"));
    case GGUFType::U64:
      return GGUFValue::u64(c.read<uint64_t>("u64 value"));
    case GGUFType::I64:
      return GGUFValue::i64(c.read<int64_t>("i64 value"));
    case GGUFType::F32:
      return GGUFValue::f32(c.read<float>("f32 value"));
    case GGUFType::F64:
      return GGUFValue::f64(c.read<double>("f64 value"));
    case GGUFType::BOOL:
      return GGUFValue::boolean(c.read<uint8_t>("bool value") != 0);
    default:
      return {};
  }
}

GGUFValue read_value(Cursor& c, GGUFType t, const std::string& key, const std::string& file,
                     int depth) {
  if (t == GGUFType::STRING) return GGUFValue::string(c.read_string("string value"));
  if (t != GGUFType::ARRAY) return read_scalar(c, t);
  if (depth >= kMaxArrayDepth)
    fail("{}: metadata '{}': arrays nested deeper than {}", file, printable(key), kMaxArrayDepth);
  uint32_t et = c.read<uint32_t>("array element type");
  if (!known_value_type(et))
    fail("{}: metadata '{}': unknown array element type {}", file, printable(key), et);
  uint64_t n = c.read<uint64_t>("array length");
  // Every element takes at least one byte (strings and arrays at least 8), so a count larger
  // than the bytes left is corrupt; checking first keeps a bad count from allocating.
  GGUFType elem = static_cast<GGUFType>(et);
  size_t min_size = scalar_size(elem) ? scalar_size(elem) : 8;
  if (n > c.left() / min_size)
    fail("{}: metadata '{}': array of {} {} elements does not fit in the {} bytes left", file,
         printable(key), n, gguf_type_name(elem), c.left());
  if (elem == GGUFType::STRING) {
    std::vector<std::string> s;
    s.reserve(n);
    for (uint64_t i = 0; i < n; ++i) s.push_back(c.read_string("array string"));
    return GGUFValue::strings(std::move(s));
  }
  std::vector<GGUFValue> items;
  items.reserve(n);
  for (uint64_t i = 0; i < n; ++i) items.push_back(read_value(c, elem, key, file, depth + 1));
  return GGUFValue::array(elem, std::move(items));
}

template <typename T>
void put(std::string& out, T x) {
  char b[sizeof(T)];
  std::memcpy(b, &x, sizeof(T));
  out.append(b, sizeof(T));
}

void put_string(std::string& out, const std::string& s) {
  put<uint64_t>(out, s.size());
  out += s;
}

void write_payload(std::string& out, const GGUFValue& v) {
  switch (v.type()) {
    case GGUFType::U8:
    case GGUFType::I8:
      put<uint8_t>(out, static_cast<uint8_t>(v.raw_bits()));
      break;
    case GGUFType::BOOL:
      put<uint8_t>(out, v.as_bool() ? 1 : 0);
      break;
    case GGUFType::U16:
    case GGUFType::I16:
      put<uint16_t>(out, static_cast<uint16_t>(v.raw_bits()));
      break;
    case GGUFType::U32:
    case GGUFType::I32:
      put<uint32_t>(out, static_cast<uint32_t>(v.raw_bits()));
      break;
    case GGUFType::U64:
    case GGUFType::I64:
      put<uint64_t>(out, v.raw_bits());
      break;
    case GGUFType::F32:
      put<float>(out, static_cast<float>(v.as_float()));
      break;
    case GGUFType::F64:
      put<double>(out, v.as_float());
      break;
    case GGUFType::STRING:
      put_string(out, v.as_string());
      break;
    case GGUFType::ARRAY:
      put<uint32_t>(out, static_cast<uint32_t>(v.array_type()));
      put<uint64_t>(out, v.array_size());
      for (const auto& it : v.items()) write_payload(out, it);
      break;
  }
}

uint64_t align_up(uint64_t x, uint64_t a) {
  return (x + a - 1) / a * a;
}

}  // namespace

GGMLTypeTraits ggml_type_traits(uint32_t type) {
  for (const auto& r : kTypes)
    if (r.id == type) return r.t;
  return {};
}

const char* ggml_type_name(GGMLType t) {
  auto tr = ggml_type_traits(static_cast<uint32_t>(t));
  return tr.name ? tr.name : "unknown";
}

size_t ggml_row_size(GGMLType t, int64_t n) {
  auto tr = ggml_type_traits(static_cast<uint32_t>(t));
  if (!tr.name) fail("unknown ggml type {}", static_cast<uint32_t>(t));
  if (n < 0 || n % tr.block_size != 0)
    fail("a {} row needs a multiple of {} elements, got {}", tr.name, tr.block_size, n);
  return static_cast<size_t>(n / tr.block_size) * tr.type_size;
}

const char* gguf_type_name(GGUFType t) {
  static const char* names[] = {"u8",   "i8",     "u16",   "i16", "u32", "i32", "f32",
                                "bool", "string", "array", "u64", "i64", "f64"};
  auto i = static_cast<uint32_t>(t);
  return i < 13 ? names[i] : "unknown";
}

// ---- GGUFValue ----

GGUFValue GGUFValue::f32(float v) {
  return scalar(GGUFType::F32, std::bit_cast<uint64_t>(static_cast<double>(v)));
}
GGUFValue GGUFValue::f64(double v) {
  return scalar(GGUFType::F64, std::bit_cast<uint64_t>(v));
}

GGUFValue GGUFValue::string(std::string s) {
  GGUFValue v;
  v.type_ = GGUFType::STRING;
  v.str_ = std::move(s);
  return v;
}

GGUFValue GGUFValue::strings(std::vector<std::string> s) {
  std::vector<GGUFValue> items;
  items.reserve(s.size());
  for (auto& x : s) items.push_back(string(std::move(x)));
  return array(GGUFType::STRING, std::move(items));
}

GGUFValue GGUFValue::array(GGUFType elem, std::vector<GGUFValue> items) {
  for (const auto& it : items)
    if (it.type() != elem)
      fail("GGUF array of {} cannot hold a {} element", gguf_type_name(elem),
           gguf_type_name(it.type()));
  GGUFValue v;
  v.type_ = GGUFType::ARRAY;
  v.elem_ = elem;
  v.items_ = std::move(items);
  return v;
}

GGUFValue GGUFValue::i32s(const std::vector<int32_t>& x) {
  std::vector<GGUFValue> items;
  items.reserve(x.size());
  for (auto e : x) items.push_back(i32(e));
  return array(GGUFType::I32, std::move(items));
}

GGUFValue GGUFValue::f32s(const std::vector<float>& x) {
  std::vector<GGUFValue> items;
  items.reserve(x.size());
  for (auto e : x) items.push_back(f32(e));
  return array(GGUFType::F32, std::move(items));
}

bool GGUFValue::is_integer() const {
  switch (type_) {
    case GGUFType::U8:
    case GGUFType::I8:
    case GGUFType::U16:
    case GGUFType::I16:
    case GGUFType::U32:
    case GGUFType::I32:
    case GGUFType::U64:
    case GGUFType::I64:
      return true;
    default:
      return false;
  }
}

int64_t GGUFValue::as_int() const {
  if (type_ == GGUFType::BOOL) return static_cast<int64_t>(bits_);
  if (!is_integer()) fail("GGUF value of type {} is not an integer", gguf_type_name(type_));
  if (type_ == GGUFType::U64 && bits_ > static_cast<uint64_t>(INT64_MAX))
    fail("GGUF u64 value {} does not fit a signed 64-bit integer", bits_);
  return static_cast<int64_t>(bits_);
}

uint64_t GGUFValue::as_uint() const {
  if (type_ == GGUFType::U64) return bits_;
  int64_t v = as_int();
  if (v < 0) fail("GGUF value {} is negative where an unsigned integer is needed", v);
  return static_cast<uint64_t>(v);
}

double GGUFValue::as_float() const {
  if (is_float()) return std::bit_cast<double>(bits_);
  if (type_ == GGUFType::U64) return static_cast<double>(bits_);
  if (is_integer()) return static_cast<double>(as_int());
  fail("GGUF value of type {} is not a number", gguf_type_name(type_));
}

bool GGUFValue::as_bool() const {
  if (type_ == GGUFType::BOOL) return bits_ != 0;
  fail("GGUF value of type {} is not a bool", gguf_type_name(type_));
}

const std::string& GGUFValue::as_string() const {
  if (type_ != GGUFType::STRING)
    fail("GGUF value of type {} is not a string", gguf_type_name(type_));
  return str_;
}

GGUFType GGUFValue::array_type() const {
  if (type_ != GGUFType::ARRAY)
    fail("GGUF value of type {} is not an array", gguf_type_name(type_));
  return elem_;
}

size_t GGUFValue::array_size() const {
  return items().size();
}

const std::vector<GGUFValue>& GGUFValue::items() const {
  array_type();
  return items_;
}

std::vector<std::string> GGUFValue::as_strings() const {
  if (array_type() != GGUFType::STRING)
    fail("GGUF array of {} is not an array of strings", gguf_type_name(elem_));
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const auto& it : items_) out.push_back(it.str_);
  return out;
}

std::vector<int64_t> GGUFValue::as_ints() const {
  array_type();
  std::vector<int64_t> out;
  out.reserve(items_.size());
  for (const auto& it : items_) out.push_back(it.as_int());
  return out;
}

std::vector<float> GGUFValue::as_floats() const {
  array_type();
  std::vector<float> out;
  out.reserve(items_.size());
  for (const auto& it : items_) out.push_back(static_cast<float>(it.as_float()));
  return out;
}

std::string GGUFValue::to_string(size_t max_items) const {
  switch (type_) {
    case GGUFType::STRING:
      return "\"" + str_ + "\"";
    case GGUFType::BOOL:
      return bits_ ? "true" : "false";
    case GGUFType::F32:
    case GGUFType::F64:
      return fmt::format("{}", as_float());
    case GGUFType::U64:
      return fmt::format("{}", bits_);
    case GGUFType::ARRAY: {
      std::string s = fmt::format("[{} x {}: ", items_.size(), gguf_type_name(elem_));
      for (size_t i = 0; i < items_.size() && i < max_items; ++i)
        s += (i ? ", " : "") + items_[i].to_string(max_items);
      if (items_.size() > max_items) s += ", ...";
      return s + "]";
    }
    default:
      return fmt::format("{}", as_int());
  }
}

// ---- GGUFTensorInfo ----

int64_t GGUFTensorInfo::numel() const {
  int64_t n = 1;
  for (auto d : dims) n *= d;
  return n;
}

// ---- GGUFReader ----

GGUFReader::GGUFReader(const std::string& path) : file_(path), name_(path) {
  parse(file_.data(), file_.size());
}

GGUFReader::GGUFReader(const uint8_t* data, size_t size, std::string name)
    : name_(std::move(name)) {
  parse(data, size);
}

void GGUFReader::parse(const uint8_t* data, size_t size) {
  Cursor c(data, size, name_);
  if (size < 4 || c.read<uint32_t>("magic") != kMagic)
    fail("{}: not a GGUF file (bad magic)", name_);
  version_ = c.read<uint32_t>("version");
  if (version_ == 1)
    fail("{}: GGUF version 1 is not supported (32-bit counts); re-convert to v3", name_);
  if (version_ != 2 && version_ != 3)
    fail("{}: unsupported GGUF version {} (expected 2 or 3)", name_, version_);
  uint64_t n_tensors = c.read<uint64_t>("tensor count");
  uint64_t n_kv = c.read<uint64_t>("metadata count");
  // A key/value pair takes at least 8+4+1 bytes and a tensor info at least 8+4+4+8 bytes.
  if (n_kv > c.left() / 13)
    fail("{}: corrupt GGUF header: {} metadata entries cannot fit in {} bytes", name_, n_kv, size);
  if (n_tensors > c.left() / 24)
    fail("{}: corrupt GGUF header: {} tensors cannot fit in {} bytes", name_, n_tensors, size);

  std::set<std::string> keys;
  kv_.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = c.read_string("metadata key");
    uint32_t t = c.read<uint32_t>("metadata value type");
    if (!known_value_type(t))
      fail("{}: metadata '{}' has unknown value type {}", name_, printable(key), t);
    if (!keys.insert(key).second)
      fail("{}: metadata key '{}' appears twice", name_, printable(key));
    GGUFValue v = read_value(c, static_cast<GGUFType>(t), key, name_, 0);
    kv_.emplace_back(std::move(key), std::move(v));
  }
  if (const GGUFValue* a = find("general.alignment")) {
    if (!a->is_integer())
      fail("{}: general.alignment must be an integer, is {}", name_, gguf_type_name(a->type()));
    int64_t al = a->as_int();
    if (al <= 0 || al > (1 << 20) || (al & (al - 1)) != 0)
      fail("{}: general.alignment = {} must be a power of two up to 1 MiB", name_, al);
    alignment_ = static_cast<uint32_t>(al);
  }

  std::set<std::string> names;
  tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GGUFTensorInfo t;
    t.name = c.read_string("tensor name");
    if (!names.insert(t.name).second)
      fail("{}: tensor '{}' appears twice", name_, printable(t.name));
    uint32_t nd = c.read<uint32_t>("tensor dimension count");
    if (nd > kMaxDims)
      fail("{}: tensor '{}' has {} dimensions (at most {})", name_, printable(t.name), nd,
           kMaxDims);
    uint64_t numel = 1;
    for (uint32_t d = 0; d < nd; ++d) {
      uint64_t x = c.read<uint64_t>("tensor dimension");
      if (x == 0 || x > (1ull << 40) || numel > (1ull << 48) / x)
        fail("{}: tensor '{}' has an invalid dimension {} = {}", name_, printable(t.name), d, x);
      numel *= x;
      t.dims.push_back(static_cast<int64_t>(x));
    }
    uint32_t type = c.read<uint32_t>("tensor type");
    auto tr = ggml_type_traits(type);
    if (!tr.name) fail("{}: tensor '{}' has unknown ggml type {}", name_, printable(t.name), type);
    t.type = static_cast<GGMLType>(type);
    int64_t row = t.dims.empty() ? 1 : t.dims[0];
    if (row % tr.block_size != 0)
      fail(
          "{}: tensor '{}' of type {} has rows of {} elements, not a multiple of the block size {}",
          name_, printable(t.name), tr.name, row, tr.block_size);
    t.nbytes = static_cast<size_t>(numel / tr.block_size) * tr.type_size;
    t.offset = c.read<uint64_t>("tensor offset");
    if (t.offset % alignment_ != 0)
      fail("{}: tensor '{}' offset {} is not a multiple of the alignment {}", name_,
           printable(t.name), t.offset, alignment_);
    tensors_.push_back(std::move(t));
  }

  data_offset_ = align_up(c.pos(), alignment_);
  if (data_offset_ > size && !tensors_.empty())
    fail("{}: truncated GGUF file: data section starts at {} but the file has {} bytes", name_,
         data_offset_, size);
  const size_t data_size = data_offset_ <= size ? size - data_offset_ : 0;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (auto& t : tensors_) {
    if (t.offset > data_size || t.nbytes > data_size - t.offset)
      fail(
          "{}: tensor '{}' ({} bytes at data offset {}) runs past the end of the file ({} data "
          "bytes): truncated?",
          name_, printable(t.name), t.nbytes, t.offset, data_size);
    t.data = data + data_offset_ + t.offset;
    ranges.emplace_back(t.offset, t.offset + t.nbytes);
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second)
      fail("{}: tensors overlap in the data section", name_);
}

const GGUFValue* GGUFReader::find(const std::string& key) const {
  for (const auto& [k, v] : kv_)
    if (k == key) return &v;
  return nullptr;
}

const GGUFValue& GGUFReader::get(const std::string& key) const {
  const GGUFValue* v = find(key);
  if (!v) fail("{}: GGUF metadata '{}' is missing", name_, printable(key));
  return *v;
}

std::string GGUFReader::get_string(const std::string& key, const std::string& def) const {
  const GGUFValue* v = find(key);
  if (!v) return def;
  if (v->type() != GGUFType::STRING)
    fail("{}: metadata '{}' must be a string, is {}", name_, printable(key),
         gguf_type_name(v->type()));
  return v->as_string();
}

int64_t GGUFReader::get_int(const std::string& key, int64_t def) const {
  const GGUFValue* v = find(key);
  if (!v) return def;
  if (!v->is_integer())
    fail("{}: metadata '{}' must be an integer, is {}", name_, printable(key),
         gguf_type_name(v->type()));
  try {
    return v->as_int();
  } catch (const Error& e) {
    fail("{}: metadata '{}': {}", name_, printable(key), e.what());
  }
}

double GGUFReader::get_float(const std::string& key, double def) const {
  const GGUFValue* v = find(key);
  if (!v) return def;
  if (!v->is_float() && !v->is_integer())
    fail("{}: metadata '{}' must be a number, is {}", name_, printable(key),
         gguf_type_name(v->type()));
  return v->as_float();
}

const GGUFTensorInfo* GGUFReader::find_tensor(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

const GGUFTensorInfo& GGUFReader::tensor(const std::string& name) const {
  const GGUFTensorInfo* t = find_tensor(name);
  if (!t) fail("{}: tensor '{}' is missing", name_, printable(name));
  return *t;
}

// ---- GGUFWriter ----

void GGUFWriter::set(const std::string& key, GGUFValue v) {
  for (auto& [k, old] : kv_)
    if (k == key) {
      old = std::move(v);
      return;
    }
  kv_.emplace_back(key, std::move(v));
}

void GGUFWriter::add_tensor(const std::string& name, GGMLType type, std::vector<int64_t> dims,
                            const void* data, size_t nbytes) {
  if (dims.empty() || dims.size() > kMaxDims)
    fail("GGUF tensor '{}': needs 1 to {} dimensions", name, kMaxDims);
  int64_t numel = 1;
  for (auto d : dims) {
    if (d <= 0) fail("GGUF tensor '{}': dimension {} must be positive", name, d);
    numel *= d;
  }
  size_t need = ggml_row_size(type, dims[0]) * static_cast<size_t>(numel / dims[0]);
  if (need != nbytes)
    fail("GGUF tensor '{}': {} bytes given, {} {} needs {}", name, nbytes, ggml_type_name(type),
         fmt::join(dims, "x"), need);
  for (const auto& t : tensors_)
    if (t.name == name) fail("GGUF tensor '{}' added twice", name);
  tensors_.push_back({name, type, std::move(dims), data, nbytes});
}

void GGUFWriter::write(const std::string& path) const {
  uint64_t alignment = 32;
  for (const auto& [k, v] : kv_)
    if (k == "general.alignment") alignment = v.as_uint();
  if (alignment == 0 || (alignment & (alignment - 1)) != 0)
    fail("GGUF writer {}: general.alignment = {} must be a power of two", path, alignment);
  std::string head;
  put<uint32_t>(head, kMagic);
  put<uint32_t>(head, 3);
  put<uint64_t>(head, tensors_.size());
  put<uint64_t>(head, kv_.size());
  for (const auto& [k, v] : kv_) {
    put_string(head, k);
    put<uint32_t>(head, static_cast<uint32_t>(v.type()));
    write_payload(head, v);
  }
  uint64_t off = 0;
  for (const auto& t : tensors_) {
    put_string(head, t.name);
    put<uint32_t>(head, static_cast<uint32_t>(t.dims.size()));
    for (auto d : t.dims) put<uint64_t>(head, static_cast<uint64_t>(d));
    put<uint32_t>(head, static_cast<uint32_t>(t.type));
    put<uint64_t>(head, off);
    off = align_up(off + t.nbytes, alignment);
  }
  head.resize(align_up(head.size(), alignment), '\0');
  AtomicFile f(path);
  f.write(head);
  static const char zeros[64] = {};
  for (const auto& t : tensors_) {
    f.write(t.data, t.nbytes);
    size_t pad = align_up(t.nbytes, alignment) - t.nbytes;
    while (pad > 0) {
      size_t k = std::min(pad, sizeof zeros);
      f.write(zeros, k);
      pad -= k;
    }
  }
  f.commit();
}

}  // namespace sllm
