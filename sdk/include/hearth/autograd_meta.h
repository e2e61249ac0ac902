// Autograd metadata attached to a TensorImpl. Only requires_grad for now; the graph, the
// engine and version checks land with issue #3.
#pragma once

namespace hearth {

struct AutogradMeta {
  bool requires_grad = false;
};

}  // namespace hearth
