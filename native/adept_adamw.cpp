// adept_adamw.cpp: the AdamW kernels of the shim (see adept_torch.h): libtorch's fused one where the
// version has it, and adept's one-pass split-rate AdamW over flat CPU tensors.
#include "adept_internal.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

using adept_internal::unwrap;
using adept_internal::unwrap_list;

// ---- one-pass split-rate AdamW on the CPU (at_adamw_flat_step_) ----
//
// The loops are written for GCC's auto-vectoriser over plain arrays: build.sh compiles at -O2, whose
// vectoriser takes only loops with no remainder, so these functions ask for -O3's. sqrt vectorises
// only without errno: build.sh passes -fno-math-errno (as an attribute it does not reach the builtin).
// fp-contract=off keeps the rounding of each + and * separate, as in torch's own kernels (no fused
// multiply-add is formed, whatever -march).
#if defined(__GNUC__) && !defined(__clang__)
#define ADEPT_VECTORISED __attribute__((optimize("O3", "fp-contract=off")))
#else
#define ADEPT_VECTORISED
#endif

namespace {

// Elements per block: a block's bias corrections are hoisted when its active elements share a step.
constexpr int64_t kAdamWBlock = 1024;

template <typename scalar_t>
struct FlatAdamW {
    scalar_t *p;
    const scalar_t *g;
    scalar_t *m;
    scalar_t *v;
    const scalar_t *r;      // nullptr: every rate multiplier 1
    const uint8_t *frozen;  // bool as bytes; nullptr: none frozen
    double *steps;          // nullptr: every element at uniform_step
    int64_t decayed;
    scalar_t clip;
    double lr, beta1, beta2, uniform_step;
    scalar_t lr_wd;
    scalar_t one_minus_beta1, beta2_s, one_minus_beta2, eps;
};

// Frozen elements are kept by bit masks of the element's width (all ones: frozen), made per block from
// the bool bytes: a plain ?: on a stored value becomes a conditional store, which the vectoriser takes
// only with masked stores (AVX), not with build.sh's baseline SSE2, and byte flags next to float lanes
// keep it from vectorising at all.
template <typename T>
struct SameSizeUnsigned;
template <>
struct SameSizeUnsigned<float> { using type = uint32_t; };
template <>
struct SameSizeUnsigned<double> { using type = uint64_t; };

// keep_old (all ones) ? old_value : new_value (keep_old 0).
template <typename T>
inline T pick(typename SameSizeUnsigned<T>::type keep_old, T old_value, T new_value) {
    using U = typename SameSizeUnsigned<T>::type;
    U a, b;
    std::memcpy(&a, &old_value, sizeof(T));
    std::memcpy(&b, &new_value, sizeof(T));
    const U c = (a & keep_old) | (b & ~keep_old);
    T out;
    std::memcpy(&out, &c, sizeof(T));
    return out;
}

// Elements [i0, i1) of one block. The bias corrections come as scalars (lr_over_bias1 = lr / bias1,
// bias2_sqrt = sqrt(bias2), each computed in double and rounded once) or, PerElement, as arrays indexed
// from i0; Frozen: frozen_at, the block's masks, indexed from i0 too; Rated: k.r holds the rate multipliers (else
// every r is 1, and 1 * x is x exactly: the same bits). Per element, as torch's single-tensor AdamW: p.mul_(1 - lr r wd);
// m.lerp_(g, 1 - beta1); v.mul_(beta2).addcmul_(g, g, 1 - beta2); p.addcdiv_(m, sqrt(v) / sqrt(bias2) + eps, -lr r / bias1).
template <typename scalar_t, bool Frozen, bool PerElement, bool Rated>
ADEPT_VECTORISED void adamw_span(const FlatAdamW<scalar_t> &k, int64_t i0, int64_t i1, scalar_t lr_wd, scalar_t lr_over_bias1,
                                 scalar_t bias2_sqrt, const scalar_t *__restrict lr_over_bias1_at,
                                 const scalar_t *__restrict bias2_sqrt_at,
                                 const typename SameSizeUnsigned<scalar_t>::type *__restrict frozen_at) {
    scalar_t *__restrict p = k.p + i0;
    const scalar_t *__restrict g = k.g + i0;
    scalar_t *__restrict m = k.m + i0;
    scalar_t *__restrict v = k.v + i0;
    const scalar_t *__restrict r = Rated ? k.r + i0 : nullptr;
    const scalar_t clip = k.clip, one_minus_beta1 = k.one_minus_beta1, beta2 = k.beta2_s,
                   one_minus_beta2 = k.one_minus_beta2, eps = k.eps;
    const int64_t n = i1 - i0;
    for (int64_t i = 0; i < n; i++) {
        const scalar_t rate = Rated ? r[i] : scalar_t(1);
        const scalar_t keep = 1 - rate * lr_wd;
        const scalar_t step_size = rate * (PerElement ? lr_over_bias1_at[i] : lr_over_bias1);
        const scalar_t b2s = PerElement ? bias2_sqrt_at[i] : bias2_sqrt;
        const scalar_t grad = g[i] * clip;
        const scalar_t p0 = p[i], m0 = m[i], v0 = v[i];
        const scalar_t m1 = m0 + one_minus_beta1 * (grad - m0);
        const scalar_t v1 = v0 * beta2 + one_minus_beta2 * grad * grad;
        // the builtin: std::sqrt's inline body would not be inlined into an O3 function
        scalar_t root;
        if constexpr (std::is_same<scalar_t, float>::value) root = __builtin_sqrtf(v1);
        else root = __builtin_sqrt(v1);
        const scalar_t denominator = root / b2s + eps;
        const scalar_t p1 = p0 * keep - step_size * m1 / denominator;
        if (Frozen) {
            const auto f = frozen_at[i];
            p[i] = pick(f, p0, p1);
            m[i] = pick(f, m0, m1);
            v[i] = pick(f, v0, v1);
        } else {
            p[i] = p1;
            m[i] = m1;
            v[i] = v1;
        }
    }
}

// [i0, i1) split at the end of the decayed region (weight decay a loop constant on each side).
template <typename scalar_t, bool Frozen, bool PerElement, bool Rated>
void adamw_decay_split(const FlatAdamW<scalar_t> &k, int64_t i0, int64_t i1, scalar_t lr_over_bias1, scalar_t bias2_sqrt,
                       const scalar_t *lr_over_bias1_at, const scalar_t *bias2_sqrt_at,
                       const typename SameSizeUnsigned<scalar_t>::type *frozen_at) {
    const int64_t d = std::min(std::max(k.decayed, i0), i1);
    const int64_t shift = d - i0;
    if (d > i0)
        adamw_span<scalar_t, Frozen, PerElement, Rated>(k, i0, d, k.lr_wd, lr_over_bias1, bias2_sqrt, lr_over_bias1_at, bias2_sqrt_at, frozen_at);
    if (i1 > d)
        adamw_span<scalar_t, Frozen, PerElement, Rated>(k, d, i1, 0, lr_over_bias1, bias2_sqrt, PerElement ? lr_over_bias1_at + shift : nullptr,
                                                 PerElement ? bias2_sqrt_at + shift : nullptr, Frozen ? frozen_at + shift : nullptr);
}

// Advances the block's step counts where active (the block has an active element); returns the first
// active element's new count; *same: whether every active element is at that count.
template <bool Frozen>
ADEPT_VECTORISED double advance_steps(double *__restrict steps, const uint8_t *__restrict frozen, int64_t n, bool *same) {
    if (Frozen) {
        for (int64_t i = 0; i < n; i++) steps[i] += frozen[i] != 0 ? 0.0 : 1.0;
    } else {
        for (int64_t i = 0; i < n; i++) steps[i] += 1.0;
    }
    int64_t first = 0;
    if (Frozen) {
        while (first < n - 1 && frozen[first] != 0) first++;
    }
    const double s0 = steps[first];
    int differ = 0;
    if (Frozen) {
        for (int64_t i = 0; i < n; i++) differ |= static_cast<int>(frozen[i] == 0) & static_cast<int>(steps[i] != s0);
    } else {
        for (int64_t i = 0; i < n; i++) differ |= static_cast<int>(steps[i] != s0);
    }
    *same = differ == 0;
    return s0;
}

// A direct-mapped cache of bias corrections by step count (blocks mixing steps: few distinct values).
template <typename scalar_t>
struct BiasCache {
    static constexpr int kSize = 64;
    double key[kSize];
    scalar_t lr_over_bias1[kSize];
    scalar_t bias2_sqrt[kSize];
    BiasCache() {
        for (int i = 0; i < kSize; i++) {
            key[i] = -1;
            lr_over_bias1[i] = 0;
            bias2_sqrt[i] = 1;
        }
    }
    // step counts below 1 (never stepped) are counted as 1, as torch's clamp in the reference
    void get(const FlatAdamW<scalar_t> &k, double step, scalar_t *out_lr_over_bias1, scalar_t *out_bias2_sqrt) {
        const double counted = std::max(step, 1.0);
        const int slot = static_cast<int>(static_cast<int64_t>(counted) & (kSize - 1));
        if (key[slot] != counted) {
            key[slot] = counted;
            lr_over_bias1[slot] = static_cast<scalar_t>(k.lr / (1 - std::pow(k.beta1, counted)));
            bias2_sqrt[slot] = static_cast<scalar_t>(std::sqrt(1 - std::pow(k.beta2, counted)));
        }
        *out_lr_over_bias1 = lr_over_bias1[slot];
        *out_bias2_sqrt = bias2_sqrt[slot];
    }
};

template <typename scalar_t, bool Frozen, bool Rated>
void adamw_range(const FlatAdamW<scalar_t> &k, int64_t begin, int64_t end) {
    using U = typename SameSizeUnsigned<scalar_t>::type;
    BiasCache<scalar_t> cache;
    scalar_t uniform_lr_over_bias1 = 0, uniform_bias2_sqrt = 1;
    if (k.steps == nullptr) cache.get(k, k.uniform_step, &uniform_lr_over_bias1, &uniform_bias2_sqrt);
    scalar_t lr_over_bias1_at[kAdamWBlock];
    scalar_t bias2_sqrt_at[kAdamWBlock];
    U frozen_at[kAdamWBlock];
    for (int64_t b = begin; b < end; b += kAdamWBlock) {
        const int64_t e = std::min(end, b + kAdamWBlock);
        const int64_t n = e - b;
        if (Frozen) {
            int64_t active = 0;
            for (int64_t i = 0; i < n; i++) {
                const U f = k.frozen[b + i] != 0 ? 1 : 0;
                active += 1 - f;
                frozen_at[i] = U(0) - f;
            }
            if (active == 0) continue;  // all frozen: nothing moves, no count advances
        }
        if (k.steps == nullptr) {
            adamw_decay_split<scalar_t, Frozen, false, Rated>(k, b, e, uniform_lr_over_bias1, uniform_bias2_sqrt, nullptr, nullptr, frozen_at);
            continue;
        }
        bool same = false;
        const double s0 = advance_steps<Frozen>(k.steps + b, Frozen ? k.frozen + b : nullptr, n, &same);
        if (same) {
            scalar_t lr_over_bias1, bias2_sqrt;
            cache.get(k, s0, &lr_over_bias1, &bias2_sqrt);
            adamw_decay_split<scalar_t, Frozen, false, Rated>(k, b, e, lr_over_bias1, bias2_sqrt, nullptr, nullptr, frozen_at);
        } else {
            for (int64_t i = 0; i < n; i++) {
                // a frozen element's values are discarded: give it the block's first step (a cache hit)
                const double s = Frozen && k.frozen[b + i] != 0 ? s0 : k.steps[b + i];
                cache.get(k, s, &lr_over_bias1_at[i], &bias2_sqrt_at[i]);
            }
            adamw_decay_split<scalar_t, Frozen, true, Rated>(k, b, e, 0, 0, lr_over_bias1_at, bias2_sqrt_at, frozen_at);
        }
    }
}

void check_flat(const at::Tensor &t, const at::Tensor &like, const char *what) {
    if (!t.defined()) throw std::invalid_argument(std::string("adamw_flat_step_: ") + what + " is undefined");
    if (!t.device().is_cpu()) throw std::invalid_argument(std::string("adamw_flat_step_: ") + what + " is not on the CPU");
    if (t.dim() != 1 || !t.is_contiguous())
        throw std::invalid_argument(std::string("adamw_flat_step_: ") + what + " must be a contiguous 1-D tensor");
    if (t.numel() != like.numel())
        throw std::invalid_argument(std::string("adamw_flat_step_: ") + what + " has " + std::to_string(t.numel()) +
                                    " elements, the parameters " + std::to_string(like.numel()));
}

template <typename scalar_t>
void adamw_flat_step(const at::Tensor &param, const at::Tensor &grad, const at::Tensor &exp_avg, const at::Tensor &exp_avg_sq,
                     const at::Tensor *multiplier, const at::Tensor *frozen, const at::Tensor *steps, double clip,
                     int64_t decayed, double lr, double beta1, double beta2, double eps, double weight_decay, double uniform_step) {
    FlatAdamW<scalar_t> k;
    k.p = param.data_ptr<scalar_t>();
    k.g = grad.data_ptr<scalar_t>();
    k.m = exp_avg.data_ptr<scalar_t>();
    k.v = exp_avg_sq.data_ptr<scalar_t>();
    k.r = multiplier != nullptr ? multiplier->data_ptr<scalar_t>() : nullptr;
    k.frozen = frozen != nullptr ? reinterpret_cast<const uint8_t *>(frozen->data_ptr<bool>()) : nullptr;
    k.steps = steps != nullptr ? steps->data_ptr<double>() : nullptr;
    k.decayed = decayed;
    k.clip = static_cast<scalar_t>(clip);
    k.lr = lr;
    k.lr_wd = static_cast<scalar_t>(lr * weight_decay);
    k.beta1 = beta1;
    k.beta2 = beta2;
    k.uniform_step = uniform_step;
    k.one_minus_beta1 = static_cast<scalar_t>(1 - beta1);
    k.beta2_s = static_cast<scalar_t>(beta2);
    k.one_minus_beta2 = static_cast<scalar_t>(1 - beta2);
    k.eps = static_cast<scalar_t>(eps);
    // Chunks of whole blocks, so a thread's blocks never straddle another's.
    const int64_t grain = std::max<int64_t>(kAdamWBlock, (at::internal::GRAIN_SIZE / kAdamWBlock) * kAdamWBlock);
    at::parallel_for(0, param.numel(), grain, [&](int64_t begin, int64_t end) {
        const bool frozen_any = k.frozen != nullptr, rated = k.r != nullptr;
        if (frozen_any && rated) adamw_range<scalar_t, true, true>(k, begin, end);
        else if (frozen_any) adamw_range<scalar_t, true, false>(k, begin, end);
        else if (rated) adamw_range<scalar_t, false, true>(k, begin, end);
        else adamw_range<scalar_t, false, false>(k, begin, end);
    });
}

}  // namespace

extern "C" {
#pragma GCC visibility push(default)

int at_has_fused_adamw(int device_type) {
#if ADEPT_TORCH_AT_LEAST(2, 4)
    return device_type == AT_DEVICE_CPU || device_type == AT_DEVICE_CUDA ? 1 : 0;
#elif ADEPT_TORCH_AT_LEAST(2, 2)
    return device_type == AT_DEVICE_CUDA ? 1 : 0;
#else
    (void)device_type;
    return 0;
#endif
}

int at_fused_adamw_(const at_tensor *params, const at_tensor *grads, const at_tensor *exp_avgs, const at_tensor *exp_avg_sqs,
                    const at_tensor *state_steps, int n, double lr, double beta1, double beta2, double weight_decay, double eps) {
    GUARD_BEGIN
#if ADEPT_TORCH_AT_LEAST(2, 2)
    auto ps = unwrap_list(params, n);
    auto gs = unwrap_list(grads, n);
    auto ms = unwrap_list(exp_avgs, n);
    auto vs = unwrap_list(exp_avg_sqs, n);
    auto steps = unwrap_list(state_steps, n);
    std::vector<at::Tensor> none;
    at::_fused_adamw_(ps, gs, ms, vs, none, steps, lr, beta1, beta2, weight_decay, eps, false, false);
    return 0;
#else
    (void)params; (void)grads; (void)exp_avgs; (void)exp_avg_sqs; (void)state_steps; (void)n;
    (void)lr; (void)beta1; (void)beta2; (void)weight_decay; (void)eps;
    throw std::runtime_error("fused AdamW needs libtorch >= 2.2 (this shim was compiled against " TORCH_VERSION ")");
#endif
    GUARD_END(-1)
}

int at_adamw_flat_step_(at_tensor param, at_tensor grad, at_tensor exp_avg, at_tensor exp_avg_sq, at_tensor multiplier_or_null,
                        at_tensor frozen_or_null, at_tensor step_count_or_null, at_tensor clip_coef_or_null,
                        int64_t decayed_elements, double lr, double beta1, double beta2, double eps, double weight_decay,
                        double uniform_step) {
    GUARD_BEGIN
    const auto &p = unwrap(param, "param");
    check_flat(p, p, "param");
    const auto dtype = p.scalar_type();
    if (dtype != at::kFloat && dtype != at::kDouble)
        throw std::invalid_argument(std::string("adamw_flat_step_: float32 or float64 tensors only, got ") + c10::toString(dtype));
    const at::Tensor *state[] = {&unwrap(grad, "grad"), &unwrap(exp_avg, "exp_avg"), &unwrap(exp_avg_sq, "exp_avg_sq"),
                                 multiplier_or_null != nullptr ? &unwrap(multiplier_or_null, "multiplier") : nullptr};
    const char *names[] = {"grad", "exp_avg", "exp_avg_sq", "multiplier"};
    for (int i = 0; i < 4; i++) {
        if (state[i] == nullptr) continue;
        check_flat(*state[i], p, names[i]);
        if (state[i]->scalar_type() != dtype)
            throw std::invalid_argument(std::string("adamw_flat_step_: ") + names[i] + " is " + c10::toString(state[i]->scalar_type()) +
                                        ", param " + c10::toString(dtype));
    }
    const at::Tensor *frozen = nullptr;
    if (frozen_or_null != nullptr) {
        frozen = &unwrap(frozen_or_null, "frozen");
        check_flat(*frozen, p, "frozen");
        if (frozen->scalar_type() != at::kBool) throw std::invalid_argument("adamw_flat_step_: frozen must be bool");
    }
    const at::Tensor *steps = nullptr;
    if (step_count_or_null != nullptr) {
        steps = &unwrap(step_count_or_null, "step_count");
        check_flat(*steps, p, "step_count");
        if (steps->scalar_type() != at::kDouble) throw std::invalid_argument("adamw_flat_step_: step_count must be float64");
    }
    double clip = 1;
    if (clip_coef_or_null != nullptr) {
        const auto &c = unwrap(clip_coef_or_null, "clip_coef");
        if (c.numel() != 1 || !c.device().is_cpu()) throw std::invalid_argument("adamw_flat_step_: clip_coef must be one element on the CPU");
        clip = c.item<double>();
    }
    const int64_t decayed = std::min(std::max<int64_t>(decayed_elements, 0), p.numel());
    if (dtype == at::kFloat)
        adamw_flat_step<float>(p, *state[0], *state[1], *state[2], state[3], frozen, steps, clip, decayed, lr, beta1, beta2, eps,
                               weight_decay, uniform_step);
    else
        adamw_flat_step<double>(p, *state[0], *state[1], *state[2], state[3], frozen, steps, clip, decayed, lr, beta1, beta2, eps,
                                weight_decay, uniform_step);
    return 0;
    GUARD_END(-1)
}

#pragma GCC visibility pop
}  // extern "C"
