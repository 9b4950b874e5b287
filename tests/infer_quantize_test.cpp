#include "infer_test_util.h"
#include "sllm/common/error.h"
#include "sllm/format/quantize.h"
#include "sllm/infer/model.h"
#include "sllm/quant/quant.h"
#include "test_arch.h"
#include "test_util.h"

namespace sllm {
namespace {

TEST(Quantize, DirectoryLoadsInPlaceAndMatchesQuantizingAtLoad) {
  test::TempDir dir;
  test::write_tiny_model(dir.file("f32"), test::tiny_config(Arch::Llama));
  for (const char* type : {"q8_0", "q4_0", "q4_1"}) {
    SCOPED_TRACE(type);
    const GGMLType t = parse_weight_type(type);
    auto rep = quantize_model(dir.file("f32"), dir.file(type), t);
    EXPECT_LT(rep.bytes_out, rep.bytes_in / 3);
    auto q = InferenceModel::load(dir.file(type));
    EXPECT_EQ(q->weight_type(), t);
    EXPECT_EQ(q->files().format, "sllm");
    LoadOptions lo;
    lo.weight_type = t;
    auto ref = InferenceModel::load(dir.file("f32"), lo);
    std::vector<int32_t> toks = {1, 2, 3, 200, 100};
    KVCache a = q->new_cache(8), b = ref->new_cache(8);
    EXPECT_EQ(q->forward(a, toks), ref->forward(b, toks));  // Same blocks, bit for bit.
  }
  EXPECT_THROW(quantize_model(dir.file("f32"), dir.file("x"), GGMLType::Q4_K), Error);
}

}  // namespace
}  // namespace sllm
