// safetensors (https://huggingface.co/docs/safetensors): 8-byte little-endian header length,
// a JSON header {name: {dtype, shape, data_offsets}, "__metadata__": {str: str}}, then the data.
// The reader memory-maps the file and validates every entry before exposing it.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sllm/io/file.h"

namespace sllm {

enum class DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL };
size_t dtype_size(DType t);
const char* dtype_name(DType t);  // "F32", "BF16", ...

struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // Points into the mapped file.
  size_t nbytes = 0;
  int64_t numel() const;
};

class SafetensorsReader {
 public:
  explicit SafetensorsReader(const std::string& path);  // Throws sllm::Error on any defect.
  const std::vector<TensorView>& tensors() const { return tensors_; }
  const TensorView* find(const std::string& name) const;  // nullptr if absent.
  const TensorView& get(const std::string& name) const;   // Throws if absent.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return file_.path(); }

 private:
  MappedFile file_;
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

struct TensorToWrite {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const void* data = nullptr;
  size_t nbytes = 0;
};

// Writes atomically (temp file, fsync, rename). Tensors keep the given order in the file.
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace sllm
