// adept_torch.cpp: C shim over libtorch's C++ API (see adept_torch.h for conventions).
// Every entry point catches all C++ exceptions and reports them on the per-thread
// error channel (GUARD_BEGIN/GUARD_END, adept_internal.hpp); nothing throws across the C boundary.
// The AdamW kernels are in adept_adamw.cpp, process groups in adept_dist.cpp.
#include "adept_internal.hpp"

#include <torch/torch.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <malloc.h>
#include <mutex>
#include <string>
#include <vector>

#if defined(ADEPT_WITH_CUDA)
#include <c10/cuda/CUDACachingAllocator.h>
#endif

using namespace adept_internal;

namespace {

c10::optional<at::Tensor> optional_tensor(at_tensor h) {
    if (h == nullptr) return c10::nullopt;
    return unwrap(h);
}

at::IntArrayRef shape(const int64_t *dims, int ndim) {
    if (ndim < 0) throw std::invalid_argument("negative number of dimensions");
    if (ndim > 0 && dims == nullptr) throw std::invalid_argument("null shape");
    return at::IntArrayRef(dims, static_cast<size_t>(ndim));
}

at::ScalarType scalar_type(int code) {
    switch (code) {
        case AT_UINT8: case AT_INT8: case AT_INT16: case AT_INT32: case AT_INT64:
        case AT_FLOAT16: case AT_FLOAT32: case AT_FLOAT64: case AT_BOOL: case AT_BFLOAT16:
            return static_cast<at::ScalarType>(code);
        default:
            throw std::invalid_argument("unsupported dtype code " + std::to_string(code));
    }
}

at::Device device(int type, int index) {
    switch (type) {
        case AT_DEVICE_CPU:
            if (index > 0) throw std::invalid_argument("cpu device index must be 0 or -1, got " + std::to_string(index));
            return at::Device(at::kCPU);
        case AT_DEVICE_CUDA: {
            if (!torch::cuda::is_available())
                throw std::invalid_argument("device cuda:" + std::to_string(index) +
                                            " requested but libtorch sees no CUDA device");
            int64_t count = static_cast<int64_t>(torch::cuda::device_count());
            if (index >= count)
                throw std::invalid_argument("device cuda:" + std::to_string(index) + " does not exist (" +
                                            std::to_string(count) + " CUDA devices)");
            return at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(index < 0 ? 0 : index));
        }
        default:
            throw std::invalid_argument("unknown device type " + std::to_string(type));
    }
}

at::TensorOptions options(int dtype, int device_type, int device_index) {
    return at::TensorOptions().dtype(scalar_type(dtype)).device(device(device_type, device_index));
}

std::string runtime_version() {
    // The library's own build configuration records its version ("TORCH_VERSION=x.y.z").
    std::string config = at::show_config();
    const std::string key = "TORCH_VERSION=";
    auto at = config.find(key);
    if (at == std::string::npos) return "unknown";
    auto end = config.find_first_of(", \n", at + key.size());
    return config.substr(at + key.size(), end - at - key.size());
}

void set_openblas_threads(int threads) {
    // libtorch's set_num_threads does not reach OpenBLAS's own pool; find it if loaded.
    static const char *libraries[] = {"libopenblas.so.0", "libblas.so.3", "libopenblas.so", nullptr};
    for (const char **name = libraries; *name != nullptr; ++name) {
        void *lib = dlopen(*name, RTLD_LAZY | RTLD_NOLOAD);
        if (lib == nullptr) continue;
        auto fn = reinterpret_cast<void (*)(int)>(dlsym(lib, "openblas_set_num_threads"));
        dlclose(lib);
        if (fn != nullptr) {
            fn(threads);
            return;
        }
    }
}

}  // namespace

#define RETURN_TENSOR(expr) GUARD_BEGIN return wrap(expr); GUARD_END(nullptr)
#define RETURN_STATUS(stmt) GUARD_BEGIN stmt; return 0; GUARD_END(-1)
#define T(h) unwrap(h)

namespace {
// True when autograd would record nothing for an op on these inputs.
template <typename... Tensors>
bool autograd_idle(const Tensors &...inputs) {
    return !at::GradMode::is_enabled() || !(inputs.requires_grad() || ...);
}
}  // namespace

// A functional (not view, not in-place) op: when autograd is idle, dispatch below its
// layers, which saves ~60 ns of a ~500 ns small op and changes no result.
#define RETURN_OP(expr, ...)                                 \
    GUARD_BEGIN                                              \
    if (autograd_idle(__VA_ARGS__)) {                        \
        at::AutoDispatchBelowADInplaceOrView below_autograd; \
        return wrap(expr);                                   \
    }                                                        \
    return wrap(expr);                                       \
    GUARD_END(nullptr)

// libtorch's own AdamW for the test-only entry points (at_test_*).
struct at_optimizer_s {
    std::unique_ptr<torch::optim::Optimizer> optimizer;
};

namespace {
HandleRegistry<at_optimizer_s> &optimizers() {
    static auto *registry = new HandleRegistry<at_optimizer_s>("optimizer");  // never destroyed
    return *registry;
}
}  // namespace

extern "C" {
#pragma GCC visibility push(default)

// ---- errors, runtime, configuration ----

const char *at_last_error(void) { return has_error ? last_error.c_str() : nullptr; }

void at_clear_error(void) {
    has_error = false;
    last_error.clear();
}

const char *at_compiled_version(void) {
    static const std::string v = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) +
                                 "." + std::to_string(TORCH_VERSION_PATCH);
    return v.c_str();
}

const char *at_runtime_version(void) {
    GUARD_BEGIN
    static const std::string v = runtime_version();
    return v.c_str();
    GUARD_END(nullptr)
}

// Whether the process environment already sets a glibc malloc parameter, either as its own variable
// (MALLOC_MMAP_THRESHOLD_) or in GLIBC_TUNABLES (glibc.malloc.mmap_threshold): glibc has applied it.
static bool malloc_param_set(const char *env_name, const char *tunable) {
    if (std::getenv(env_name) != nullptr) return true;
    const char *tunables = std::getenv("GLIBC_TUNABLES");
    return tunables != nullptr && std::strstr(tunables, tunable) != nullptr;
}

int at_init(void) {
    // Keep big activation buffers in the heap: otherwise glibc maps and unmaps them
    // every step (measured ~9x more page faults, a forward pass 34 ms -> 49 ms).
    // A value the environment sets wins, so allocator settings can be measured and chosen per run.
    if (!malloc_param_set("MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold="))
        mallopt(M_MMAP_THRESHOLD, 32 * 1024 * 1024);
    if (!malloc_param_set("MALLOC_TRIM_THRESHOLD_", "glibc.malloc.trim_threshold="))
        mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024);
    GUARD_BEGIN
    adept_internal::install_cpu_cache();
    return 0;
    GUARD_END(-1)
}

int at_set_num_threads(int threads) {
    GUARD_BEGIN
    if (threads < 1) throw std::invalid_argument("thread count must be >= 1, got " + std::to_string(threads));
    at::set_num_threads(threads);
    set_openblas_threads(threads);
    return 0;
    GUARD_END(-1)
}

int at_get_num_threads(void) { GUARD_BEGIN return at::get_num_threads(); GUARD_END(-1) }

int at_manual_seed(uint64_t seed) { RETURN_STATUS(torch::manual_seed(seed)) }

at_tensor at_cpu_rng_state(void) {
    GUARD_BEGIN
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    return wrap(gen.get_state());
    GUARD_END(nullptr)
}

int at_set_cpu_rng_state(at_tensor state) {
    GUARD_BEGIN
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(unwrap(state, "state"));
    return 0;
    GUARD_END(-1)
}

int64_t at_live_tensors(void) { return live_tensors.load(std::memory_order_relaxed); }

int at_cuda_is_available(void) { GUARD_BEGIN return torch::cuda::is_available() ? 1 : 0; GUARD_END(0) }

int at_cuda_device_count(void) { GUARD_BEGIN return static_cast<int>(torch::cuda::device_count()); GUARD_END(0) }

int at_cuda_synchronize(int device_index) {
    GUARD_BEGIN
    device(AT_DEVICE_CUDA, device_index);
    torch::cuda::synchronize(device_index < 0 ? -1 : device_index);
    return 0;
    GUARD_END(-1)
}

int64_t at_cuda_memory_allocated(int device_index) {
    GUARD_BEGIN
#if defined(ADEPT_WITH_CUDA)
    device(AT_DEVICE_CUDA, device_index);
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device_index < 0 ? 0 : device_index);
    return stats.allocated_bytes[0].current;
#else
    (void)device_index;
    return -1;
#endif
    GUARD_END(-1)
}

int64_t at_cuda_max_memory_allocated(int device_index) {
    GUARD_BEGIN
#if defined(ADEPT_WITH_CUDA)
    device(AT_DEVICE_CUDA, device_index);
    auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device_index < 0 ? 0 : device_index);
    return stats.allocated_bytes[0].peak;
#else
    (void)device_index;
    return -1;
#endif
    GUARD_END(-1)
}

// ---- handles and metadata ----

int at_free(at_tensor t) {
    GUARD_BEGIN
    if (t == nullptr) return 0;
    if (!tensor_handles().remove(reinterpret_cast<uintptr_t>(t))) throw std::invalid_argument("at_free: stale or invalid tensor handle");
    live_tensors.fetch_sub(1, std::memory_order_relaxed);
    return 0;
    GUARD_END(-1)
}

int at_defined(at_tensor t) { GUARD_BEGIN return T(t).defined() ? 1 : 0; GUARD_END(-1) }
int at_dim(at_tensor t) { GUARD_BEGIN return static_cast<int>(T(t).dim()); GUARD_END(-1) }
int64_t at_numel(at_tensor t) { GUARD_BEGIN return T(t).numel(); GUARD_END(-1) }

int at_sizes(at_tensor t, int64_t *out_dims) {
    GUARD_BEGIN
    auto sizes = T(t).sizes();
    std::copy(sizes.begin(), sizes.end(), out_dims);
    return 0;
    GUARD_END(-1)
}

int at_strides(at_tensor t, int64_t *out_strides) {
    GUARD_BEGIN
    auto strides = T(t).strides();
    std::copy(strides.begin(), strides.end(), out_strides);
    return 0;
    GUARD_END(-1)
}

int at_scalar_type(at_tensor t) { GUARD_BEGIN return static_cast<int>(T(t).scalar_type()); GUARD_END(-1) }

int at_device_type(at_tensor t) {
    GUARD_BEGIN
    auto type = T(t).device().type();
    if (type == at::kCPU) return AT_DEVICE_CPU;
    if (type == at::kCUDA) return AT_DEVICE_CUDA;
    throw std::invalid_argument(std::string("unsupported device ") + T(t).device().str());
    GUARD_END(-1)
}

int at_device_index(at_tensor t) {
    GUARD_BEGIN
    auto d = T(t).device();
    return d.has_index() ? d.index() : 0;
    GUARD_END(-1)
}

int at_is_contiguous(at_tensor t) { GUARD_BEGIN return T(t).is_contiguous() ? 1 : 0; GUARD_END(-1) }
int64_t at_element_size(at_tensor t) { GUARD_BEGIN return static_cast<int64_t>(T(t).element_size()); GUARD_END(-1) }

void *at_data_ptr(at_tensor t) {
    GUARD_BEGIN
    const auto &tensor = T(t);
    if (!tensor.defined()) throw std::invalid_argument("undefined tensor has no data");
    return tensor.data_ptr();
    GUARD_END(nullptr)
}

at_tensor at_shallow_clone(at_tensor t) { RETURN_TENSOR(T(t)) }

// ---- creation ----

at_tensor at_empty(const int64_t *dims, int ndim, int dtype, int dt, int di) {
    RETURN_TENSOR(at::empty(shape(dims, ndim), options(dtype, dt, di)))
}
at_tensor at_zeros(const int64_t *dims, int ndim, int dtype, int dt, int di) {
    RETURN_TENSOR(at::zeros(shape(dims, ndim), options(dtype, dt, di)))
}
at_tensor at_ones(const int64_t *dims, int ndim, int dtype, int dt, int di) {
    RETURN_TENSOR(at::ones(shape(dims, ndim), options(dtype, dt, di)))
}
at_tensor at_full(const int64_t *dims, int ndim, double value, int dtype, int dt, int di) {
    RETURN_TENSOR(at::full(shape(dims, ndim), value, options(dtype, dt, di)))
}
at_tensor at_arange(double start, double end, double step, int dtype, int dt, int di) {
    RETURN_TENSOR(at::arange(start, end, step, options(dtype, dt, di)))
}
at_tensor at_randn(const int64_t *dims, int ndim, int dtype, int dt, int di) {
    RETURN_TENSOR(at::randn(shape(dims, ndim), options(dtype, dt, di)))
}
at_tensor at_rand(const int64_t *dims, int ndim, int dtype, int dt, int di) {
    RETURN_TENSOR(at::rand(shape(dims, ndim), options(dtype, dt, di)))
}
at_tensor at_randint(int64_t low, int64_t high, const int64_t *dims, int ndim, int dtype, int dt, int di) {
    RETURN_TENSOR(at::randint(low, high, shape(dims, ndim), options(dtype, dt, di)))
}

at_tensor at_from_blob(void *data, const int64_t *dims, int ndim, const int64_t *strides, int dtype,
                       int dt, int di, at_release_fn release, void *context) {
    GUARD_BEGIN
    if (data == nullptr) throw std::invalid_argument("from_blob: null data pointer");
    auto opts = options(dtype, dt, di);
    auto sizes = shape(dims, ndim);
    std::function<void(void *)> deleter = [release, context](void *) {
        if (release != nullptr) release(context);
    };
    if (strides != nullptr) return wrap(at::from_blob(data, sizes, shape(strides, ndim), deleter, opts));
    return wrap(at::from_blob(data, sizes, deleter, opts));
    GUARD_END(nullptr)
}

at_tensor at_scalar_tensor(double value, int dtype, int dt, int di) {
    RETURN_TENSOR(at::scalar_tensor(value, options(dtype, dt, di)))
}

// ---- copies, dtype and device moves ----

at_tensor at_to(at_tensor t, int dtype, int dt, int di, int non_blocking) {
    RETURN_TENSOR(T(t).to(device(dt, di), scalar_type(dtype), non_blocking != 0))
}
at_tensor at_clone(at_tensor t) { RETURN_TENSOR(T(t).clone()) }
at_tensor at_detach(at_tensor t) { RETURN_TENSOR(T(t).detach()) }
at_tensor at_contiguous(at_tensor t) { RETURN_TENSOR(T(t).contiguous()) }
int at_copy_(at_tensor dst, at_tensor src) { RETURN_STATUS(T(dst).copy_(T(src))) }

int at_item(at_tensor t, double *out) {
    GUARD_BEGIN
    *out = T(t).item<double>();
    return 0;
    GUARD_END(-1)
}

// ---- views and layout ----

at_tensor at_reshape(at_tensor t, const int64_t *dims, int ndim) { RETURN_TENSOR(T(t).reshape(shape(dims, ndim))) }
at_tensor at_view(at_tensor t, const int64_t *dims, int ndim) { RETURN_TENSOR(T(t).view(shape(dims, ndim))) }
at_tensor at_transpose(at_tensor t, int64_t d0, int64_t d1) { RETURN_TENSOR(T(t).transpose(d0, d1)) }
at_tensor at_permute(at_tensor t, const int64_t *dims, int ndim) { RETURN_TENSOR(T(t).permute(shape(dims, ndim))) }
at_tensor at_narrow(at_tensor t, int64_t dim, int64_t start, int64_t length) {
    RETURN_TENSOR(T(t).narrow(dim, start, length))
}
at_tensor at_slice(at_tensor t, int64_t dim, int64_t start, int64_t end, int64_t step) {
    RETURN_TENSOR(T(t).slice(dim, start, end, step))
}
at_tensor at_select(at_tensor t, int64_t dim, int64_t index) { RETURN_TENSOR(T(t).select(dim, index)) }
at_tensor at_index_select(at_tensor t, int64_t dim, at_tensor index) {
    RETURN_TENSOR(T(t).index_select(dim, unwrap(index, "index")))
}
at_tensor at_gather(at_tensor t, int64_t dim, at_tensor index) { RETURN_TENSOR(T(t).gather(dim, unwrap(index, "index"))) }
at_tensor at_cat(const at_tensor *ts, int n, int64_t dim) { RETURN_TENSOR(at::cat(unwrap_list(ts, n), dim)) }
at_tensor at_stack(const at_tensor *ts, int n, int64_t dim) { RETURN_TENSOR(at::stack(unwrap_list(ts, n), dim)) }
at_tensor at_expand(at_tensor t, const int64_t *dims, int ndim) { RETURN_TENSOR(T(t).expand(shape(dims, ndim))) }
at_tensor at_unsqueeze(at_tensor t, int64_t dim) { RETURN_TENSOR(T(t).unsqueeze(dim)) }
at_tensor at_squeeze_dim(at_tensor t, int64_t dim) { RETURN_TENSOR(T(t).squeeze(dim)) }
at_tensor at_flatten(at_tensor t, int64_t start, int64_t end) { RETURN_TENSOR(T(t).flatten(start, end)) }
at_tensor at_repeat_interleave(at_tensor t, int64_t repeats, int64_t dim) {
    RETURN_TENSOR(T(t).repeat_interleave(repeats, dim))
}
at_tensor at_tril(at_tensor t, int64_t diagonal) { RETURN_TENSOR(T(t).tril(diagonal)) }
at_tensor at_triu(at_tensor t, int64_t diagonal) { RETURN_TENSOR(T(t).triu(diagonal)) }

// ---- elementwise binary ----

at_tensor at_add(at_tensor a, at_tensor b, double alpha) { RETURN_OP(at::add(T(a), T(b), alpha), T(a), T(b)) }
at_tensor at_sub(at_tensor a, at_tensor b, double alpha) { RETURN_OP(at::sub(T(a), T(b), alpha), T(a), T(b)) }
at_tensor at_mul(at_tensor a, at_tensor b) { RETURN_OP(at::mul(T(a), T(b)), T(a), T(b)) }
at_tensor at_div(at_tensor a, at_tensor b) { RETURN_OP(at::div(T(a), T(b)), T(a), T(b)) }
at_tensor at_pow(at_tensor a, at_tensor b) { RETURN_OP(at::pow(T(a), T(b)), T(a), T(b)) }
at_tensor at_maximum(at_tensor a, at_tensor b) { RETURN_OP(at::maximum(T(a), T(b)), T(a), T(b)) }
at_tensor at_minimum(at_tensor a, at_tensor b) { RETURN_OP(at::minimum(T(a), T(b)), T(a), T(b)) }
at_tensor at_add_scalar(at_tensor t, double v) { RETURN_OP(at::add(T(t), v), T(t)) }
at_tensor at_mul_scalar(at_tensor t, double v) { RETURN_OP(at::mul(T(t), v), T(t)) }
at_tensor at_div_scalar(at_tensor t, double v) { RETURN_OP(at::div(T(t), v), T(t)) }
at_tensor at_pow_scalar(at_tensor t, double e) { RETURN_OP(at::pow(T(t), e), T(t)) }
at_tensor at_clamp(at_tensor t, double lo, double hi) { RETURN_TENSOR(at::clamp(T(t), lo, hi)) }
at_tensor at_eq(at_tensor a, at_tensor b) { RETURN_TENSOR(at::eq(T(a), T(b))) }
at_tensor at_ne(at_tensor a, at_tensor b) { RETURN_TENSOR(at::ne(T(a), T(b))) }
at_tensor at_lt(at_tensor a, at_tensor b) { RETURN_TENSOR(at::lt(T(a), T(b))) }
at_tensor at_gt(at_tensor a, at_tensor b) { RETURN_TENSOR(at::gt(T(a), T(b))) }
at_tensor at_eq_scalar(at_tensor t, double v) { RETURN_TENSOR(at::eq(T(t), v)) }
at_tensor at_where(at_tensor c, at_tensor a, at_tensor b) { RETURN_TENSOR(at::where(T(c), T(a), T(b))) }
at_tensor at_masked_fill(at_tensor t, at_tensor mask, double v) { RETURN_TENSOR(T(t).masked_fill(T(mask), v)) }

// ---- elementwise unary ----

#define UNARY(name, expr) \
    at_tensor at_##name(at_tensor t) { RETURN_OP(expr(T(t)), T(t)) }
UNARY(neg, at::neg)
UNARY(abs, at::abs)
UNARY(exp, at::exp)
UNARY(log, at::log)
UNARY(sqrt, at::sqrt)
UNARY(rsqrt, at::rsqrt)
UNARY(square, at::square)
UNARY(reciprocal, at::reciprocal)
UNARY(sin, at::sin)
UNARY(cos, at::cos)
UNARY(tanh, at::tanh)
UNARY(sigmoid, at::sigmoid)
UNARY(relu, at::relu)
UNARY(silu, at::silu)
UNARY(gelu, at::gelu)
static at::Tensor gelu_tanh(const at::Tensor &t) { return at::gelu(t, "tanh"); }
UNARY(gelu_tanh, gelu_tanh)
UNARY(sign, at::sign)
#undef UNARY

// ---- linear algebra ----

at_tensor at_matmul(at_tensor a, at_tensor b) { RETURN_OP(at::matmul(T(a), T(b)), T(a), T(b)) }
at_tensor at_mm(at_tensor a, at_tensor b) { RETURN_OP(at::mm(T(a), T(b)), T(a), T(b)) }
at_tensor at_bmm(at_tensor a, at_tensor b) { RETURN_OP(at::bmm(T(a), T(b)), T(a), T(b)) }
at_tensor at_baddbmm(at_tensor self, at_tensor a, at_tensor b, double beta, double alpha) {
    RETURN_OP(at::baddbmm(T(self), T(a), T(b), beta, alpha), T(self), T(a), T(b))
}
at_tensor at_linear(at_tensor x, at_tensor w, at_tensor b) {
    RETURN_TENSOR(at::linear(T(x), unwrap(w, "weight"), optional_tensor(b)))
}
at_tensor at_outer(at_tensor a, at_tensor b) { RETURN_OP(at::outer(T(a), T(b)), T(a), T(b)) }

// ---- reductions ----

at_tensor at_sum(at_tensor t) { RETURN_OP(T(t).sum(), T(t)) }
at_tensor at_mean(at_tensor t) { RETURN_OP(T(t).mean(), T(t)) }
at_tensor at_sum_dims(at_tensor t, const int64_t *dims, int ndim, int keepdim) {
    RETURN_TENSOR(T(t).sum(shape(dims, ndim), keepdim != 0))
}
at_tensor at_mean_dims(at_tensor t, const int64_t *dims, int ndim, int keepdim) {
    RETURN_TENSOR(T(t).mean(shape(dims, ndim), keepdim != 0))
}
at_tensor at_amax(at_tensor t, int64_t dim, int keepdim) { RETURN_TENSOR(at::amax(T(t), {dim}, keepdim != 0)) }
at_tensor at_argmax(at_tensor t, int64_t dim, int keepdim) { RETURN_TENSOR(at::argmax(T(t), dim, keepdim != 0)) }
at_tensor at_logsumexp(at_tensor t, int64_t dim, int keepdim) { RETURN_TENSOR(at::logsumexp(T(t), {dim}, keepdim != 0)) }
at_tensor at_norm(at_tensor t, double p) { RETURN_TENSOR(at::norm(T(t), p)) }
at_tensor at_max_all(at_tensor t) { RETURN_TENSOR(T(t).max()) }
at_tensor at_min_all(at_tensor t) { RETURN_TENSOR(T(t).min()) }

// ---- neural-network functions ----

at_tensor at_softmax(at_tensor t, int64_t dim) { RETURN_OP(at::softmax(T(t), dim), T(t)) }
at_tensor at_log_softmax(at_tensor t, int64_t dim) { RETURN_OP(at::log_softmax(T(t), dim), T(t)) }
at_tensor at_embedding(at_tensor w, at_tensor idx) { RETURN_TENSOR(at::embedding(unwrap(w, "weight"), unwrap(idx, "indices"))) }

at_tensor at_causal_mask(int64_t n, int dt, int di) {
    RETURN_TENSOR(at::ones({n, n}, options(AT_BOOL, dt, di)).tril())
}

at_tensor at_cross_entropy(at_tensor logits, at_tensor targets, int64_t ignore_index, int reduction) {
    GUARD_BEGIN
    if (reduction < AT_REDUCTION_NONE || reduction > AT_REDUCTION_SUM)
        throw std::invalid_argument("unknown reduction " + std::to_string(reduction));
    // at::Reduction: None=0, Mean=1, Sum=2, as enum at_reduction.
    return wrap(adept_internal::cross_entropy(unwrap(logits, "logits"), unwrap(targets, "targets"), reduction, ignore_index));
    GUARD_END(nullptr)
}

at_tensor at_scaled_dot_product_attention(at_tensor q, at_tensor k, at_tensor v, at_tensor mask, int is_causal,
                                          double scale) {
    GUARD_BEGIN
    const auto &query = T(q);
    auto attn_mask = optional_tensor(mask);
#if ADEPT_TORCH_AT_LEAST(2, 1)
    c10::optional<double> s = scale > 0 ? c10::optional<double>(scale) : c10::nullopt;
    return wrap(at::scaled_dot_product_attention(query, T(k), T(v), attn_mask, 0.0, is_causal != 0, s));
#else
    // 1.13 has no public fused kernel on CPU and no scale argument: compose it.
    double s = scale > 0 ? scale : 1.0 / std::sqrt(static_cast<double>(query.size(-1)));
    auto scores = at::matmul(query, T(k).transpose(-2, -1)).mul(s);
    if (is_causal != 0) {
        auto n = scores.size(-2), m = scores.size(-1);
        auto keep = at::ones({n, m}, scores.options().dtype(at::kBool)).tril();
        scores = scores.masked_fill(keep.logical_not(), -std::numeric_limits<double>::infinity());
    }
    if (attn_mask.has_value()) {
        if (attn_mask->scalar_type() == at::kBool)
            scores = scores.masked_fill(attn_mask->logical_not(), -std::numeric_limits<double>::infinity());
        else
            scores = scores.add(*attn_mask);
    }
    return wrap(at::matmul(at::softmax(scores, -1), T(v)));
#endif
    GUARD_END(nullptr)
}

at_tensor at_dropout(at_tensor t, double p, int train) { RETURN_TENSOR(at::dropout(T(t), p, train != 0)) }

// ---- in-place ops ----

int at_add_(at_tensor t, at_tensor o, double alpha) { RETURN_STATUS(T(t).add_(T(o), alpha)) }
int at_mul_(at_tensor t, at_tensor o) { RETURN_STATUS(T(t).mul_(T(o))) }
int at_mul_scalar_(at_tensor t, double v) { RETURN_STATUS(T(t).mul_(v)) }
int at_add_scalar_(at_tensor t, double v) { RETURN_STATUS(T(t).add_(v)) }
int at_addcmul_(at_tensor t, at_tensor a, at_tensor b, double v) { RETURN_STATUS(T(t).addcmul_(T(a), T(b), v)) }
int at_addcdiv_(at_tensor t, at_tensor a, at_tensor b, double v) { RETURN_STATUS(T(t).addcdiv_(T(a), T(b), v)) }
int at_lerp_(at_tensor t, at_tensor end, double w) { RETURN_STATUS(T(t).lerp_(T(end), w)) }
int at_sqrt_(at_tensor t) { RETURN_STATUS(T(t).sqrt_()) }
int at_clamp_(at_tensor t, double lo, double hi) { RETURN_STATUS(T(t).clamp_(lo, hi)) }
int at_zero_(at_tensor t) { RETURN_STATUS(T(t).zero_()) }
int at_fill_(at_tensor t, double v) { RETURN_STATUS(T(t).fill_(v)) }

// ---- multi-tensor ops ----

namespace {
void check_same_count(const std::vector<at::Tensor> &a, const std::vector<at::Tensor> &b) {
    if (a.size() != b.size()) throw std::invalid_argument("tensor lists differ in length");
}
}  // namespace

int at_foreach_add_(const at_tensor *ts, const at_tensor *others, int n, double alpha) {
    RETURN_STATUS(at::_foreach_add_(unwrap_list(ts, n), unwrap_list(others, n), alpha))
}
int at_foreach_add_scalar_(const at_tensor *ts, int n, double v) { RETURN_STATUS(at::_foreach_add_(unwrap_list(ts, n), v)) }
int at_foreach_mul_scalar_(const at_tensor *ts, int n, double v) { RETURN_STATUS(at::_foreach_mul_(unwrap_list(ts, n), v)) }
int at_foreach_mul_(const at_tensor *ts, const at_tensor *others, int n) {
    RETURN_STATUS(at::_foreach_mul_(unwrap_list(ts, n), unwrap_list(others, n)))
}

int at_foreach_lerp_(const at_tensor *ts, const at_tensor *ends, int n, double w) {
    GUARD_BEGIN
    auto self = unwrap_list(ts, n);
    auto end = unwrap_list(ends, n);
    check_same_count(self, end);
#if ADEPT_TORCH_AT_LEAST(2, 0)
    at::_foreach_lerp_(self, end, w);
#else
    for (size_t i = 0; i < self.size(); i++) self[i].lerp_(end[i], w);  // 1.13 has no _foreach_lerp_
#endif
    return 0;
    GUARD_END(-1)
}

int at_foreach_addcmul_(const at_tensor *ts, const at_tensor *a, const at_tensor *b, int n, double v) {
    RETURN_STATUS(at::_foreach_addcmul_(unwrap_list(ts, n), unwrap_list(a, n), unwrap_list(b, n), v))
}
int at_foreach_addcdiv_(const at_tensor *ts, const at_tensor *a, const at_tensor *b, int n, double v) {
    RETURN_STATUS(at::_foreach_addcdiv_(unwrap_list(ts, n), unwrap_list(a, n), unwrap_list(b, n), v))
}
int at_foreach_zero_(const at_tensor *ts, int n) { RETURN_STATUS(at::_foreach_zero_(unwrap_list(ts, n))) }

int at_foreach_mul_tensor_(const at_tensor *ts, int n, at_tensor scalar) {
    GUARD_BEGIN
    auto self = unwrap_list(ts, n);
    const auto &factor = unwrap(scalar, "scalar");
    if (factor.numel() != 1) throw std::invalid_argument("foreach_mul_tensor_: scalar must have one element");
#if ADEPT_TORCH_AT_LEAST(2, 1)
    at::_foreach_mul_(self, factor);
#else
    for (auto &t : self) t.mul_(factor);  // 1.13 has no _foreach_mul_(TensorList, Tensor)
#endif
    return 0;
    GUARD_END(-1)
}

int at_foreach_sqrt(const at_tensor *ts, int n, at_tensor *out) {
    GUARD_BEGIN
    auto result = at::_foreach_sqrt(unwrap_list(ts, n));
    for (size_t i = 0; i < result.size(); i++) out[i] = wrap(std::move(result[i]));
    return 0;
    GUARD_END(-1)
}

int at_foreach_norm(const at_tensor *ts, int n, at_tensor *out) {
    GUARD_BEGIN
    auto result = at::_foreach_norm(unwrap_list(ts, n), 2);
    for (size_t i = 0; i < result.size(); i++) out[i] = wrap(std::move(result[i]));
    return 0;
    GUARD_END(-1)
}

// ---- autograd ----

int at_set_requires_grad(at_tensor t, int r) { RETURN_STATUS(T(t).set_requires_grad(r != 0)) }
int at_requires_grad(at_tensor t) { GUARD_BEGIN return T(t).requires_grad() ? 1 : 0; GUARD_END(-1) }
int at_is_leaf(at_tensor t) { GUARD_BEGIN return T(t).is_leaf() ? 1 : 0; GUARD_END(-1) }

int at_backward(at_tensor t, at_tensor grad_output, int retain_graph, int create_graph) {
    GUARD_BEGIN
    at::Tensor gradient = grad_output == nullptr ? at::Tensor() : unwrap(grad_output, "grad_output");
    T(t).backward(gradient, retain_graph != 0, create_graph != 0);
    return 0;
    GUARD_END(-1)
}

at_tensor at_grad(at_tensor t) {
    GUARD_BEGIN
    const auto &g = T(t).grad();
    return g.defined() ? wrap(g) : nullptr;
    GUARD_END(nullptr)
}

int at_set_data(at_tensor t, at_tensor data) {
    GUARD_BEGIN
    T(t).set_data(unwrap(data, "data"));
    return 0;
    GUARD_END(-1)
}

int at_set_grad(at_tensor t, at_tensor grad) {
    GUARD_BEGIN
    T(t).mutable_grad() = grad == nullptr ? at::Tensor() : unwrap(grad, "grad");
    return 0;
    GUARD_END(-1)
}

int at_autograd_grad(const at_tensor *outputs, int n_outputs, const at_tensor *grad_outputs, const at_tensor *inputs,
                     int n_inputs, at_tensor *out, int retain_graph, int create_graph, int allow_unused) {
    GUARD_BEGIN
    auto outs = unwrap_list(outputs, n_outputs);
    auto ins = unwrap_list(inputs, n_inputs);
    std::vector<at::Tensor> grads_out;
    if (grad_outputs != nullptr) grads_out = unwrap_list(grad_outputs, n_outputs);
    auto result = torch::autograd::grad(outs, ins, grads_out, retain_graph != 0, create_graph != 0, allow_unused != 0);
    for (size_t i = 0; i < result.size(); i++) out[i] = result[i].defined() ? wrap(std::move(result[i])) : nullptr;
    return 0;
    GUARD_END(-1)
}

int at_set_grad_enabled(int enabled) {
    bool previous = at::GradMode::is_enabled();
    at::GradMode::set_enabled(enabled != 0);
    return previous ? 1 : 0;
}

int at_is_grad_enabled(void) { return at::GradMode::is_enabled() ? 1 : 0; }

// ---- test-only: libtorch's own AdamW, the reference adept's optimizers are tested against ----

at_optimizer at_test_adamw_new(const at_tensor *params, int n, double lr, double beta1, double beta2, double eps,
                               double weight_decay) {
    GUARD_BEGIN
    auto options = torch::optim::AdamWOptions(lr).betas(std::make_tuple(beta1, beta2)).eps(eps).weight_decay(weight_decay);
    auto h = std::make_unique<at_optimizer_s>();
    h->optimizer = std::make_unique<torch::optim::AdamW>(unwrap_list(params, n), options);
    return static_cast<at_optimizer>(optimizers().add(std::move(h)));
    GUARD_END(nullptr)
}

int at_test_optimizer_step(at_optimizer optimizer) {
    GUARD_BEGIN
    optimizers().get(optimizer).optimizer->step();
    return 0;
    GUARD_END(-1)
}

int at_test_optimizer_set_lr(at_optimizer optimizer, double lr) {
    GUARD_BEGIN
    for (auto &group : optimizers().get(optimizer).optimizer->param_groups())
        static_cast<torch::optim::AdamWOptions &>(group.options()).lr(lr);
    return 0;
    GUARD_END(-1)
}

int at_test_optimizer_free(at_optimizer optimizer) {
    GUARD_BEGIN
    if (optimizer == nullptr) return 0;
    if (!optimizers().take(optimizer)) throw std::invalid_argument("at_test_optimizer_free: stale or invalid optimizer handle");
    return 0;
    GUARD_END(-1)
}

#pragma GCC visibility pop
}  // extern "C"
