// embedding (nn::functional): rows of the weight through the index_select kernel, and a backward
// that scatter-adds the gradient rows into a zero table, skipping padding_idx (which therefore
// never trains). The backward is written with ops, so it differentiates again.
#include "../autograd/functions.h"
#include "hearth/nn/misc.h"
#include "hearth/op_attrs.h"
#include "op_utils.h"

namespace hearth::nn::functional {
namespace {

using autograd::tensor_list;

class EmbeddingBackward final : public autograd::SavingNode<1> {
 public:
  EmbeddingBackward(int64_t num_weights, int64_t padding_idx) : num_(num_weights), pad_(padding_idx) {}
  std::string name() const override { return "EmbeddingBackward"; }
  tensor_list apply(tensor_list&& grads) override {
    const Tensor idx = saved(0);  // (M) int64
    const int64_t M = idx.size(0);
    const int64_t D = M ? grads[0].numel() / M : grads[0].size(-1);
    Tensor g = grads[0].reshape({M, D});
    if (pad_ >= 0) g = g * idx.ne(Scalar(pad_)).to(g.dtype()).unsqueeze(1);
    return {zeros({num_, D}, g.options()).scatter_add(0, idx.unsqueeze(1).expand({M, D}), g)};
  }

 private:
  int64_t num_, pad_;
};

}  // namespace

Tensor embedding(const Tensor& input, const Tensor& weight, std::optional<int64_t> padding_idx) {
  HEARTH_CHECK(weight.dim() == 2, ShapeError, "embedding: weight must be 2-D (num_embeddings, embedding_dim), got ",
               ops::describe(weight));
  HEARTH_CHECK(input.dtype() == kInt64 || input.dtype() == kInt32, DTypeError,
               "embedding: Expected tensor for argument #1 'indices' to have one of the following scalar types: Long, "
               "Int; but got ", ops::describe(input), " instead");
  ops::common_device("embedding", {&input, &weight});
  const int64_t num = weight.size(0), D = weight.size(1);
  int64_t pad = -1;
  if (padding_idx) {
    HEARTH_CHECK(*padding_idx >= -num && *padding_idx < num, IndexError, "embedding: padding_idx ", *padding_idx,
                 " must be within num_embeddings (", num, ")");
    pad = *padding_idx < 0 ? *padding_idx + num : *padding_idx;
  }
  const Tensor idx = input.reshape({-1}).to(kInt64).contiguous();
  if (idx.numel() > 0) {
    // Checked here so the message names embedding and the table, not index_select.
    const int64_t lo = idx.min().item<int64_t>(), hi = idx.max().item<int64_t>();
    HEARTH_CHECK(lo >= 0 && hi < num, IndexError, "embedding: index ", lo < 0 ? lo : hi,
                 " is out of range for a table of ", num, " embeddings (valid indices: 0 to ", num - 1, ")");
  }
  const bool rec = autograd::any_requires_grad({&weight});
  Tensor out;
  {
    autograd::internal::ForwardGuard fg(rec);
    out = weight.index_select(0, idx);
  }
  DimVector shape(input.sizes().begin(), input.sizes().end());
  shape.push_back(D);
  if (rec) {
    auto n = std::make_shared<EmbeddingBackward>(num, pad);
    autograd::record(n, {&weight}, {&out});
    n->save(0, idx);
  }
  return out.view(shape);
}

}  // namespace hearth::nn::functional
