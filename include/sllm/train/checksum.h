// XXH64 (https://github.com/Cyan4973/xxHash, seed 0): the checksum that checkpoint manifests
// record for every file, fast enough (several GB/s) to verify a checkpoint on every load.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace sllm {

uint64_t xxh64(const void* data, size_t n, uint64_t seed = 0);
std::string checksum_hex(const void* data, size_t n);    // 16 lowercase hex digits of xxh64.
std::string file_checksum_hex(const std::string& path);  // Maps the file; throws sllm::Error.

}  // namespace sllm
