// The built-in ops' schemas: what backends may register kernels for. Attribute structs are in
// hearth/op_attrs.h; the op layer (kernel/src/ops/*.cpp) computes shapes and dtypes.
#include "../dispatcher_internal.h"

namespace hearth::detail {

void declare_builtin_ops(OpRegistry& reg) {
  struct Row { const char* name; const char* sig; int nin; int nout; bool alloc; };
  static const Row rows[] = {
      // Copies and fills. copy_: out = src cast to out's dtype, broadcast to out's shape.
      {"copy_", "copy_(Tensor(a!) self, Tensor src) -> Tensor(a!)", 1, 1, false},
      {"fill_", "fill_(Tensor(a!) self, Scalar value) -> Tensor(a!)", 0, 1, false},
      {"range_fill_", "range_fill_(Tensor(a!) self, Range attrs) -> Tensor(a!)", 0, 1, false},
      {"uniform_", "uniform_(Tensor(a!) self, Random attrs) -> Tensor(a!)", 0, 1, false},
      {"normal_", "normal_(Tensor(a!) self, Random attrs) -> Tensor(a!)", 0, 1, false},
      {"randint_", "randint_(Tensor(a!) self, Random attrs) -> Tensor(a!)", 0, 1, false},
      {"randperm_", "randperm_(Tensor(a!) self, Random attrs) -> Tensor(a!)", 0, 1, false},
      // Unary elementwise (attrs::Unary): out has the input's dtype.
      {"neg", "neg(Tensor self) -> Tensor", 1, 1, false},
      {"abs", "abs(Tensor self) -> Tensor", 1, 1, false},
      {"exp", "exp(Tensor self) -> Tensor", 1, 1, false},
      {"log", "log(Tensor self) -> Tensor", 1, 1, false},
      {"sqrt", "sqrt(Tensor self) -> Tensor", 1, 1, false},
      {"rsqrt", "rsqrt(Tensor self) -> Tensor", 1, 1, false},
      {"relu", "relu(Tensor self) -> Tensor", 1, 1, false},
      {"sigmoid", "sigmoid(Tensor self) -> Tensor", 1, 1, false},
      {"tanh", "tanh(Tensor self) -> Tensor", 1, 1, false},
      {"gelu", "gelu(Tensor self, int approximate) -> Tensor", 1, 1, false},
      {"logical_not", "logical_not(Tensor self) -> Tensor(bool)", 1, 1, false},
      {"clamp", "clamp(Tensor self, Scalar? min, Scalar? max) -> Tensor", 1, 1, false},
      // Float math added for ONNX import (kernel/src/ops/onnx_math.cpp): no attrs, out = f(self).
      {"sin", "sin(Tensor self) -> Tensor", 1, 1, false},
      {"cos", "cos(Tensor self) -> Tensor", 1, 1, false},
      {"tan", "tan(Tensor self) -> Tensor", 1, 1, false},
      {"asin", "asin(Tensor self) -> Tensor", 1, 1, false},
      {"acos", "acos(Tensor self) -> Tensor", 1, 1, false},
      {"atan", "atan(Tensor self) -> Tensor", 1, 1, false},
      {"sinh", "sinh(Tensor self) -> Tensor", 1, 1, false},
      {"cosh", "cosh(Tensor self) -> Tensor", 1, 1, false},
      {"asinh", "asinh(Tensor self) -> Tensor", 1, 1, false},
      {"acosh", "acosh(Tensor self) -> Tensor", 1, 1, false},
      {"atanh", "atanh(Tensor self) -> Tensor", 1, 1, false},
      {"erf", "erf(Tensor self) -> Tensor", 1, 1, false},
      // Binary elementwise (attrs::Binary): one or two inputs (the second may be a scalar attr).
      {"add", "add(Tensor self, Tensor other, Scalar alpha) -> Tensor", -1, 1, false},
      {"sub", "sub(Tensor self, Tensor other, Scalar alpha) -> Tensor", -1, 1, false},
      {"mul", "mul(Tensor self, Tensor other) -> Tensor", -1, 1, false},
      {"div", "div(Tensor self, Tensor other, int rounding_mode) -> Tensor", -1, 1, false},
      {"pow", "pow(Tensor self, Tensor exponent) -> Tensor", -1, 1, false},
      {"maximum", "maximum(Tensor self, Tensor other) -> Tensor", -1, 1, false},
      {"minimum", "minimum(Tensor self, Tensor other) -> Tensor", -1, 1, false},
      {"eq", "eq(Tensor self, Tensor other) -> Tensor(bool)", -1, 1, false},
      {"ne", "ne(Tensor self, Tensor other) -> Tensor(bool)", -1, 1, false},
      {"lt", "lt(Tensor self, Tensor other) -> Tensor(bool)", -1, 1, false},
      {"le", "le(Tensor self, Tensor other) -> Tensor(bool)", -1, 1, false},
      {"gt", "gt(Tensor self, Tensor other) -> Tensor(bool)", -1, 1, false},
      {"ge", "ge(Tensor self, Tensor other) -> Tensor(bool)", -1, 1, false},
      {"logical_and", "logical_and(Tensor self, Tensor other) -> Tensor(bool)", -1, 1, false},
      {"logical_or", "logical_or(Tensor self, Tensor other) -> Tensor(bool)", -1, 1, false},
      {"logical_xor", "logical_xor(Tensor self, Tensor other) -> Tensor(bool)", -1, 1, false},
      {"where", "where(Tensor(bool) cond, Tensor self, Tensor other) -> Tensor", 3, 1, false},
      // Reductions (attrs::Reduce): output in keepdim shape.
      {"sum", "sum(Tensor self, int[] dims) -> Tensor", 1, 1, false},
      {"mean", "mean(Tensor self, int[] dims) -> Tensor", 1, 1, false},
      {"prod", "prod(Tensor self, int[] dims) -> Tensor", 1, 1, false},
      {"amax", "amax(Tensor self, int[] dims) -> Tensor", 1, 1, false},
      {"amin", "amin(Tensor self, int[] dims) -> Tensor", 1, 1, false},
      {"max_dim", "max_dim(Tensor self, int[1] dims) -> (Tensor values, Tensor(int64) indices)", 1, 2, false},
      {"min_dim", "min_dim(Tensor self, int[1] dims) -> (Tensor values, Tensor(int64) indices)", 1, 2, false},
      {"argmax", "argmax(Tensor self, int[1] dims) -> Tensor(int64)", 1, 1, false},
      {"argmin", "argmin(Tensor self, int[1] dims) -> Tensor(int64)", 1, 1, false},
      {"var", "var(Tensor self, int[] dims, int correction) -> Tensor", 1, 1, false},
      {"std", "std(Tensor self, int[] dims, int correction) -> Tensor", 1, 1, false},
      {"norm", "norm(Tensor self, int[] dims, float p) -> Tensor", 1, 1, false},
      // Linear algebra (attrs::Gemm).
      {"gemm", "gemm(Tensor a, Tensor b, Tensor? c, float alpha, float beta) -> Tensor", -1, 1, false},
      // Joining and indexing.
      {"cat", "cat(Tensor[] tensors, int dim) -> Tensor", -1, 1, false},
      {"index_select", "index_select(Tensor self, Tensor(int64) index, int dim) -> Tensor", 2, 1, false},
      {"gather", "gather(Tensor self, Tensor(int64) index, int dim) -> Tensor", 2, 1, false},
      {"scatter_", "scatter_(Tensor(a!) self, Tensor(int64) index, Tensor src, int dim, int reduce) -> Tensor(a!)", 2, 1, false},
      {"put_", "put_(Tensor(a!) self, Tensor(int64) flat_index, Tensor values, int accumulate) -> Tensor(a!)", 2, 1, false},
      {"nonzero", "nonzero(Tensor self) -> Tensor(int64)", 1, 1, true},
      // Backward kernels (attrs::Unary): gelu's derivative needs erf, which no op provides.
      {"gelu_backward", "gelu_backward(Tensor grad, Tensor self, int approximate) -> Tensor", 2, 1, false},
      // Convolution (attrs::Conv, always the forward conv's geometry): conv2d's bias is optional;
      // backward_input computes the input's gradient (and is conv_transpose2d's forward);
      // backward_weight writes grad_bias too when that output is defined (undefined: skipped).
      {"conv2d", "conv2d(Tensor input, Tensor weight, Tensor? bias, Conv attrs) -> Tensor", -1, 1, false},
      // relu(conv2d(...)) in one kernel; relu_backward(g, y) = g where y > 0, else 0 (issue 4).
      {"conv2d_relu", "conv2d_relu(Tensor input, Tensor weight, Tensor? bias, Conv attrs) -> Tensor", -1, 1, false},
      {"relu_backward", "relu_backward(Tensor grad_output, Tensor result) -> Tensor grad_input", 2, 1, false},
      {"conv2d_backward_input", "conv2d_backward_input(Tensor grad_output, Tensor weight, Conv attrs) -> Tensor grad_input", 2, 1, false},
      {"conv2d_backward_weight", "conv2d_backward_weight(Tensor grad_output, Tensor input, Conv attrs) -> (Tensor grad_weight, Tensor? grad_bias)", 2, 2, false},
      // Pooling (attrs::Pool). max_pool2d's indices (int64 or int32, flat h*W+w within the
      // plane, as PyTorch's) may be undefined: then only values are written.
      {"max_pool2d", "max_pool2d(Tensor self, Pool attrs) -> (Tensor out, Tensor? indices)", 1, 2, false},
      {"max_pool2d_backward", "max_pool2d_backward(Tensor grad_output, Tensor indices, Pool? attrs) -> Tensor grad_input", 2, 1, false},
      {"avg_pool2d", "avg_pool2d(Tensor self, Pool attrs) -> Tensor", 1, 1, false},
      {"avg_pool2d_backward", "avg_pool2d_backward(Tensor grad_output, Pool attrs) -> Tensor grad_input", 1, 1, false},
      {"adaptive_avg_pool2d", "adaptive_avg_pool2d(Tensor self) -> Tensor", 1, 1, false},
      {"adaptive_avg_pool2d_backward", "adaptive_avg_pool2d_backward(Tensor grad_output) -> Tensor grad_input", 1, 1, false},
      // Normalization, softmax and nll (attrs::Softmax, BatchNorm, LayerNorm, NllLoss). Optional
      // inputs (Tensor?) are passed as undefined tensors; undefined gradient outputs are skipped.
      {"softmax", "softmax(Tensor self, Softmax attrs) -> Tensor", 1, 1, false},
      {"softmax_backward", "softmax_backward(Tensor grad, Tensor output, Softmax attrs) -> Tensor grad_input", 2, 1, false},
      {"batch_norm", "batch_norm(Tensor input, Tensor? weight, Tensor? bias, Tensor(a!)? running_mean, Tensor(b!)? running_var, BatchNorm attrs) -> (Tensor out, Tensor save_mean, Tensor save_var)", 5, 3, false},
      {"batch_norm_backward", "batch_norm_backward(Tensor grad, Tensor input, Tensor? weight, Tensor save_mean, Tensor save_var, BatchNorm attrs) -> (Tensor? grad_input, Tensor? grad_weight, Tensor? grad_bias)", 5, 3, false},
      {"layer_norm", "layer_norm(Tensor input, Tensor? weight, Tensor? bias, LayerNorm attrs) -> (Tensor out, Tensor mean, Tensor var)", 3, 3, false},
      {"layer_norm_backward", "layer_norm_backward(Tensor grad, Tensor input, Tensor? weight, Tensor mean, Tensor var, LayerNorm attrs) -> (Tensor? grad_input, Tensor? grad_weight, Tensor? grad_bias)", 5, 3, false},
      {"nll_loss", "nll_loss(Tensor self, Tensor(int64) target, Tensor? weight, NllLoss attrs) -> (Tensor out, Tensor total_weight)", 3, 2, false},
      {"nll_loss_backward", "nll_loss_backward(Tensor grad, Tensor(int64) target, Tensor? weight, Tensor total_weight, NllLoss attrs) -> Tensor grad_self", 4, 1, false},
  };
  for (const Row& r : rows) {
    OpSchema s;
    s.name = r.name;
    s.signature = r.sig;
    s.num_inputs = r.nin;
    s.num_outputs = r.nout;
    s.kernel_allocates_outputs = r.alloc;
    reg.declare(s);
  }
}

}  // namespace hearth::detail
