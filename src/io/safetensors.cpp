#include "sllm/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "sllm/common/error.h"

namespace sllm {

using nlohmann::json;

namespace {
struct DTypeInfo {
  DType t;
  const char* name;
  size_t size;
};
constexpr DTypeInfo kDTypes[] = {
    {DType::F32, "F32", 4}, {DType::F16, "F16", 2}, {DType::BF16, "BF16", 2}, {DType::F64, "F64", 8},
    {DType::I64, "I64", 8}, {DType::I32, "I32", 4}, {DType::I16, "I16", 2},   {DType::I8, "I8", 1},
    {DType::U8, "U8", 1},   {DType::BOOL, "BOOL", 1},
};
constexpr uint64_t kMaxHeader = 100ull << 20;  // The reference implementation's limit.
}  // namespace

size_t dtype_size(DType t) {
  for (const auto& d : kDTypes)
    if (d.t == t) return d.size;
  return 0;
}

const char* dtype_name(DType t) {
  for (const auto& d : kDTypes)
    if (d.t == t) return d.name;
  return "?";
}

int64_t TensorView::numel() const {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}

SafetensorsReader::SafetensorsReader(const std::string& path) : file_(path) {
  const size_t size = file_.size();
  if (size < 8) fail("{}: not a safetensors file (only {} bytes, need an 8-byte header length)", path, size);
  uint64_t hlen = 0;
  std::memcpy(&hlen, file_.data(), 8);
  if (hlen > kMaxHeader || hlen > size - 8)
    fail("{}: corrupt safetensors header length {} (file has {} bytes)", path, hlen, size);
  json header;
  try {
    header = json::parse(file_.data() + 8, file_.data() + 8 + hlen);
  } catch (const json::exception& e) {
    fail("{}: safetensors header is not valid JSON: {}", path, e.what());
  }
  if (!header.is_object()) fail("{}: safetensors header is not a JSON object", path);
  const uint8_t* base = file_.data() + 8 + hlen;
  const size_t data_size = size - 8 - hlen;
  std::vector<std::pair<size_t, size_t>> ranges;
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it.value().is_object()) fail("{}: __metadata__ must be an object", path);
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (!m.value().is_string()) fail("{}: __metadata__ value for '{}' is not a string", path, m.key());
        metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const json& e = it.value();
    TensorView v;
    v.name = it.key();
    if (!e.is_object() || !e.contains("dtype") || !e.contains("shape") || !e.contains("data_offsets"))
      fail("{}: tensor '{}' needs dtype, shape and data_offsets", path, v.name);
    if (!e["dtype"].is_string()) fail("{}: tensor '{}': dtype is not a string", path, v.name);
    std::string dt = e["dtype"].get<std::string>();
    bool found = false;
    for (const auto& d : kDTypes)
      if (dt == d.name) {
        v.dtype = d.t;
        found = true;
      }
    if (!found) fail("{}: tensor '{}' has unsupported dtype '{}'", path, v.name, dt);
    if (!e["shape"].is_array()) fail("{}: tensor '{}': shape is not an array", path, v.name);
    uint64_t numel = 1;
    for (const auto& d : e["shape"]) {
      if (!d.is_number_unsigned()) fail("{}: tensor '{}': shape has a non-integer or negative entry", path, v.name);
      uint64_t x = d.get<uint64_t>();
      if (x != 0 && numel > (1ull << 48) / x) fail("{}: tensor '{}': shape is absurdly large", path, v.name);
      numel *= x;
      v.shape.push_back(static_cast<int64_t>(x));
    }
    const auto& off = e["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      fail("{}: tensor '{}': data_offsets must be two non-negative integers", path, v.name);
    uint64_t b = off[0].get<uint64_t>(), en = off[1].get<uint64_t>();
    if (b > en || en > data_size)
      fail("{}: tensor '{}': data_offsets [{}, {}] fall outside the {} data bytes (truncated file?)", path, v.name,
           b, en, data_size);
    if (en - b != numel * dtype_size(v.dtype))
      fail("{}: tensor '{}': {} bytes of data but shape and dtype need {}", path, v.name, en - b,
           numel * dtype_size(v.dtype));
    v.data = base + b;
    v.nbytes = en - b;
    ranges.emplace_back(b, en);
    tensors_.push_back(std::move(v));
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) fail("{}: tensors overlap in the data section", path);
}

const TensorView* SafetensorsReader::find(const std::string& name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

const TensorView& SafetensorsReader::get(const std::string& name) const {
  const TensorView* t = find(name);
  if (!t) fail("{}: tensor '{}' is missing", file_.path(), name);
  return *t;
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // nlohmann::json sorts keys; that is fine, offsets carry the order.
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t off = 0;
  for (const auto& t : tensors) {
    uint64_t numel = 1;
    for (auto d : t.shape) numel *= static_cast<uint64_t>(d);
    if (numel * dtype_size(t.dtype) != t.nbytes)
      fail("write_safetensors {}: tensor '{}' has {} bytes, shape needs {}", path, t.name, t.nbytes,
           numel * dtype_size(t.dtype));
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {off, off + t.nbytes}}};
    off += t.nbytes;
  }
  std::string h = header.dump();
  while ((8 + h.size()) % 8 != 0) h.push_back(' ');  // Align data to 8 bytes, as the spec allows.
  uint64_t hlen = h.size();
  AtomicFile f(path);
  f.write(&hlen, 8);
  f.write(h);
  for (const auto& t : tensors) f.write(t.data, t.nbytes);
  f.commit();
}

}  // namespace sllm
