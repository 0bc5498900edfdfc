// adept_dist.cpp: process groups and collectives over c10d (see the distributed section of adept_torch.h).
// Compiled into the same libadept_torch.so as adept_torch.cpp; errors go through its per-thread channel
// (adept_internal.hpp). Gloo on the CPU; NCCL only in CUDA builds that found nccl.h (ADEPT_WITH_NCCL).
// Built without Gloo headers (ADEPT_WITH_GLOO unset), every entry point fails with a message saying so.
#include "adept_internal.hpp"

#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/variable.h>

#if defined(ADEPT_WITH_GLOO)
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if defined(ADEPT_WITH_NCCL)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#endif

namespace {

std::atomic<int64_t> live_dist_handles{0};

#if defined(ADEPT_WITH_GLOO)
// libtorch 2.x runs collectives on a c10d::Backend (ProcessGroup became a dispatcher over backends);
// in 1.13 ProcessGroupGloo itself is the ProcessGroup.
#if ADEPT_TORCH_AT_LEAST(2, 0)
using CollectiveBackend = c10d::Backend;
#else
using CollectiveBackend = c10d::ProcessGroup;
#endif
#endif

std::string describe(const char *what, const std::string &message) { return std::string(what) + ": " + message; }

}  // namespace

struct at_process_group_s {
    int rank = 0;
    int size = 1;
    int64_t timeout_ms = 0;
    bool cuda = false;
#if defined(ADEPT_WITH_GLOO)
    c10::intrusive_ptr<c10d::Store> store;          // rank 0 serves it; kept for the group's lifetime
    c10::intrusive_ptr<CollectiveBackend> backend;  // destroyed before the store (it may still talk to it)
#endif
};

struct at_work_s {
    std::string what;
    int64_t timeout_ms = 0;
#if defined(ADEPT_WITH_GLOO)
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
#endif
    std::vector<at::Tensor> divide_on_wait;  // AVG: divided by divisor once the sums are in
    int divisor = 1;
    bool waited = false;
};

namespace {

#if defined(ADEPT_WITH_GLOO)
std::string peer_failure(int64_t timeout_ms, const std::string &message) {
    return describe("all-reduce", std::string("failed (a peer process is gone, or none answered within ") + std::to_string(timeout_ms) +
                                      " ms): " + message);
}

// The state of a gradient reducer, shared with its hooks through weak pointers (a hook outliving the
// reducer finds it gone and does nothing). Every field below the mutex is guarded by it: on CUDA the
// hooks run on autograd's device threads.
struct ReducerCore {
    struct Bucket {
        at::Tensor buffer;            // flat, the outputs' dtype
        std::vector<size_t> members;  // tensor indices, in reverse parameter order
        size_t pending = 0;           // members without their gradient in this pass
        c10::intrusive_ptr<c10d::Work> work;
    };

    c10::intrusive_ptr<CollectiveBackend> backend;  // kept alive while buckets may be in flight
    int world_size = 1;
    int64_t timeout_ms = 0;
    std::vector<at::Tensor> params;
    std::vector<at::Tensor> outputs;
    std::vector<size_t> bucket_of;
    std::vector<int64_t> offset_in_bucket;
    std::vector<Bucket> buckets;

    std::mutex mutex;
    bool armed = false;          // the next backward reduces
    std::vector<char> ready;     // per tensor, this pass
    size_t next_launch = 0;      // the first bucket not launched yet
    std::string pass_error;      // the first failure inside a hook (reported by finish)
    std::string failed;          // set once the reducer is unusable
    int64_t launched_in_hooks = 0;
    int64_t launched_at_finish = 0;

    at::Tensor slice(size_t i) const {
        return buckets[bucket_of[i]].buffer.narrow(0, offset_in_bucket[i], params[i].numel());
    }

    // Copies tensor i's gradient into its bucket (zero when it has none); the caller holds the mutex.
    void collect(size_t i) {
        at::NoGradGuard no_grad;
        at::Tensor into = slice(i);
        const at::Tensor &grad = params[i].grad();
        if (grad.defined()) into.view(grad.sizes()).copy_(grad);
        else into.zero_();
        ready[i] = 1;
        buckets[bucket_of[i]].pending--;
    }

    // Starts every ready bucket at the front of the launch order; the caller holds the mutex.
    void launch_ready(bool in_hook) {
        while (next_launch < buckets.size() && buckets[next_launch].pending == 0) {
            Bucket &b = buckets[next_launch];
            c10d::AllreduceOptions options;
            options.reduceOp = c10d::ReduceOp::SUM;  // Gloo has no AVG: divided in finish, as at_work_wait does
            std::vector<at::Tensor> one{b.buffer};
            b.work = backend->allreduce(one, options);
            next_launch++;
            (in_hook ? launched_in_hooks : launched_at_finish)++;
        }
    }

    // The accumulator's post-hook: tensor i's gradient for this backward is complete.
    void on_gradient(size_t i) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!armed || !failed.empty() || !pass_error.empty()) return;
        if (ready[i]) {
            pass_error = "tensor " + std::to_string(i) + " got its gradient twice in one reduced backward (call prepare before each backward)";
            return;
        }
        // Never throw into the autograd engine: the first failure is kept for finish to report.
        try {
            collect(i);
            launch_ready(true);
        } catch (const c10::Error &e) {
            pass_error = peer_failure(timeout_ms, e.what_without_backtrace());
        } catch (const std::exception &e) {
            pass_error = peer_failure(timeout_ms, e.what());
        }
    }

    void check_usable(const char *what) const {
        if (!failed.empty()) throw std::runtime_error(std::string(what) + ": the gradient reducer failed earlier: " + failed);
    }

    void prepare(bool reduce) {
        std::lock_guard<std::mutex> lock(mutex);
        check_usable("prepare");
        if (armed) throw std::runtime_error("prepare: the previous reduced backward was not finished (call finish after it)");
        if (!reduce) return;
        std::fill(ready.begin(), ready.end(), 0);
        for (auto &b : buckets) {
            b.pending = b.members.size();
            b.work.reset();
        }
        next_launch = 0;
        pass_error.clear();
        armed = true;
    }

    void finish() {
        std::lock_guard<std::mutex> lock(mutex);
        check_usable("finish");
        if (!armed) throw std::runtime_error("finish: no reduced backward to finish (call prepare(reduce) before the last backward)");
        armed = false;
        try {
            if (!pass_error.empty()) throw std::runtime_error(pass_error);
            for (size_t b = next_launch; b < buckets.size(); b++)
                for (size_t i : buckets[b].members)
                    if (!ready[i]) collect(i);
            try {
                launch_ready(false);
            } catch (const c10::Error &e) {
                throw std::runtime_error(peer_failure(timeout_ms, e.what_without_backtrace()));
            } catch (const std::exception &e) {
                throw std::runtime_error(peer_failure(timeout_ms, e.what()));
            }
            for (auto &b : buckets) {
                try {
                    b.work->wait();
                } catch (const c10::Error &e) {
                    throw std::runtime_error(peer_failure(timeout_ms, e.what_without_backtrace()));
                } catch (const std::exception &e) {
                    throw std::runtime_error(peer_failure(timeout_ms, e.what()));
                }
                b.work.reset();
            }
            at::NoGradGuard no_grad;
            for (auto &b : buckets) b.buffer.div_(world_size);  // the same division as at_work_wait's AVG
            for (size_t i = 0; i < params.size(); i++) outputs[i].view({-1}).copy_(slice(i));
        } catch (const std::exception &e) {
            failed = e.what();
            throw;
        }
    }
};

// A post-hook on a leaf's gradient accumulator (the same signature in libtorch 1.13 and 2.x).
class GradientReadyHook : public torch::autograd::FunctionPostHook {
  public:
    GradientReadyHook(std::weak_ptr<ReducerCore> core, size_t index) : core_(std::move(core)), index_(index) {}

    torch::autograd::variable_list operator()(const torch::autograd::variable_list &outputs,
                                              const torch::autograd::variable_list & /* inputs */) override {
        if (auto core = core_.lock()) core->on_gradient(index_);
        return outputs;
    }

  private:
    std::weak_ptr<ReducerCore> core_;
    size_t index_;
};
#endif

}  // namespace

struct at_grad_reducer_s {
#if defined(ADEPT_WITH_GLOO)
    std::shared_ptr<ReducerCore> core;
    std::vector<std::shared_ptr<torch::autograd::Node>> accumulators;  // the hooks live in them: kept alive here
    std::vector<uintptr_t> hook_keys;

    ~at_grad_reducer_s() {
        for (size_t i = 0; i < accumulators.size() && i < hook_keys.size(); i++) accumulators[i]->del_post_hook(hook_keys[i]);
    }
#endif
};

namespace {

adept_internal::HandleRegistry<at_process_group_s> &groups() {
    static auto *registry = new adept_internal::HandleRegistry<at_process_group_s>("process group");  // never destroyed
    return *registry;
}

adept_internal::HandleRegistry<at_work_s> &works() {
    static auto *registry = new adept_internal::HandleRegistry<at_work_s>("work");
    return *registry;
}

adept_internal::HandleRegistry<at_grad_reducer_s> &reducers() {
    static auto *registry = new adept_internal::HandleRegistry<at_grad_reducer_s>("gradient reducer");
    return *registry;
}

at_process_group_s &group_of(at_process_group pg) { return groups().get(pg); }

// at_*_free of a dist handle: 0 for NULL or done; a stale or invalid handle goes to the error channel as
// "<fn>: stale or invalid <what> handle" with -1. Destruction errors are swallowed: shutting down, nothing to report to.
template <typename T>
int free_handle(adept_internal::HandleRegistry<T> &registry, const void *handle, const char *message) {
    if (handle == nullptr) return 0;
    std::unique_ptr<T> freed = registry.take(handle);
    if (!freed) {
        adept_internal::report_error(message);
        return -1;
    }
    live_dist_handles.fetch_sub(1, std::memory_order_relaxed);
    try {
        freed.reset();
    } catch (...) {
    }
    return 0;
}

at_work_s &work_of(at_work w) { return works().get(w); }

at_work register_work(std::unique_ptr<at_work_s> w) {
    live_dist_handles.fetch_add(1, std::memory_order_relaxed);
    return static_cast<at_work>(works().add(std::move(w)));
}

std::vector<at::Tensor> collective_tensors(const at_process_group_s &g, const at_tensor *ts, int n, const char *what) {
    if (n < 0) throw std::invalid_argument(std::string(what) + ": negative tensor count");
    if (n > 0 && ts == nullptr) throw std::invalid_argument(std::string(what) + ": null tensor list");
    std::vector<at::Tensor> out;
    out.reserve(n);
    for (int i = 0; i < n; i++) {
        const at::Tensor &t = adept_internal::unwrap(ts[i]);
        // Gloo reads and writes the raw storage: a strided view would be reduced in the wrong places.
        if (!t.is_contiguous()) throw std::invalid_argument(std::string(what) + ": tensor " + std::to_string(i) + " is not contiguous");
        if (t.is_cuda() != g.cuda)
            throw std::invalid_argument(std::string(what) + ": tensor " + std::to_string(i) + " is on " + t.device().str() + ", the group on " +
                                        (g.cuda ? "cuda" : "cpu"));
        out.push_back(t);
    }
    return out;
}

#if defined(ADEPT_WITH_GLOO)
bool is_loopback(const std::string &host) {
    return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

std::shared_ptr<::gloo::transport::Device> gloo_device(const std::string &master, const char *interface) {
    if (interface != nullptr && interface[0] != '\0') return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
    // All ranks on this host (adept train --nproc): loopback always works, whatever the hostname resolves to.
    if (is_loopback(master)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
    return c10d::ProcessGroupGloo::createDefaultDevice();
}

c10::intrusive_ptr<CollectiveBackend> make_backend(int backend, const c10::intrusive_ptr<c10d::Store> &store, int rank, int size,
                                                   const std::string &master, const char *interface, std::chrono::milliseconds timeout) {
    if (backend == AT_DIST_GLOO) {
        auto options = c10d::ProcessGroupGloo::Options::create(timeout);
        options->devices.push_back(gloo_device(master, interface));
        return c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, options);
    }
#if defined(ADEPT_WITH_NCCL)
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = timeout;
    return c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, options);
#else
    throw std::invalid_argument("backend nccl needs a CUDA build of the shim with NCCL (this one has gloo only: use gloo)");
#endif
}
#endif

std::unique_ptr<at_work_s> new_work(std::string what, int64_t timeout_ms) {
    auto w = std::make_unique<at_work_s>();
    w->what = std::move(what);
    w->timeout_ms = timeout_ms;
    return w;
}

#if !defined(ADEPT_WITH_GLOO)
[[noreturn]] void no_gloo() {
    throw std::runtime_error("this shim was built without Gloo headers (install libgloo-dev and rerun native/build.sh): "
                             "no process groups");
}
#endif

}  // namespace

extern "C" {
#pragma GCC visibility push(default)

int at_dist_has_backend(int backend) {
#if defined(ADEPT_WITH_GLOO)
    if (backend == AT_DIST_GLOO) return 1;
#if defined(ADEPT_WITH_NCCL)
    if (backend == AT_DIST_NCCL) return 1;
#endif
#endif
    return 0;
}

at_process_group at_pg_new(int backend, const char *master_addr, int master_port, int rank, int world_size,
                           const char *network_interface, int64_t timeout_ms, const char *agent_store_prefix) {
    GUARD_BEGIN
    if (backend != AT_DIST_GLOO && backend != AT_DIST_NCCL) throw std::invalid_argument("unknown backend " + std::to_string(backend));
    if (master_addr == nullptr || master_addr[0] == '\0') throw std::invalid_argument("empty master address");
    if (master_port < 1 || master_port > 65535) throw std::invalid_argument("master port " + std::to_string(master_port) + " is not in 1..65535");
    if (world_size < 1) throw std::invalid_argument("world size " + std::to_string(world_size) + " is below 1");
    if (rank < 0 || rank >= world_size)
        throw std::invalid_argument("rank " + std::to_string(rank) + " is not in 0.." + std::to_string(world_size - 1));
    if (timeout_ms < 1) throw std::invalid_argument("timeout " + std::to_string(timeout_ms) + " ms is below 1 ms");
#if defined(ADEPT_WITH_GLOO)
    if (backend == AT_DIST_NCCL && !torch::cuda::is_available()) throw std::invalid_argument("backend nccl needs a CUDA device; libtorch sees none");
    std::string master(master_addr);
    std::chrono::milliseconds timeout(timeout_ms);
    std::string where = master + ":" + std::to_string(master_port) + " as rank " + std::to_string(rank) + " of " + std::to_string(world_size);
    auto g = std::make_unique<at_process_group_s>();
    g->rank = rank;
    g->size = world_size;
    g->timeout_ms = timeout_ms;
    g->cuda = backend == AT_DIST_NCCL;
    // torchrun's agent already serves a store at the master port: every rank is its client, keys under a prefix per attempt
    bool agent_store = agent_store_prefix != nullptr && agent_store_prefix[0] != '\0';
    // A foreign server on the port can make the store client throw on c10d's own background thread (a garbage length
    // read as std::length_error or std::bad_alloc), where no catch here sees it and the process would abort: while a
    // rendezvous is under way, std::terminate prints one line naming it and exits 2 instead.
    static std::mutex joining_lock;
    static std::string joining;  // the rendezvous under way; empty when none
    static std::terminate_handler before = nullptr;
    static std::once_flag install_once;
    std::call_once(install_once, [] {
        before = std::set_terminate([] {
            std::string what = "an unreadable reply";
            if (std::exception_ptr e = std::current_exception()) {
                try {
                    std::rethrow_exception(e);
                } catch (const c10::Error &x) {
                    what = x.what_without_backtrace();
                } catch (const std::exception &x) {
                    what = x.what();
                } catch (...) {
                }
            }
            std::string line;
            if (joining_lock.try_lock()) {
                line = joining;
                joining_lock.unlock();
            }
            if (line.empty()) {
                if (before != nullptr) before();
                std::abort();
            }
            std::replace(what.begin(), what.end(), '\n', ' ');
            std::fprintf(stderr, "adept: %s failed: the server at MASTER_ADDR:MASTER_PORT is not a c10d store (%s); is another program listening on that port?\n",
                         line.c_str(), what.c_str());
            std::fflush(stderr);
            std::_Exit(2);
        });
    });
    // Cleared only when the join succeeds: after a failed one the store client's background thread may still be reading
    // the foreign server's bytes (and throw after the error was reported here).
    struct Joining {
        std::string what;
        bool joined = false;
        explicit Joining(std::string w) : what(std::move(w)) {
            std::lock_guard<std::mutex> hold(joining_lock);
            joining = what;
        }
        ~Joining() {
            std::lock_guard<std::mutex> hold(joining_lock);
            if (joined && joining == what) joining.clear();
        }
    } joining_now("rendezvous at " + where);
    try {
        c10d::TCPStoreOptions store_options;
        store_options.port = static_cast<std::uint16_t>(master_port);
        store_options.isServer = rank == 0 && !agent_store;
        store_options.numWorkers = static_cast<std::size_t>(world_size);
        store_options.waitWorkers = !agent_store;  // rank 0 returns only when every rank has reached the store
        store_options.timeout = timeout;
#if ADEPT_TORCH_AT_LEAST(2, 4)
        store_options.useLibUV = false;    // the libuv server is optional in libtorch builds; the classic one is always there
#endif
        c10::intrusive_ptr<c10d::Store> tcp = c10::make_intrusive<c10d::TCPStore>(master, store_options);
        if (agent_store) g->store = c10::make_intrusive<c10d::PrefixStore>(agent_store_prefix, tcp);
        else g->store = tcp;
    } catch (const c10::Error &e) {
        throw std::runtime_error("rendezvous at " + where + " failed within " + std::to_string(timeout_ms) + " ms: " +
                                 e.what_without_backtrace());
    } catch (const std::exception &e) {
        throw std::runtime_error("rendezvous at " + where + " failed within " + std::to_string(timeout_ms) + " ms: " + e.what());
    }
    // The backend's own connections (Gloo: a full mesh, addresses swapped through the store) finish the rendezvous.
    try {
        g->backend = make_backend(backend, g->store, rank, world_size, master, network_interface, timeout);
    } catch (const c10::Error &e) {
        throw std::runtime_error("rendezvous at " + where + " failed within " + std::to_string(timeout_ms) + " ms (connecting the ranks): " +
                                 e.what_without_backtrace());
    } catch (const std::invalid_argument &) {
        throw;
    } catch (const std::exception &e) {
        throw std::runtime_error("rendezvous at " + where + " failed within " + std::to_string(timeout_ms) + " ms (connecting the ranks): " +
                                 e.what());
    }
    live_dist_handles.fetch_add(1, std::memory_order_relaxed);
    joining_now.joined = true;
    return static_cast<at_process_group>(groups().add(std::move(g)));
#else
    no_gloo();
#endif
    GUARD_END(nullptr)
}

int at_pg_rank(at_process_group pg) {
    GUARD_BEGIN
    return group_of(pg).rank;
    GUARD_END(-1)
}

int at_pg_size(at_process_group pg) {
    GUARD_BEGIN
    return group_of(pg).size;
    GUARD_END(-1)
}

at_work at_pg_allreduce(at_process_group pg, const at_tensor *ts, int n, int op) {
    GUARD_BEGIN
    at_process_group_s &g = group_of(pg);
    if (op != AT_DIST_SUM && op != AT_DIST_AVG) throw std::invalid_argument("unknown reduction " + std::to_string(op));
    auto tensors = collective_tensors(g, ts, n, "all-reduce");
    if (op == AT_DIST_AVG) {
        for (const auto &t : tensors)
            if (!at::isFloatingType(t.scalar_type())) throw std::invalid_argument("all-reduce avg needs floating-point tensors");
    }
#if defined(ADEPT_WITH_GLOO)
    std::unique_ptr<at_work_s> w = new_work("all-reduce", g.timeout_ms);
    // One collective per tensor: c10d's list form means "one tensor per device", all of one shape.
    // Gloo has no AVG: sum, then divide on wait.
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::SUM;
    for (auto &t : tensors) {
        std::vector<at::Tensor> one{t};
        w->works.push_back(g.backend->allreduce(one, options));
    }
    if (op == AT_DIST_AVG) {
        w->divide_on_wait = tensors;
        w->divisor = g.size;
    }
    return register_work(std::move(w));
#else
    no_gloo();
#endif
    GUARD_END(nullptr)
}

at_work at_pg_broadcast(at_process_group pg, const at_tensor *ts, int n, int root) {
    GUARD_BEGIN
    at_process_group_s &g = group_of(pg);
    if (root < 0 || root >= g.size) throw std::invalid_argument("broadcast root " + std::to_string(root) + " is not a rank of " + std::to_string(g.size));
    auto tensors = collective_tensors(g, ts, n, "broadcast");
#if defined(ADEPT_WITH_GLOO)
    std::unique_ptr<at_work_s> w = new_work("broadcast", g.timeout_ms);
    c10d::BroadcastOptions options;
    options.rootRank = root;
    options.rootTensor = 0;
    for (auto &t : tensors) {
        std::vector<at::Tensor> one{t};
        w->works.push_back(g.backend->broadcast(one, options));
    }
    return register_work(std::move(w));
#else
    no_gloo();
#endif
    GUARD_END(nullptr)
}

at_work at_pg_barrier(at_process_group pg) {
    GUARD_BEGIN
    at_process_group_s &g = group_of(pg);
#if defined(ADEPT_WITH_GLOO)
    std::unique_ptr<at_work_s> w = new_work("barrier", g.timeout_ms);
    c10d::BarrierOptions options;
    options.timeout = std::chrono::milliseconds(g.timeout_ms);
    w->works.push_back(g.backend->barrier(options));
    return register_work(std::move(w));
#else
    (void)g;
    no_gloo();
#endif
    GUARD_END(nullptr)
}

int at_work_wait(at_work work) {
    GUARD_BEGIN
    at_work_s &w = work_of(work);
    if (w.waited) return 0;
#if defined(ADEPT_WITH_GLOO)
    try {
        for (auto &one : w.works) one->wait();
    } catch (const c10::Error &e) {
        throw std::runtime_error(describe(w.what.c_str(), std::string("failed (a peer process is gone, or none answered within ") +
                                                              std::to_string(w.timeout_ms) + " ms): " + e.what_without_backtrace()));
    } catch (const std::exception &e) {
        throw std::runtime_error(describe(w.what.c_str(), std::string("failed (a peer process is gone, or none answered within ") +
                                                              std::to_string(w.timeout_ms) + " ms): " + e.what()));
    }
#endif
    for (auto &t : w.divide_on_wait) t.div_(w.divisor);
    w.waited = true;
    return 0;
    GUARD_END(-1)
}

int at_work_free(at_work work) {
    // an unwaited collective keeps its tensors alive inside c10d until it ends
    return free_handle(works(), work, "at_work_free: stale or invalid work handle");
}

int at_pg_free(at_process_group pg) {
    // the backend goes first (member order), joining Gloo's worker threads: a pending collective ends by its timeout at most
    return free_handle(groups(), pg, "at_pg_free: stale or invalid process group handle");
}

int64_t at_dist_live_handles(void) { return live_dist_handles.load(std::memory_order_relaxed); }

at_grad_reducer at_reducer_new(at_process_group pg, const at_tensor *params, const at_tensor *outputs, int n, int64_t bucket_bytes) {
    GUARD_BEGIN
    at_process_group_s &g = group_of(pg);
    if (n < 1) throw std::invalid_argument("gradient reducer: no tensors");
    if (params == nullptr || outputs == nullptr) throw std::invalid_argument("gradient reducer: null tensor list");
    if (bucket_bytes < 1) throw std::invalid_argument("gradient reducer: bucket size " + std::to_string(bucket_bytes) + " bytes is below 1");
#if defined(ADEPT_WITH_GLOO)
    auto core = std::make_shared<ReducerCore>();
    core->backend = g.backend;
    core->world_size = g.size;
    core->timeout_ms = g.timeout_ms;
    std::unordered_set<const void *> seen;
    for (int i = 0; i < n; i++) {
        const at::Tensor &p = adept_internal::unwrap(params[i]);
        const at::Tensor &o = adept_internal::unwrap(outputs[i]);
        std::string which = "gradient reducer: tensor " + std::to_string(i);
        if (!p.is_leaf() || !p.requires_grad()) throw std::invalid_argument(which + " is not a leaf that requires grad");
        if (!seen.insert(p.unsafeGetTensorImpl()).second) throw std::invalid_argument(which + " is listed twice");
        if (o.numel() != p.numel())
            throw std::invalid_argument(which + " has " + std::to_string(p.numel()) + " elements, its output " + std::to_string(o.numel()));
        if (!at::isFloatingType(o.scalar_type())) throw std::invalid_argument(which + ": outputs must be floating-point");
        if (!o.is_contiguous()) throw std::invalid_argument(which + ": its output is not contiguous");
        if (i > 0 && o.scalar_type() != core->outputs[0].scalar_type()) throw std::invalid_argument(which + ": the outputs differ in dtype");
        if (p.is_cuda() != g.cuda || o.is_cuda() != g.cuda)
            throw std::invalid_argument(which + " or its output is not on the group's device (" + (g.cuda ? "cuda" : "cpu") + ")");
        core->params.push_back(p);
        core->outputs.push_back(o);
    }
    // Buckets in reverse parameter order, each closed before it would pass bucket_bytes (a larger tensor is one bucket).
    const int64_t element_bytes = static_cast<int64_t>(core->outputs[0].element_size());
    core->bucket_of.assign(n, 0);
    core->offset_in_bucket.assign(n, 0);
    std::vector<int64_t> elements;
    for (int i = n - 1; i >= 0; i--) {
        int64_t numel = core->params[i].numel();
        if (core->buckets.empty() || (elements.back() > 0 && (elements.back() + numel) * element_bytes > bucket_bytes)) {
            core->buckets.emplace_back();
            elements.push_back(0);
        }
        core->bucket_of[i] = core->buckets.size() - 1;
        core->offset_in_bucket[i] = elements.back();
        core->buckets.back().members.push_back(static_cast<size_t>(i));
        elements.back() += numel;
    }
    for (size_t b = 0; b < core->buckets.size(); b++) core->buckets[b].buffer = at::zeros({elements[b]}, core->outputs[0].options());
    core->ready.assign(n, 0);
    auto r = std::make_unique<at_grad_reducer_s>();
    r->core = core;
    for (int i = 0; i < n; i++) {
        std::shared_ptr<torch::autograd::Node> accumulator = torch::autograd::impl::grad_accumulator(core->params[i]);
        if (!accumulator) throw std::invalid_argument("gradient reducer: tensor " + std::to_string(i) + " has no gradient accumulator");
        uintptr_t key = accumulator->add_post_hook(std::make_unique<GradientReadyHook>(core, static_cast<size_t>(i)));
        r->accumulators.push_back(accumulator);
        r->hook_keys.push_back(key);
    }
    live_dist_handles.fetch_add(1, std::memory_order_relaxed);
    return static_cast<at_grad_reducer>(reducers().add(std::move(r)));
#else
    (void)g;
    no_gloo();
#endif
    GUARD_END(nullptr)
}

int at_reducer_prepare(at_grad_reducer r, int reduce) {
    GUARD_BEGIN
    at_grad_reducer_s &reducer = reducers().get(r);
#if defined(ADEPT_WITH_GLOO)
    reducer.core->prepare(reduce != 0);
    return 0;
#else
    (void)reducer;
    no_gloo();
#endif
    GUARD_END(-1)
}

int at_reducer_finish(at_grad_reducer r) {
    GUARD_BEGIN
    at_grad_reducer_s &reducer = reducers().get(r);
#if defined(ADEPT_WITH_GLOO)
    reducer.core->finish();
    return 0;
#else
    (void)reducer;
    no_gloo();
#endif
    GUARD_END(-1)
}

int64_t at_reducer_launched(at_grad_reducer r, int during_backward) {
    GUARD_BEGIN
    at_grad_reducer_s &reducer = reducers().get(r);
#if defined(ADEPT_WITH_GLOO)
    std::lock_guard<std::mutex> lock(reducer.core->mutex);
    return during_backward != 0 ? reducer.core->launched_in_hooks : reducer.core->launched_at_finish;
#else
    (void)reducer;
    no_gloo();
#endif
    GUARD_END(-1)
}

int at_reducer_bucket_count(at_grad_reducer r) {
    GUARD_BEGIN
    at_grad_reducer_s &reducer = reducers().get(r);
#if defined(ADEPT_WITH_GLOO)
    return static_cast<int>(reducer.core->buckets.size());
#else
    (void)reducer;
    no_gloo();
#endif
    GUARD_END(-1)
}

int at_reducer_free(at_grad_reducer r) {
    // removes the hooks; buckets still in flight keep their buffers alive inside c10d
    return free_handle(reducers(), r, "at_reducer_free: stale or invalid gradient reducer handle");
}

#pragma GCC visibility pop
}  // extern "C"
