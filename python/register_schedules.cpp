// Learning-rate schedules (filled in by the schedules work).
#include "bindings.hpp"

namespace gdcore::bind {

void register_schedules(py::module_& m) { (void)m; }

}  // namespace gdcore::bind
