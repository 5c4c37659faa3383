// Build facts, threads and the SIMD path.
#include <omp.h>

#include <chrono>
#include <string>
#include <vector>

#include <pybind11/stl.h>

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
  m.def(
      "_simulate_team_choice",
      [](int team, const std::vector<double>& team_seconds,
         const std::vector<double>& serial_seconds) {
        if (team_seconds.size() != serial_seconds.size())
          throw py::value_error("team_seconds and serial_seconds must have the same length");
        // TeamChooser on a simulated clock: step i takes team_seconds[i] on the team and
        // serial_seconds[i] on one thread; the answer is the thread count each step got.
        using Clock = gdcore::TeamChooser::Clock;
        gdcore::TeamChooser chooser(team);
        std::vector<int> used(team_seconds.size());
        Clock::time_point now{};
        for (std::size_t i = 0; i < used.size(); ++i) {
          used[i] = chooser.next(now);
          const double seconds = used[i] == 1 ? serial_seconds[i] : team_seconds[i];
          const Clock::time_point stop =
              now + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
          chooser.done(now, stop, 1.0, used[i]);
          now = stop;
        }
        return used;
      },
      py::arg("team"), py::arg("team_seconds"), py::arg("serial_seconds"),
      "TeamChooser's picks on a simulated clock (for tests): the thread count of every step.");
  m.def("simd_path", [] { return std::string(isa_name(active_isa())); },
        "The SIMD path the kernels dispatch to.");
  m.def("detected_simd_path", [] { return std::string(isa_name(detect_isa())); },
        "The best SIMD path this CPU supports.");
  m.def(
      "set_simd_path", [](const std::string& name) { set_isa(isa_from_name(name)); },
      py::arg("name"), "Force a SIMD path (baseline, avx2, avx512) no better than the CPU's.");
}

}  // namespace gdcore::bind
