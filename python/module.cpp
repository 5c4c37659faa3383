// gdcore._core: the compiled core. This file is the table of contents; each concept registers
// itself from its own file.
#include "bindings.hpp"

PYBIND11_MODULE(_core, m) {
  m.doc() = "gdcore's compiled core (C++17, OpenMP, run-time SIMD dispatch)";
  gdcore::bind::register_config(m);
  gdcore::bind::register_optimizers(m);
  gdcore::bind::register_schedules(m);
  gdcore::bind::register_hardware(m);
  gdcore::bind::register_losses(m);
  gdcore::bind::register_train(m);
  gdcore::bind::register_minimize(m);
  gdcore::bind::register_gemm(m);
  gdcore::bind::register_mlp(m);
}
