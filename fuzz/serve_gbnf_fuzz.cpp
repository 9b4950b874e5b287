// Fuzzes the GBNF parser (the `grammar` request field) and the recognizer it feeds: any text
// must give a grammar or an sllm::Error naming the problem, never a crash or a hang; a grammar
// that parses must then step through its own shortest completion and some input bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "sllm/common/error.h"
#include "sllm/infer/gbnf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Up to the first NUL: the grammar; after it: bytes to feed the recognizer.
  std::string_view all(reinterpret_cast<const char*>(data), size);
  const size_t cut = all.find('\0');
  std::string_view text = all.substr(0, cut);
  std::string_view feed = cut == std::string_view::npos ? std::string_view() : all.substr(cut + 1);
  try {
    auto c = sllm::gbnf_constraint(text);
    auto mine = c->clone();
    for (char ch : feed.substr(0, 64)) {
      std::string_view b(&ch, 1);
      if (!mine->accepts(b)) break;
      mine->advance(b);
    }
    const std::string done = mine->completion();
    if (mine->accepts(done)) mine->advance(done);
    (void)mine->complete();
  } catch (const sllm::Error&) {
  }
  return 0;
}
