// Losses and their gradients (filled in by the losses work).
#include "bindings.hpp"

namespace gdcore::bind {

void register_losses(py::module_& m) { (void)m; }

}  // namespace gdcore::bind
