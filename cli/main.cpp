#include <algorithm>
#include <cstdio>
#include <cstring>
#include <exception>

#include "command.h"
#include "sllm/common/error.h"
#include "sllm/common/printable.h"
#include "sllm/common/runtime.h"

namespace sllm::cli {
std::vector<Command>& registry() {
  static std::vector<Command> r;
  return r;
}
}  // namespace sllm::cli

static void usage() {
  std::fprintf(stderr,
               "sllm: train, fine-tune, distill, quantize and serve small language models\n\n");
  std::fprintf(
      stderr,
      "usage: sllm <command> [options]   (sllm <command> --help for details)\n\ncommands:\n");
  auto cmds = sllm::cli::registry();
  std::sort(cmds.begin(), cmds.end(), [](auto& a, auto& b) { return a.name < b.name; });
  for (const auto& c : cmds)
    std::fprintf(stderr, "  %-10s %s\n", c.name.c_str(), c.summary.c_str());
}

int main(int argc, char** argv) {
  sllm::ensure_blas_coretype(argc, argv);
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") ||
      !std::strcmp(argv[1], "help")) {
    usage();
    return argc < 2 ? 2 : 0;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::printf("sllm 0.1.0\n");
    return 0;
  }
  for (const auto& c : sllm::cli::registry()) {
    if (c.name == argv[1]) {
      try {
        return c.run(argc - 1, argv + 1);
      } catch (const sllm::Error& e) {
        // Messages quote names read from files: no escape sequence reaches the terminal.
        std::fprintf(stderr, "sllm %s: error: %s\n", argv[1],
                     sllm::printable(e.what(), /*keep_newlines=*/true).c_str());
        return 1;
      } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "sllm %s: error: out of memory\n", argv[1]);
        return 1;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "sllm %s: error: %s\n", argv[1],
                     sllm::printable(e.what(), /*keep_newlines=*/true).c_str());
        return 1;
      }
    }
  }
  std::fprintf(stderr, "sllm: unknown command '%s'\n\n", argv[1]);
  usage();
  return 2;
}
