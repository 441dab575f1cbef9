// Cooperative Ctrl-C for long C++ runs that have released the GIL: poll() retakes the GIL only to
// ask Python whether a signal is pending, and remembers it so the caller can raise afterwards.
#pragma once

#include <pybind11/pybind11.h>

namespace h2m2::bindings {

class InterruptPoll {
 public:
  bool operator()() {
    pybind11::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) {
      interrupted_ = true;
      PyErr_Clear();
    }
    return interrupted_;
  }
  // Call with the GIL held after the run: raises KeyboardInterrupt if a signal arrived.
  void raise_if_interrupted() const {
    if (interrupted_) {
      PyErr_SetNone(PyExc_KeyboardInterrupt);
      throw pybind11::error_already_set();
    }
  }

 private:
  bool interrupted_ = false;
};

}  // namespace h2m2::bindings
