// adept_internal.hpp: what adept_torch.cpp shares with the shim's other C++ files (not part of the C
// interface; bindgen never sees it): the per-thread error channel and tensor handles.
#ifndef ADEPT_INTERNAL_HPP
#define ADEPT_INTERNAL_HPP

#include "adept_torch.h"

#include <ATen/ATen.h>

namespace adept_internal {
// Sets the calling thread's error (what at_last_error returns).
void report_error(const char *message);
// The tensor behind a live handle; throws std::invalid_argument for NULL or freed ones.
const at::Tensor &tensor_of(at_tensor handle);
}  // namespace adept_internal

#endif
