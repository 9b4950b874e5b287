// Subcommand registry: each cli/cmd_*.cpp registers one `sllm NAME` with a static Registrar,
// so adding a subcommand never touches main.cpp.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace sllm::cli {

// argv[0] is the subcommand name. Returns the process exit code.
using CommandFn = std::function<int(int argc, char** argv)>;

struct Command {
  std::string name;
  std::string summary;
  CommandFn run;
};

std::vector<Command>& registry();

struct Registrar {
  Registrar(std::string name, std::string summary, CommandFn fn) {
    registry().push_back({std::move(name), std::move(summary), std::move(fn)});
  }
};

}  // namespace sllm::cli
