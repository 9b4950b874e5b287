// File primitives every writer and loader in sllm goes through.
//  - AtomicFile: writes go to PATH.tmp.PID, then fsync, rename over PATH and fsync the folder,
//    so a crash (even kill -9) leaves either the old file or the new one, never a torn one.
//  - MappedFile: a read-only memory map; loaders check every offset against size().
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sllm {

class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();  // Discards the temp file unless commit() ran.
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  size_t bytes_written() const { return written_; }
  void commit();  // fsync + rename + fsync(dir). Throws sllm::Error on failure.

 private:
  std::string path_, tmp_;
  int fd_ = -1;
  size_t written_ = 0;
  bool committed_ = false;
};

// Whole-file helpers.
void write_file_atomic(const std::string& path, std::string_view contents);
std::string read_file(const std::string& path);  // Throws sllm::Error naming the path.
bool file_exists(const std::string& path);
void make_dirs(const std::string& path);  // mkdir -p

class MappedFile {
 public:
  MappedFile() = default;
  explicit MappedFile(const std::string& path);  // Throws sllm::Error naming the path.
  ~MappedFile();
  MappedFile(MappedFile&& o) noexcept;
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace sllm
