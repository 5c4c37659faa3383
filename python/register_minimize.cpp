// minimize and the built-in test functions (filled in by the minimize work).
#include "bindings.hpp"

namespace gdcore::bind {

void register_minimize(py::module_& m) { (void)m; }

}  // namespace gdcore::bind
