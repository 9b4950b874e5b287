// Preference losses as TRL defines them, and their gradient w.r.t. the policy's logits.
// A micro-batch holds P pairs as 2P rows: rows [0, P) the chosen completions, [P, 2P) the
// rejected ones (TRL's concatenated forward). A row's log-probability is the sum of its
// completion tokens' log-probs (positions with target >= 0), or their mean where TRL averages
// (IPO, ORPO). With z = (pi_c - pi_r) - (ref_c - ref_r):
//   DPO (sigmoid): -(1 - ls) logsigmoid(beta z) - ls logsigmoid(-beta z)  (ls > 0: cDPO)
//   IPO:           (z - 1 / (2 beta))^2, on mean log-probs
//   ORPO:          NLL(chosen) - beta logsigmoid(log odds(c) - log odds(r)),
//                  log odds(p) = p - log(1 - exp(p)), on mean log-probs; no reference model.
// Losses are means over the pairs; rewards are beta (pi - ref) (ORPO: beta pi), as TRL logs.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace sllm {

enum class PreferenceLossType { Dpo, Ipo, Orpo };

struct PreferenceOptions {
  PreferenceLossType type = PreferenceLossType::Dpo;
  float beta = 0.1f;             // TRL's default for DPO, IPO and ORPO (ORPO's lambda).
  float label_smoothing = 0.0f;  // DPO only: cDPO's assumed label noise, in [0, 0.5).
  bool needs_reference() const { return type != PreferenceLossType::Orpo; }
  bool averages_logps() const { return type != PreferenceLossType::Dpo; }
  void validate() const;  // Throws sllm::Error naming the bad option.
};

// "dpo", "ipo", "orpo" and back; the parser throws naming the valid names.
PreferenceLossType parse_preference_loss(const std::string& name);
const char* preference_loss_name(PreferenceLossType t);

struct PreferenceLoss {
  double loss = 0;
  // Means over the pairs, under TRL's metric names (rewards/chosen, ..., logps/rejected;
  // ORPO adds nll_loss and log_odds_ratio).
  std::map<std::string, double> metrics;
};

// Each row's completion log-probability (sum or mean of log p(target) over targets >= 0):
// logits [R, T, V], targets [R, T] -> out [R]. Throws when a row has no completion token.
void completion_logps(const float* logits, const int32_t* targets, int R, int T, int V,
                      bool average, double* out);

// logits/targets of the 2P rows, ref_logps [2P] (the reference's completion_logps with the
// same averaging; ignored by ORPO). dlogits [2P, T, V] (may be null) receives
// d(loss)/d(logits) * scale; zero where target < 0.
PreferenceLoss preference_loss(const float* logits, const int32_t* targets, int P, int T, int V,
                               const double* ref_logps, const PreferenceOptions& opt,
                               float* dlogits, float scale = 1.0f);

}  // namespace sllm
