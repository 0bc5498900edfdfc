// adept_cpu_cache.cpp: the CPU allocator adept installs in libtorch (at_init): a cache of mapped blocks for
// tensors of 256 KiB and up, so a training step's activations and gradients reuse the pages the last step
// touched instead of malloc's heap (which fragments: free MiB-sized chunks pinned between small ones, peaks
// 1.2-1.9x the live tensors) or fresh mappings (zero-filled again on first touch: ~1.7x the step time).
// Smaller tensors go to libtorch's own CPU allocator unchanged.
//
// Bound: the blocks mapped (in use + cached) never exceed the most bytes ever in use at once (the high-water
// mark) plus the request being served; a miss that would cross it unmaps the least recently freed blocks first.
// So resident memory is the live peak, not the live peak plus fragmentation, and a step that repeats the last
// one's sizes maps nothing.
#include "adept_internal.hpp"

#include <c10/core/CPUAllocator.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <list>
#include <map>

namespace {

constexpr size_t kMinBytes = 256 * 1024;  // below this: libtorch's allocator (malloc)
constexpr size_t kPage = 4096;

struct Block {
    void *data;
    size_t bytes;
    std::multimap<size_t, Block *>::iterator by_size;  // valid while cached
    std::list<Block *>::iterator by_age;                // valid while cached
};

class CpuCache final : public c10::Allocator {
public:
    // libtorch < 2.3 declares allocate const, later releases non-const: both overloads, one overrides.
    c10::DataPtr allocate(size_t n) const { return const_cast<CpuCache *>(this)->take(n); }
    c10::DataPtr allocate(size_t n) { return take(n); }
    c10::DeleterFnPtr raw_deleter() const override { return &CpuCache::release_raw; }
    // Pure virtual from libtorch 2.3 (copy-on-write clones); an unused extra before.
    void copy_data(void *dest, const void *src, std::size_t count) const { std::memcpy(dest, src, count); }

    static CpuCache &instance() {
        static CpuCache *cache = new CpuCache();  // never destroyed: tensors may be freed during exit
        return *cache;
    }

    void set_enabled(bool on) { enabled_.store(on); }

    void stats(int64_t *out) {
        std::lock_guard<std::mutex> lock(mutex_);
        out[0] = enabled_.load() ? 1 : 0;
        out[1] = (int64_t)live_;
        out[2] = (int64_t)cached_;
        out[3] = (int64_t)live_peak_;
        out[4] = (int64_t)mapped_peak_;
        out[5] = (int64_t)hits_;
        out[6] = (int64_t)maps_;
        out[7] = (int64_t)unmaps_;
    }

    // Unmaps every cached block and restarts both peaks at what is in use now.
    void release_cached() {
        std::lock_guard<std::mutex> lock(mutex_);
        while (!by_age_.empty()) unmap(by_age_.front());
        live_peak_ = live_;
        mapped_peak_ = live_;
    }

private:
    c10::DataPtr take(size_t n) {
        if (n < kMinBytes || !enabled_.load()) return fallback_->allocate(n);
        const size_t bytes = (n + kPage - 1) / kPage * kPage;
        void *data = nullptr;
        {
            std::lock_guard<std::mutex> lock(mutex_);
            // Best fit among cached blocks at most 1/8 larger (shapes that differ a little share a block).
            auto it = by_size_.lower_bound(bytes);
            Block *block = nullptr;
            if (it != by_size_.end() && it->first <= bytes + bytes / 8) {
                block = it->second;
                by_size_.erase(it);
                by_age_.erase(block->by_age);
                cached_ -= block->bytes;
                hits_++;
            } else {
                const size_t bound = std::max(live_peak_, live_ + bytes);
                while (!by_age_.empty() && live_ + cached_ + bytes > bound) unmap(by_age_.front());
                block = map(bytes);
            }
            live_ += block->bytes;
            live_peak_ = std::max(live_peak_, live_);
            mapped_peak_ = std::max(mapped_peak_, live_ + cached_);
            live_blocks_.emplace(block->data, block);
            data = block->data;
        }
        return {data, data, &CpuCache::release_raw, c10::Device(c10::DeviceType::CPU)};
    }

    static void release_raw(void *data) { instance().give_back(data); }

    void give_back(void *data) {
        if (data == nullptr) return;
        std::lock_guard<std::mutex> lock(mutex_);
        auto it = live_blocks_.find(data);
        if (it == live_blocks_.end()) {
            // raw_deallocate of a small block that came from the fallback
            fallback_->raw_deleter()(data);
            return;
        }
        Block *block = it->second;
        live_blocks_.erase(it);
        live_ -= block->bytes;
        cached_ += block->bytes;
        block->by_age = by_age_.insert(by_age_.end(), block);
        block->by_size = by_size_.emplace(block->bytes, block);
    }

    // Caller holds mutex_.
    Block *map(size_t bytes) {
        void *data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (data == MAP_FAILED) {
            while (!by_age_.empty()) unmap(by_age_.front());
            data = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        }
        // The wording libtorch's own allocator uses, which adept's out-of-memory explanation recognises.
        TORCH_CHECK(data != MAP_FAILED, "adept CPU cache: can't allocate memory: you tried to allocate ", bytes,
                    " bytes. Error code ", errno, " (", std::strerror(errno), ")");
        maps_++;
        return new Block{data, bytes, {}, {}};
    }

    // Caller holds mutex_; block is cached.
    void unmap(Block *block) {
        by_size_.erase(block->by_size);
        by_age_.erase(block->by_age);
        cached_ -= block->bytes;
        munmap(block->data, block->bytes);
        unmaps_++;
        delete block;
    }

    CpuCache() : fallback_(c10::GetDefaultCPUAllocator()) {}

    c10::Allocator *fallback_;
    std::atomic<bool> enabled_{true};
    std::mutex mutex_;
    std::unordered_map<void *, Block *> live_blocks_;
    std::multimap<size_t, Block *> by_size_;
    std::list<Block *> by_age_;  // cached blocks, least recently freed first
    size_t live_ = 0, cached_ = 0, live_peak_ = 0, mapped_peak_ = 0;
    uint64_t hits_ = 0, maps_ = 0, unmaps_ = 0;
};

}  // namespace

namespace adept_internal {

// Installs the cache as libtorch's CPU allocator unless ADEPT_CPU_ALLOCATOR=malloc; called once by at_init.
void install_cpu_cache() {
    const char *choice = std::getenv("ADEPT_CPU_ALLOCATOR");
    const bool on = choice == nullptr || *choice == '\0' || std::strcmp(choice, "cache") == 0;
    if (!on && std::strcmp(choice, "malloc") != 0)
        throw std::invalid_argument(std::string("ADEPT_CPU_ALLOCATOR must be cache or malloc, got '") + choice + "'");
    CpuCache &cache = CpuCache::instance();
    cache.set_enabled(on);
    c10::SetCPUAllocator(&cache, /*priority=*/1);
}

}  // namespace adept_internal

#pragma GCC visibility push(default)

int at_cpu_cache_stats(int64_t *out) {
    GUARD_BEGIN
    CpuCache::instance().stats(out);
    return 0;
    GUARD_END(-1)
}

int at_cpu_cache_release(void) {
    GUARD_BEGIN
    CpuCache::instance().release_cached();
    return 0;
    GUARD_END(-1)
}

int at_cpu_cache_set_enabled(int enabled) {
    GUARD_BEGIN
    CpuCache::instance().set_enabled(enabled != 0);
    return 0;
    GUARD_END(-1)
}

#pragma GCC visibility pop
