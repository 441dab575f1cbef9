// Kernel-result codec: a KernelResult as a compact byte string and back.
//
// Lets a memoised `sampled` result leave the engine (Engine::memo_entry) and come back into
// another engine, in another process or on another machine (Engine::memo_insert): the Python
// side keeps these strings in an on-disk store shared by a sweep (h2m2.memo_store). The format
// is this build's own (fixed-width little-endian fields, latency histograms as sparse
// (bucket, count) pairs); stores key it by a digest of the compiled module, so two builds never
// exchange bytes. decode() rejects anything malformed with std::invalid_argument.
// Owns: nothing. Hot path: no (once per distinct kernel).
#pragma once

#include <string>
#include <string_view>

#include "engine/engine.hpp"

namespace h2m2::engine {

std::string encode(const KernelResult& r);
KernelResult decode(std::string_view bytes);

}  // namespace h2m2::engine
