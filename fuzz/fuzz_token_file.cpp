// The token file training reads.
#include <cstring>
#include <vector>

#include "sllm/common/error.h"
#include "sllm/tokenizer/token_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint32_t> aligned((size + 3) /
                                4);  // the reader wants the 4-byte alignment mmap gives
  if (size) std::memcpy(aligned.data(), data, size);
  try {
    sllm::TokenFile f(reinterpret_cast<const uint8_t*>(aligned.data()), size, "fuzz");
    if (f.size() > 0) {
      auto last = f.read(f.size() - 1, 1);
      if (last[0] < 0 || last[0] >= f.vocab_size()) __builtin_trap();
    }
  } catch (const sllm::Error&) {
  }
  return 0;
}
