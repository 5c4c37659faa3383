// Build facts, threads and the SIMD path.
#include <omp.h>

#include <string>

#include "bindings.hpp"
#include "gdcore/parallel.hpp"
#include "gdcore/simd.hpp"

namespace gdcore::bind {

void register_config(py::module_& m) {
  m.attr("__version__") = GDCORE_VERSION;
  m.attr("compiler") = GDCORE_COMPILER;
  m.attr("openmp_version") = static_cast<int>(_OPENMP);
#ifdef GDCORE_NATIVE_BUILD
  m.attr("native_build") = true;
#else
  m.attr("native_build") = false;
#endif
  m.def("omp_max_threads", [] { return omp_get_max_threads(); },
        "OpenMP's thread count for the calling thread (OMP_NUM_THREADS, threadpoolctl).");
  m.def("get_num_threads", [] { return gdcore::resolve_threads(0); },
        "Threads a gdcore call uses when it does not ask for a number.");
  m.def(
      "set_num_threads", [](int n) { gdcore::set_num_threads(n); }, py::arg("n"),
      "Process-wide thread count for gdcore; 0 follows OpenMP again.");
  m.def(
      "set_team_policy",
      [](const std::string& name) {
        if (name == "adaptive") gdcore::set_team_policy(gdcore::TeamPolicy::kAdaptive);
        else if (name == "team") gdcore::set_team_policy(gdcore::TeamPolicy::kTeam);
        else if (name == "serial") gdcore::set_team_policy(gdcore::TeamPolicy::kSerial);
        else throw py::value_error("team policy must be 'adaptive', 'team' or 'serial', got '" + name + "'");
      },
      py::arg("name"),
      "How the training loops run each step's parallel part: 'adaptive' (the default: the team "
      "or one thread, whichever is faster lately), 'team' or 'serial'. Never changes results.");
  m.def(
      "team_policy",
      [] {
        switch (gdcore::team_policy()) {
          case gdcore::TeamPolicy::kTeam: return std::string("team");
          case gdcore::TeamPolicy::kSerial: return std::string("serial");
          case gdcore::TeamPolicy::kAdaptive: break;
        }
        return std::string("adaptive");
      },
      "The training loops' team policy (see set_team_policy).");
  m.def("simd_path", [] { return std::string(isa_name(active_isa())); },
        "The SIMD path the kernels dispatch to.");
  m.def("detected_simd_path", [] { return std::string(isa_name(detect_isa())); },
        "The best SIMD path this CPU supports.");
  m.def(
      "set_simd_path", [](const std::string& name) { set_isa(isa_from_name(name)); },
      py::arg("name"), "Force a SIMD path (baseline, avx2, avx512) no better than the CPU's.");
}

}  // namespace gdcore::bind
