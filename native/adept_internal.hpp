// adept_internal.hpp: what the shim's C++ files (adept_torch.cpp, adept_adamw.cpp, adept_dist.cpp) share;
// not part of the C interface (bindgen never sees it): the libtorch version check, the per-thread error
// channel and the guard that feeds it, and the handles (tensors in a slot table, rare objects by id).
#ifndef ADEPT_INTERNAL_HPP
#define ADEPT_INTERNAL_HPP

#include "adept_torch.h"

#include <ATen/ATen.h>
#include <torch/version.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

// True when the libtorch headers the shim is compiled against are at least major.minor.
#define ADEPT_TORCH_AT_LEAST(major, minor) \
    (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace adept_internal {

// ---- the error channel (at_last_error, at_clear_error) ----

// Inline variables: one per thread for the whole library, read without a call (the guard runs on every op).
inline thread_local std::string last_error;
inline thread_local bool has_error = false;

// Sets the calling thread's error (what at_last_error returns).
inline void report_error(const char *message) {
    last_error = message;
    has_error = true;
}

// Clears it: every guarded entry point starts with this.
inline void clear_error() { has_error = false; }

// Installs adept's CPU block cache as libtorch's CPU allocator (adept_cpu_cache.cpp); throws for an unknown
// ADEPT_CPU_ALLOCATOR.
void install_cpu_cache();

// Cross-entropy (at::Reduction): where a gradient will be asked for, the loss and its gradient in one fused pass
// (adept_fused.cpp); else libtorch's.
at::Tensor cross_entropy(const at::Tensor &logits, const at::Tensor &targets, int64_t reduction, int64_t ignore_index);

}  // namespace adept_internal

// Every entry point's body goes between GUARD_BEGIN and GUARD_END(failure): a C++ exception becomes the
// thread's error and the failure value, never crosses the C boundary. The channel is cleared first, so a
// failure without a message (e.g. an absent grad) never picks up an older call's message.
#define GUARD_BEGIN adept_internal::clear_error(); try {
#define GUARD_END(failure)                                        \
    }                                                             \
    catch (const c10::Error &e) {                                 \
        adept_internal::report_error(e.what_without_backtrace()); \
    }                                                             \
    catch (const std::exception &e) {                             \
        adept_internal::report_error(e.what());                   \
    }                                                             \
    catch (...) {                                                 \
        adept_internal::report_error("unknown C++ exception");    \
    }                                                             \
    return failure;

namespace adept_internal {

// ---- tensor handles ----

// Tensor handles are not pointers but (generation << 32 | slot + 1) in a table of slots that
// never move: a freed handle fails its generation check even after its slot is reused, which
// a tag in freed memory cannot promise (the allocator hands the same address back at once).
class HandleTable {
  public:
    static constexpr uint32_t CHUNK_BITS = 12, CHUNK = 1u << CHUNK_BITS, MAX_CHUNKS = 1u << 14;

    uint64_t add(at::Tensor t) {
        uint32_t index;
        {
            SpinLock lock(busy_);
            if (!free_.empty()) {
                index = free_.back();
                free_.pop_back();
            } else {
                index = next_;
                uint32_t chunk = index >> CHUNK_BITS;
                if (chunk >= MAX_CHUNKS) throw std::runtime_error("too many live tensors (2^26)");
                if (chunks_[chunk].load(std::memory_order_relaxed) == nullptr)
                    chunks_[chunk].store(new Slot[CHUNK], std::memory_order_release);
                next_++;
            }
        }
        Slot &slot = at(index);
        slot.tensor = std::move(t);
        slot.live.store(true, std::memory_order_release);
        return (static_cast<uint64_t>(slot.generation.load(std::memory_order_relaxed)) << 32) | (index + 1u);
    }

    // The slot of a live handle; throws for null, foreign and freed handles.
    at::Tensor &get(uint64_t handle, const char *what) {
        Slot *slot = find(handle);
        if (slot == nullptr) throw std::invalid_argument(std::string("invalid ") + what + " handle (not made by this shim)");
        if (!slot->live.load(std::memory_order_acquire) || slot->generation.load(std::memory_order_relaxed) != (handle >> 32))
            throw std::invalid_argument(std::string("stale ") + what + " handle (already freed)");
        return slot->tensor;
    }

    bool remove(uint64_t handle) {
        Slot *slot = find(handle);
        if (slot == nullptr || slot->generation.load(std::memory_order_relaxed) != (handle >> 32)) return false;
        bool expected = true;
        if (!slot->live.compare_exchange_strong(expected, false)) return false;
        at::Tensor released = std::move(slot->tensor);
        uint32_t generation = slot->generation.load(std::memory_order_relaxed) + 1;
        slot->generation.store(generation == 0 ? 1 : generation, std::memory_order_relaxed);
        {
            SpinLock lock(busy_);
            free_.push_back(static_cast<uint32_t>((handle & 0xffffffffu) - 1));
        }
        return true;  // `released` drops its reference here, outside the lock
    }

  private:
    struct Slot {
        std::atomic<uint32_t> generation{1};
        std::atomic<bool> live{false};
        at::Tensor tensor;
    };

    Slot &at(uint32_t index) {
        return chunks_[index >> CHUNK_BITS].load(std::memory_order_acquire)[index & (CHUNK - 1)];
    }

    Slot *find(uint64_t handle) {
        uint64_t low = handle & 0xffffffffu;
        if (low == 0) return nullptr;
        uint64_t index = low - 1;
        if ((index >> CHUNK_BITS) >= MAX_CHUNKS) return nullptr;
        Slot *chunk = chunks_[index >> CHUNK_BITS].load(std::memory_order_acquire);
        if (chunk == nullptr) return nullptr;
        return &chunk[index & (CHUNK - 1)];
    }

    // A spin lock, not a mutex: held for a few instructions, almost never contended (one thread per
    // tensor as a rule); a mutex cost ~50 ns of the ~650 ns a small op takes through the shim.
    struct SpinLock {
        std::atomic_flag &flag;
        explicit SpinLock(std::atomic_flag &f) : flag(f) {
            while (flag.test_and_set(std::memory_order_acquire)) std::this_thread::yield();
        }
        ~SpinLock() { flag.clear(std::memory_order_release); }
    };

    std::atomic_flag busy_ = ATOMIC_FLAG_INIT;
    std::vector<uint32_t> free_;
    uint32_t next_ = 0;
    std::atomic<Slot *> chunks_[MAX_CHUNKS] = {};
};

// Tensor handles allocated and not yet freed (at_live_tensors).
inline std::atomic<int64_t> live_tensors{0};

inline HandleTable &tensor_handles() {
    static HandleTable *table = new HandleTable();  // never destroyed: handles may be freed during exit
    return *table;
}

// A new handle owning t.
inline at_tensor wrap(at::Tensor t) {
    uint64_t handle = tensor_handles().add(std::move(t));
    live_tensors.fetch_add(1, std::memory_order_relaxed);
    return reinterpret_cast<at_tensor>(static_cast<uintptr_t>(handle));
}

// The tensor behind a live handle; throws std::invalid_argument for NULL, foreign or freed ones.
inline const at::Tensor &unwrap(at_tensor h, const char *what = "tensor") {
    if (h == nullptr) throw std::invalid_argument(std::string("null ") + what + " handle");
    return tensor_handles().get(reinterpret_cast<uintptr_t>(h), what);
}

inline std::vector<at::Tensor> unwrap_list(const at_tensor *ts, int n) {
    if (n < 0) throw std::invalid_argument("negative tensor count");
    if (n > 0 && ts == nullptr) throw std::invalid_argument("null tensor list");
    std::vector<at::Tensor> out;
    out.reserve(n);
    for (int i = 0; i < n; i++) out.push_back(unwrap(ts[i], "list element"));
    return out;
}

// ---- handles of rare objects (optimizers, process groups, work, gradient reducers) ----

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
