// Top-k teacher logits cached on disk, so one teacher pass serves many student runs.
// The file is a safetensors file (written atomically) holding
//   inputs [rows, T] I32, targets [rows, T] I32 (-1 = not trained),
//   topk_ids [rows, T, k] I32, topk_logits [rows, T, k] F32 (raw logits, descending),
// with metadata {"format": "sllm-teacher-topk", "version": "1", "vocab_size", "k",
// "teacher", "tokenizer"} ("tokenizer" is a fingerprint the student must match).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace sllm {

struct TeacherCache {
  int vocab_size = 0, k = 0, T = 0;
  size_t rows = 0;
  std::vector<int32_t> inputs, targets, ids;
  std::vector<float> logits;
  std::string teacher;    // Where the logits came from (a model path), for humans.
  std::string tokenizer;  // Fingerprint of the teacher's tokenizer.
};

void save_teacher_cache(const std::string& path, const TeacherCache& c);
// Validates format, shapes, id ranges and finiteness; throws sllm::Error naming the file.
TeacherCache load_teacher_cache(const std::string& path);

}  // namespace sllm
