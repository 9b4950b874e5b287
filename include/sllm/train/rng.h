// The trainer's random number generator: SplitMix64, whose whole state is one 64-bit counter.
// That makes it trivially serializable (checkpoints store one number) and seekable, so a
// resumed run draws exactly the numbers an uninterrupted run would have drawn.
#pragma once
#include <cstdint>

namespace sllm {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0) : state_(seed) {}
  // A generator for an independent stream derived from (seed, stream), e.g. data vs eval.
  static Rng stream(uint64_t seed, uint64_t stream);

  uint64_t next_u64();
  // Uniform in [0, n) by the multiply-shift method: always exactly one draw (so draw counts
  // stay predictable) and a bias below n / 2^64, far under anything measurable here.
  uint64_t below(uint64_t n);
  float uniform();  // [0, 1) with 24 random bits.

  // Jumps over n draws in O(1): SplitMix64's state moves by a constant per draw.
  void skip(uint64_t n);

  uint64_t state() const { return state_; }
  void set_state(uint64_t s) { state_ = s; }

 private:
  uint64_t state_;
};

}  // namespace sllm
