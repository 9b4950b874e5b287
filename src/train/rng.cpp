#include "sllm/train/rng.h"

namespace sllm {

namespace {
constexpr uint64_t kGamma = 0x9e3779b97f4a7c15ULL;

uint64_t mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
}  // namespace

Rng Rng::stream(uint64_t seed, uint64_t stream) {
  return Rng(mix(mix(seed) ^ (stream * kGamma + 0x632be59bd9b4e019ULL)));
}

uint64_t Rng::next_u64() {
  state_ += kGamma;
  return mix(state_);
}

void Rng::skip(uint64_t n) {
  state_ += n * kGamma;
}

uint64_t Rng::below(uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(next_u64()) * n) >> 64);
}

float Rng::uniform() {
  return static_cast<float>(next_u64() >> 40) * (1.0f / 16777216.0f);
}

}  // namespace sllm
