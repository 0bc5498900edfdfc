// adept_internal.hpp: what adept_torch.cpp shares with the shim's other C++ files (not part of the C
// interface; bindgen never sees it): the per-thread error channel and tensor handles.
#ifndef ADEPT_INTERNAL_HPP
#define ADEPT_INTERNAL_HPP

#include "adept_torch.h"

#include <ATen/ATen.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_map>

namespace adept_internal {
// Sets the calling thread's error (what at_last_error returns).
void report_error(const char *message);
// Clears it: every guarded entry point starts with this.
void clear_error();
// The tensor behind a live handle; throws std::invalid_argument for NULL or freed ones.
const at::Tensor &tensor_of(at_tensor handle);

// Opaque handles for rare objects (process groups, work): ids never reused, checked against the live
// set, so a freed handle is reported even if the allocator hands its memory to a new object.
template <typename T>
class HandleRegistry {
  public:
    explicit HandleRegistry(const char *what) : what_(what) {}

    void *add(std::unique_ptr<T> object) {
        std::lock_guard<std::mutex> lock(mutex_);
        uintptr_t id = next_++;
        live_.emplace(id, std::move(object));
        return reinterpret_cast<void *>(id);
    }

    T &get(const void *handle) {
        if (handle == nullptr) throw std::invalid_argument(std::string("null ") + what_ + " handle");
        std::lock_guard<std::mutex> lock(mutex_);
        auto found = live_.find(reinterpret_cast<uintptr_t>(handle));
        if (found == live_.end()) throw std::invalid_argument(std::string("stale or invalid ") + what_ + " handle (already freed?)");
        return *found->second;
    }

    // The object, now owned by the caller; null for a stale or invalid handle.
    std::unique_ptr<T> take(const void *handle) {
        std::lock_guard<std::mutex> lock(mutex_);
        auto found = live_.find(reinterpret_cast<uintptr_t>(handle));
        if (found == live_.end()) return nullptr;
        std::unique_ptr<T> object = std::move(found->second);
        live_.erase(found);
        return object;
    }

  private:
    const char *what_;
    std::mutex mutex_;
    std::unordered_map<uintptr_t, std::unique_ptr<T>> live_;
    uintptr_t next_ = 1;
};
}  // namespace adept_internal

#endif
