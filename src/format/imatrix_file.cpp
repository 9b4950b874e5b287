#include "sllm/format/imatrix_file.h"

#include <cmath>
#include <cstring>

#include "sllm/common/error.h"
#include "sllm/io/file.h"
#include "sllm/io/gguf.h"

namespace sllm {

namespace {

constexpr char kSumsSuffix[] = ".in_sum2", kCountsSuffix[] = ".counts";
constexpr int32_t kMaxNameLength = 4096, kMaxValues = 1 << 26;

void check_entry(const std::string& file, const std::string& name, const ImatrixEntry& e) {
  if (!(e.count > 0) || !std::isfinite(e.count))
    fail("{}: imatrix entry '{}' has count {}, which must be positive", file, name, e.count);
  for (size_t i = 0; i < e.sums.size(); ++i) {
    if (!(e.sums[i] >= 0.0f) || !std::isfinite(e.sums[i]))
      fail("{}: imatrix entry '{}' column {} is {}: sums of squares are finite and >= 0", file,
           name, i, e.sums[i]);
    if (!std::isfinite(static_cast<float>(e.sums[i] / e.count)))
      fail("{}: imatrix entry '{}' column {}: {} / count {} overflows a float", file, name, i,
           e.sums[i], e.count);
  }
}

// Reads the legacy file's little-endian fields, checking each against the end.
struct Cursor {
  const uint8_t* p;
  const uint8_t* end;
  const std::string& file;
  size_t left() const { return static_cast<size_t>(end - p); }
  void need(size_t n, const char* what) const {
    if (left() < n) fail("{}: imatrix file ends inside {}", file, what);
  }
  int32_t i32(const char* what) {
    need(4, what);
    int32_t v;
    std::memcpy(&v, p, 4);
    p += 4;
    return v;
  }
  std::string str(int32_t len, const char* what) {
    if (len < 0 || len > kMaxNameLength)
      fail("{}: imatrix {} length {} (0..{})", file, what, len, kMaxNameLength);
    need(static_cast<size_t>(len), what);
    std::string s(reinterpret_cast<const char*>(p), static_cast<size_t>(len));
    p += len;
    return s;
  }
};

Imatrix parse_legacy(const uint8_t* data, size_t size, const std::string& file) {
  Cursor c{data, data + size, file};
  Imatrix m;
  const int32_t n = c.i32("the entry count");
  if (n <= 0 || static_cast<size_t>(n) > size / 12)
    fail("{}: not an imatrix file (entry count {})", file, n);
  for (int32_t i = 0; i < n; ++i) {
    const std::string name = c.str(c.i32("an entry name's length"), "entry name");
    if (name.empty()) fail("{}: imatrix entry {} has an empty name", file, i);
    const int32_t ncall = c.i32("an entry's call count");
    const int32_t nval = c.i32("an entry's value count");
    if (nval <= 0 || nval > kMaxValues)
      fail("{}: imatrix entry '{}' has {} values (1..{})", file, name, nval, kMaxValues);
    c.need(static_cast<size_t>(nval) * 4, "an entry's values");
    ImatrixEntry e;
    e.sums.resize(static_cast<size_t>(nval));
    std::memcpy(e.sums.data(), c.p, static_cast<size_t>(nval) * 4);
    c.p += static_cast<size_t>(nval) * 4;
    e.count = ncall > 0 ? ncall : 1;  // llama.cpp divides by ncall only when it is positive.
    check_entry(file, name, e);
    if (!m.entries.emplace(name, std::move(e)).second)
      fail("{}: imatrix entry '{}' appears twice", file, name);
  }
  if (c.left() > 0) {  // Optional trailer: chunk count and dataset name.
    m.chunk_count = c.i32("the chunk count");
    if (c.left() > 0) {
      const std::string dataset = c.str(c.i32("the dataset name's length"), "dataset name");
      if (!dataset.empty()) m.datasets.push_back(dataset);
    }
    if (c.left() > 0) fail("{}: {} unexpected bytes after the imatrix data", file, c.left());
  }
  return m;
}

// Copied, not cast: a buffer handed to the parser (fuzzing) need not be aligned.
std::vector<float> f32_tensor(const GGUFTensorInfo& t, const std::string& file) {
  if (t.type != GGMLType::F32)
    fail("{}: imatrix tensor '{}' is {}, expected F32", file, t.name, ggml_type_name(t.type));
  std::vector<float> v(static_cast<size_t>(t.numel()));
  std::memcpy(v.data(), t.data, v.size() * 4);
  return v;
}

Imatrix parse_gguf(const uint8_t* data, size_t size, const std::string& file) {
  GGUFReader r(data, size, file);
  if (const std::string type = r.get_string("general.type"); type != "imatrix")
    fail("{}: a GGUF file with general.type '{}', not an imatrix", file, type);
  Imatrix m;
  m.chunk_count = r.get_int("imatrix.chunk_count", 0);
  m.chunk_size = r.get_int("imatrix.chunk_size", 0);
  if (const GGUFValue* d = r.find("imatrix.datasets")) m.datasets = d->as_strings();
  for (const GGUFTensorInfo& t : r.tensors()) {
    if (t.name.ends_with(kCountsSuffix)) continue;
    if (!t.name.ends_with(kSumsSuffix))
      fail("{}: imatrix tensor '{}' is neither <name>{} nor <name>{}", file, t.name, kSumsSuffix,
           kCountsSuffix);
    const std::string name = t.name.substr(0, t.name.size() - std::strlen(kSumsSuffix));
    const GGUFTensorInfo* counts = r.find_tensor(name + kCountsSuffix);
    if (!counts) fail("{}: imatrix tensor '{}' has no '{}{}'", file, t.name, name, kCountsSuffix);
    if (counts->numel() != 1 || t.rows() != 1)
      fail("{}: imatrix entry '{}' has {} expert matrices; sllm runs no mixture of experts", file,
           name, counts->numel());
    if (t.dims.empty() || t.dims[0] <= 0 || t.dims[0] > kMaxValues)
      fail("{}: imatrix entry '{}' has a bad shape", file, name);
    ImatrixEntry e;
    e.sums = f32_tensor(t, file);
    e.count = f32_tensor(*counts, file)[0];
    check_entry(file, name, e);
    m.entries.emplace(name, std::move(e));
  }
  for (const GGUFTensorInfo& t : r.tensors())
    if (t.name.ends_with(kCountsSuffix) &&
        !m.entries.count(t.name.substr(0, t.name.size() - std::strlen(kCountsSuffix))))
      fail("{}: imatrix tensor '{}' has no sums beside it", file, t.name);
  if (m.entries.empty()) fail("{}: the imatrix holds no entries", file);
  return m;
}

void write_legacy(const Imatrix& m, const std::string& path) {
  std::string out;
  auto put = [&](int32_t v) { out.append(reinterpret_cast<const char*>(&v), 4); };
  const int32_t ncall = static_cast<int32_t>(m.chunk_count > 0 ? m.chunk_count : 1);
  put(static_cast<int32_t>(m.entries.size()));
  for (const auto& [name, e] : m.entries) {
    put(static_cast<int32_t>(name.size()));
    out += name;
    put(ncall);
    put(static_cast<int32_t>(e.sums.size()));
    for (float s : e.sums) {  // The mean times ncall: readers divide by ncall.
      const float v = static_cast<float>(s / e.count * ncall);
      out.append(reinterpret_cast<const char*>(&v), 4);
    }
  }
  put(static_cast<int32_t>(m.chunk_count));
  const std::string dataset = m.datasets.empty() ? "" : m.datasets.front();
  put(static_cast<int32_t>(dataset.size()));
  out += dataset;
  write_file_atomic(path, out);
}

void write_gguf(const Imatrix& m, const std::string& path) {
  GGUFWriter w;
  w.set("general.type", GGUFValue::string("imatrix"));
  w.set("imatrix.datasets", GGUFValue::strings(m.datasets));
  w.set("imatrix.chunk_count", GGUFValue::u32(static_cast<uint32_t>(m.chunk_count)));
  w.set("imatrix.chunk_size", GGUFValue::u32(static_cast<uint32_t>(m.chunk_size)));
  std::vector<float> counts;
  counts.reserve(m.entries.size());
  for (const auto& [name, e] : m.entries) counts.push_back(static_cast<float>(e.count));
  size_t i = 0;
  for (const auto& [name, e] : m.entries) {
    const auto n = static_cast<int64_t>(e.sums.size());
    w.add_tensor(name + kSumsSuffix, GGMLType::F32, {n, 1}, e.sums.data(), e.sums.size() * 4);
    w.add_tensor(name + kCountsSuffix, GGMLType::F32, {1, 1}, &counts[i++], 4);
  }
  w.write(path);
}

}  // namespace

std::vector<float> Imatrix::weights(const std::string& name) const {
  auto it = entries.find(name);
  if (it == entries.end()) return {};
  std::vector<float> w(it->second.sums.size());
  for (size_t i = 0; i < w.size(); ++i)
    w[i] = static_cast<float>(it->second.sums[i] / it->second.count);
  return w;
}

Imatrix parse_imatrix(const uint8_t* data, size_t size, const std::string& name) {
  if (size >= 4 && std::memcmp(data, "GGUF", 4) == 0) return parse_gguf(data, size, name);
  return parse_legacy(data, size, name);
}

Imatrix read_imatrix(const std::string& path) {
  MappedFile f(path);
  Imatrix m = parse_imatrix(f.data(), f.size(), path);
  m.source = path;
  return m;
}

void write_imatrix(const Imatrix& m, const std::string& path) {
  if (m.entries.empty()) fail("{}: refusing to write an empty importance matrix", path);
  if (path.ends_with(".gguf"))
    write_gguf(m, path);
  else
    write_legacy(m, path);
}

}  // namespace sllm
