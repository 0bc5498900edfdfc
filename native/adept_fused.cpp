// adept_fused.cpp: RMSNorm and rotary embeddings as one pass each way on CPU float32, with their own backward,
// and the training cross-entropy with its logit gradient made in the forward. Decomposed into ATen ops, autograd
// runs 5-7 kernels per RMSNorm and per rotary embedding forward and about twice that backward (the rotation's
// slices are zero-filled and copied back), each a full pass over activations; here the forward is one pass and
// the backward one. Other devices and dtypes take the decomposed path, which is also the reference the tests
// hold these to (tests/adept/tensor/FusedOpsTest.java).
#include "adept_internal.hpp"
#include "adept_row_kernels.hpp"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <atomic>
#include <cmath>
#include <cstring>

using adept_internal::unwrap;
using adept_internal::wrap;

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

namespace {

ADEPT_ROW_KERNEL
void rotate_row(const float *__restrict in, const float *__restrict ct, const float *__restrict st, float *__restrict o,
                int64_t half, bool inverse) {
    if (!inverse) {
        for (int64_t i = 0; i < half; i++) o[i] = in[i] * ct[i] - in[i + half] * st[i];
        for (int64_t i = 0; i < half; i++) o[i + half] = in[i + half] * ct[i + half] + in[i] * st[i + half];
    } else {
        for (int64_t i = 0; i < half; i++) o[i] = in[i] * ct[i] + in[i + half] * st[i + half];
        for (int64_t i = 0; i < half; i++) o[i + half] = in[i + half] * ct[i + half] - in[i] * st[i];
    }
}

ADEPT_ROW_KERNEL
void scale_row(const float *__restrict x, const float *__restrict w, float inv, float *__restrict y, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] = (x[i] * inv) * w[i];
}

ADEPT_ROW_KERNEL
double weighted_dot(const float *__restrict g, const float *__restrict w, const float *__restrict x, int64_t n) {
    double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) lane[j] += static_cast<double>(g[i + j] * w[i + j]) * x[i + j];
    double dot = 0;
    for (; i < n; i++) dot += static_cast<double>(g[i] * w[i]) * x[i];
    for (int j = 0; j < 8; j++) dot += lane[j];
    return dot;
}

ADEPT_ROW_KERNEL
void norm_input_grad_row(const float *__restrict g, const float *__restrict w, const float *__restrict x, float inv, float k,
                         float *__restrict out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = (g[i] * w[i]) * inv - x[i] * k;
}

ADEPT_ROW_KERNEL
void norm_weight_grad_row(const float *__restrict g, const float *__restrict x, float inv, double *__restrict dw, int64_t n) {
    for (int64_t i = 0; i < n; i++) dw[i] += static_cast<double>(g[i]) * (x[i] * inv);
}

// ---- rotary embeddings: x [B, heads, T, D] rotated by cos/sin [T, D] (Hugging Face's rotate_half form) ----

// out = x * cos + rotate_half(x) * sin, rotate_half(x) = [-x2, x1]; inverse: the transpose (the backward).
// x may be a strided view with a unit last stride; out is contiguous.
at::Tensor rotate(const at::Tensor &x, const at::Tensor &cos, const at::Tensor &sin, bool inverse) {
    const int64_t B = x.size(0), H = x.size(1), T = x.size(2), D = x.size(3), half = D / 2;
    const int64_t s0 = x.stride(0), s1 = x.stride(1), s2 = x.stride(2);
    at::Tensor out = at::empty({B, H, T, D}, x.options().memory_format(at::MemoryFormat::Contiguous));
    const float *src = x.data_ptr<float>();
    const float *c = cos.data_ptr<float>();
    const float *s = sin.data_ptr<float>();
    float *dst = out.data_ptr<float>();
    at::parallel_for(0, B * H * T, 256, [&](int64_t begin, int64_t end) {
        for (int64_t row = begin; row < end; row++) {
            const int64_t t = row % T, h = (row / T) % H, b = row / (T * H);
            const float *in = src + b * s0 + h * s1 + t * s2;
            const float *ct = c + t * D;
            const float *st = s + t * D;
            rotate_row(in, ct, st, dst + row * D, half, inverse);
        }
    });
    return out;
}

struct RotaryFunction : public torch::autograd::Function<RotaryFunction> {
    static at::Tensor forward(AutogradContext *ctx, const at::Tensor &x, const at::Tensor &cos, const at::Tensor &sin) {
        ctx->save_for_backward({cos, sin});
        return rotate(x, cos, sin, false);
    }
    static tensor_list backward(AutogradContext *ctx, tensor_list grads) {
        auto saved = ctx->get_saved_variables();
        at::Tensor g = grads[0].stride(-1) == 1 ? grads[0] : grads[0].contiguous();
        return {rotate(g, saved[0], saved[1], true), at::Tensor(), at::Tensor()};
    }
};

bool rotary_fusable(const at::Tensor &x, const at::Tensor &cos, const at::Tensor &sin) {
    auto cpu_float = [](const at::Tensor &t) { return t.device().is_cpu() && t.scalar_type() == at::kFloat; };
    return cpu_float(x) && cpu_float(cos) && cpu_float(sin) && x.dim() == 4 && x.size(3) % 2 == 0 && x.stride(3) == 1 &&
           cos.dim() == 2 && cos.is_contiguous() && sin.is_contiguous() && cos.sizes() == sin.sizes() &&
           cos.size(0) == x.size(2) && cos.size(1) == x.size(3) && !cos.requires_grad() && !sin.requires_grad();
}

// ---- RMSNorm over the last dimension: y = x * rstd * w, rstd = 1 / sqrt(mean(x^2) + eps) per row ----

constexpr int64_t kNormChunks = 64;  // fixed row chunks: the weight gradient's sum order depends on the shape only

struct RmsNormFunction : public torch::autograd::Function<RmsNormFunction> {
    static at::Tensor forward(AutogradContext *ctx, const at::Tensor &input, const at::Tensor &weight, double eps) {
        at::Tensor x = input.contiguous();
        const int64_t H = x.size(-1), rows = x.numel() / H;
        at::Tensor y = at::empty_like(x);
        at::Tensor rstd = at::empty({rows}, x.options());
        const float *xp = x.data_ptr<float>();
        const float *w = weight.data_ptr<float>();
        float *yp = y.data_ptr<float>();
        float *rp = rstd.data_ptr<float>();
        const float epsf = static_cast<float>(eps);
        at::parallel_for(0, rows, 16, [&](int64_t begin, int64_t end) {
            for (int64_t r = begin; r < end; r++) {
                const float *xr = xp + r * H;
                const float mean = static_cast<float>(dot(xr, xr, H) / H);
                const float inv = 1.0f / std::sqrt(mean + epsf);
                rp[r] = inv;
                scale_row(xr, w, inv, yp + r * H, H);
            }
        });
        ctx->save_for_backward({x, weight, rstd});
        return y;
    }

    static tensor_list backward(AutogradContext *ctx, tensor_list grads) {
        auto saved = ctx->get_saved_variables();
        const at::Tensor &x = saved[0], &weight = saved[1], &rstd = saved[2];
        at::Tensor dy = grads[0].contiguous();
        const int64_t H = x.size(-1), rows = x.numel() / H;
        const bool want_x = ctx->needs_input_grad(0), want_w = ctx->needs_input_grad(1);
        at::Tensor dx = want_x ? at::empty_like(x) : at::Tensor();
        const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(kNormChunks, rows));
        std::vector<double> partial(want_w ? chunks * H : 0, 0.0);
        const float *xp = x.data_ptr<float>(), *w = weight.data_ptr<float>(), *rp = rstd.data_ptr<float>();
        const float *dyp = dy.data_ptr<float>();
        float *dxp = want_x ? dx.data_ptr<float>() : nullptr;
        at::parallel_for(0, chunks, 1, [&](int64_t cbegin, int64_t cend) {
            for (int64_t chunk = cbegin; chunk < cend; chunk++) {
                const int64_t r0 = rows * chunk / chunks, r1 = rows * (chunk + 1) / chunks;
                double *dw = want_w ? partial.data() + chunk * H : nullptr;
                for (int64_t r = r0; r < r1; r++) {
                    const float *xr = xp + r * H, *g = dyp + r * H;
                    const float inv = rp[r];
                    if (want_x) {
                        const float k = static_cast<float>(weighted_dot(g, w, xr, H) / H) * inv * inv * inv;
                        norm_input_grad_row(g, w, xr, inv, k, dxp + r * H, H);
                    }
                    if (want_w) norm_weight_grad_row(g, xr, inv, dw, H);
                }
            }
        });
        at::Tensor dweight;
        if (want_w) {
            dweight = at::empty({H}, weight.options());
            float *out = dweight.data_ptr<float>();
            for (int64_t i = 0; i < H; i++) {
                double sum = 0;
                for (int64_t chunk = 0; chunk < chunks; chunk++) sum += partial[chunk * H + i];
                out[i] = static_cast<float>(sum);
            }
        }
        return {dx, dweight, at::Tensor()};
    }
};

// ---- softmax cross-entropy: the summed loss and its gradient with respect to the logits in one go ----

// Summed cross-entropy of z [N, V] against t [N] (rows whose target is ignore_index count 0) and the gradient of
// that sum with respect to z (softmax minus one-hot). CPU float32: one task per row, the row read from memory once
// and its gradient written once (max, exp into the gradient row, sum, scale, all while the row is in cache); against
// autograd's log_softmax / nll_loss backward this skips the log-probabilities, a zero-filled [N, V] buffer and the
// passes over them. Other devices and dtypes: ATen's log-softmax, its exp in place, minus 1 at each target.
std::pair<at::Tensor, at::Tensor> softmax_cross_entropy(const at::Tensor &z, const at::Tensor &t, int64_t ignore_index) {
    at::NoGradGuard no_grad;
    if (z.device().is_cpu() && z.scalar_type() == at::kFloat && t.scalar_type() == at::kLong && z.dim() == 2 && z.size(1) > 0) {
        const at::Tensor zc = z.contiguous(), tc = t.contiguous();
        const int64_t N = zc.size(0), V = zc.size(1);
        at::Tensor grad = at::empty_like(zc);
        std::vector<double> row_loss(N);
        const float *zp = zc.data_ptr<float>();
        const int64_t *tp = tc.data_ptr<int64_t>();
        float *gp = grad.data_ptr<float>();
        std::atomic<int64_t> bad_target{-1};
        at::parallel_for(0, N, 8, [&](int64_t begin, int64_t end) {
            for (int64_t r = begin; r < end; r++) {
                const float *zr = zp + r * V;
                float *gr = gp + r * V;
                const int64_t target = tp[r];
                if (target == ignore_index) {
                    std::memset(gr, 0, sizeof(float) * V);
                    row_loss[r] = 0;
                    continue;
                }
                if (target < 0 || target >= V) {
                    bad_target = r;
                    continue;
                }
                const float max = row_max(zr, V);
                exp_shifted_to(zr, gr, V, max);
                const float sum = row_sum(gr, V);
                row_loss[r] = static_cast<double>(max) + std::log(static_cast<double>(sum)) - zr[target];
                scale_in_place(gr, V, 1.0f / sum);
                gr[target] -= 1.0f;
            }
        });
        if (bad_target >= 0)
            throw std::invalid_argument("cross-entropy: target " + std::to_string(tp[bad_target.load()]) + " of row " +
                                        std::to_string(bad_target.load()) + " is outside the " + std::to_string(V) + " classes");
        double total = 0;
        for (double l : row_loss) total += l;  // in row order: the same sum for any thread count
        return {at::scalar_tensor(total, z.options()), grad};
    }
    at::Tensor ignored = t.eq(ignore_index);
    at::Tensor index = t.masked_fill(ignored, 0).unsqueeze(1);
    at::Tensor grad = at::log_softmax(z, 1);
    at::Tensor loss = grad.gather(1, index).squeeze(1).masked_fill_(ignored, 0).sum().neg();
    grad.exp_();
    grad.scatter_add_(1, index, at::full({z.size(0), 1}, -1.0, grad.options()));
    // rows of ignored targets get no gradient; on the CPU the check is free and most batches have none
    if (!t.device().is_cpu() || ignored.any().item<bool>()) grad.masked_fill_(ignored.unsqueeze(1), 0);
    return {loss, grad};
}

// Mean or summed cross-entropy whose backward is the gradient computed in the forward, scaled.
struct CrossEntropyFunction : public torch::autograd::Function<CrossEntropyFunction> {
    static at::Tensor forward(AutogradContext *ctx, const at::Tensor &logits, const at::Tensor &targets, int64_t ignore_index, bool mean) {
        auto [sum, grad] = softmax_cross_entropy(logits, targets, ignore_index);
        at::Tensor scale = mean ? targets.ne(ignore_index).sum().to(sum.scalar_type()).reciprocal() : at::ones({}, sum.options());
        ctx->save_for_backward({grad, scale});
        return sum.mul(scale);
    }
    static tensor_list backward(AutogradContext *ctx, tensor_list grads) {
        auto saved = ctx->get_saved_variables();
        return {saved[0].mul(grads[0].mul(saved[1])), at::Tensor(), at::Tensor(), at::Tensor()};
    }
};

// ---- SwiGLU's product silu(gate) * up: one pass forward, one backward (decomposed: silu, mul, and three passes back) ----

// sigmoid(x) from exp(-|x|), which never overflows.
inline __attribute__((always_inline)) float sigmoid(float x) {
    const float e = exp_nonpositive(-__builtin_fabsf(x));
    const float r = 1.0f / (1.0f + e);
    return !(x < 0) ? r : e * r;  // NaN passes through e
}

ADEPT_EXP_KERNEL
void silu_mul_span(const float *__restrict g, const float *__restrict u, float *__restrict out, int64_t n) {
    for (int64_t i = 0; i < n; i++) out[i] = (g[i] * sigmoid(g[i])) * u[i];
}

// d/dgate = d * up * s (1 + gate (1 - s)), d/dup = d * silu(gate), s = sigmoid(gate): ATen's silu_backward's form.
ADEPT_EXP_KERNEL
void silu_mul_backward_span(const float *__restrict g, const float *__restrict u, const float *__restrict d, float *__restrict dg,
                            float *__restrict du, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        const float x = g[i], s = sigmoid(x);
        if (du != nullptr) du[i] = d[i] * (x * s);
        if (dg != nullptr) dg[i] = (d[i] * u[i]) * (s * (1.0f + x * (1.0f - s)));
    }
}

constexpr int64_t kSpanGrain = 16384;  // elements per parallel task

at::Tensor silu_mul_forward(const at::Tensor &gate, const at::Tensor &up) {
    at::Tensor out = at::empty_like(gate, at::MemoryFormat::Contiguous);
    const float *g = gate.data_ptr<float>(), *u = up.data_ptr<float>();
    float *o = out.data_ptr<float>();
    at::parallel_for(0, gate.numel(), kSpanGrain, [&](int64_t begin, int64_t end) {
        silu_mul_span(g + begin, u + begin, o + begin, end - begin);
    });
    return out;
}

struct SiluMulFunction : public torch::autograd::Function<SiluMulFunction> {
    static at::Tensor forward(AutogradContext *ctx, const at::Tensor &gate, const at::Tensor &up) {
        ctx->save_for_backward({gate, up});
        return silu_mul_forward(gate, up);
    }
    static tensor_list backward(AutogradContext *ctx, tensor_list grads) {
        auto saved = ctx->get_saved_variables();
        const at::Tensor &gate = saved[0], &up = saved[1];
        const at::Tensor d = grads[0].contiguous();
        const bool want_g = ctx->needs_input_grad(0), want_u = ctx->needs_input_grad(1);
        at::Tensor dg = want_g ? at::empty_like(gate) : at::Tensor(), du = want_u ? at::empty_like(up) : at::Tensor();
        const float *g = gate.data_ptr<float>(), *u = up.data_ptr<float>(), *dp = d.data_ptr<float>();
        float *dgp = want_g ? dg.data_ptr<float>() : nullptr, *dup = want_u ? du.data_ptr<float>() : nullptr;
        at::parallel_for(0, gate.numel(), kSpanGrain, [&](int64_t begin, int64_t end) {
            silu_mul_backward_span(g + begin, u + begin, dp + begin, dgp ? dgp + begin : nullptr, dup ? dup + begin : nullptr, end - begin);
        });
        return {dg, du};
    }
};

at::Tensor silu_mul(const at::Tensor &gate, const at::Tensor &up) {
    const bool fusable = gate.device().is_cpu() && up.device().is_cpu() && gate.scalar_type() == at::kFloat &&
                         up.scalar_type() == at::kFloat && gate.sizes() == up.sizes() && gate.is_contiguous() && up.is_contiguous();
    if (!fusable) return at::silu(gate).mul(up);
    if (at::GradMode::is_enabled() && (gate.requires_grad() || up.requires_grad())) return SiluMulFunction::apply(gate, up);
    return silu_mul_forward(gate, up);
}

bool norm_fusable(const at::Tensor &x, const at::Tensor &weight) {
    return x.device().is_cpu() && weight.device().is_cpu() && x.scalar_type() == at::kFloat && weight.scalar_type() == at::kFloat &&
           x.dim() >= 1 && weight.dim() == 1 && weight.size(0) == x.size(-1) && weight.is_contiguous() && x.numel() > 0;
}

at::Tensor rotary_plain(const at::Tensor &x, const at::Tensor &cos, const at::Tensor &sin) {
    const int64_t half = x.size(-1) / 2;
    auto rotated = at::cat({x.narrow(-1, half, half).neg(), x.narrow(-1, 0, half)}, -1);
    return x.mul(cos).add(rotated.mul(sin));
}

at::Tensor rotary(const at::Tensor &x, const at::Tensor &cos, const at::Tensor &sin) {
    return rotary_fusable(x, cos, sin) ? RotaryFunction::apply(x, cos, sin) : rotary_plain(x, cos, sin);
}

at::Tensor rms_norm_plain(const at::Tensor &input, const at::Tensor &weight, double eps) {
    // Computed in float32 at least, as Hugging Face's LlamaRMSNorm does.
    auto h = input.scalar_type() == at::kDouble ? input : input.to(at::kFloat);
    auto normed = h.mul(at::rsqrt(h.square().mean({-1}, true).add(eps))).to(input.scalar_type());
    return normed.mul(weight);
}

at::Tensor rms_norm(const at::Tensor &input, const at::Tensor &weight, double eps) {
    return norm_fusable(input, weight) ? RmsNormFunction::apply(input, weight, eps) : rms_norm_plain(input, weight, eps);
}

}  // namespace

namespace adept_internal {

at::Tensor cross_entropy(const at::Tensor &logits, const at::Tensor &targets, int64_t reduction, int64_t ignore_index) {
    // The fused form where a gradient will be asked for; evaluation keeps libtorch's (no gradient work).
    const bool fusable = reduction != at::Reduction::None && at::GradMode::is_enabled() && logits.requires_grad() &&
                         logits.dim() == 2 && targets.dim() == 1 && targets.size(0) == logits.size(0) &&
                         (logits.scalar_type() == at::kFloat || logits.scalar_type() == at::kDouble) &&
                         targets.scalar_type() == at::kLong;
    if (fusable) return CrossEntropyFunction::apply(logits, targets, ignore_index, reduction == at::Reduction::Mean);
    return at::cross_entropy_loss(logits, targets, {}, reduction, ignore_index);
}

}  // namespace adept_internal

#pragma GCC visibility push(default)

at_tensor at_rotary(at_tensor x, at_tensor cos, at_tensor sin) {
    GUARD_BEGIN return wrap(rotary(unwrap(x), unwrap(cos, "cos"), unwrap(sin, "sin"))); GUARD_END(nullptr)
}

at_tensor at_silu_mul(at_tensor gate, at_tensor up) {
    GUARD_BEGIN return wrap(silu_mul(unwrap(gate, "gate"), unwrap(up, "up"))); GUARD_END(nullptr)
}

at_tensor at_rms_norm(at_tensor x, at_tensor weight, double eps) {
    GUARD_BEGIN return wrap(rms_norm(unwrap(x), unwrap(weight, "weight"), eps)); GUARD_END(nullptr)
}

at_tensor at_softmax_cross_entropy(at_tensor logits, at_tensor targets, int64_t ignore_index, at_tensor *grad_out) {
    GUARD_BEGIN
    if (grad_out == nullptr) throw std::invalid_argument("null gradient output");
    const at::Tensor &z = unwrap(logits, "logits");
    const at::Tensor &t = unwrap(targets, "targets");
    if (z.dim() != 2 || t.dim() != 1 || t.size(0) != z.size(0))
        throw std::invalid_argument("softmax cross-entropy takes logits [N, V] and targets [N]");
    auto [loss, grad] = softmax_cross_entropy(z, t, ignore_index);
    *grad_out = wrap(std::move(grad));
    return wrap(std::move(loss));
    GUARD_END(nullptr)
}

at_tensor at_test_rotary_plain(at_tensor x, at_tensor cos, at_tensor sin) {
    GUARD_BEGIN return wrap(rotary_plain(unwrap(x), unwrap(cos, "cos"), unwrap(sin, "sin"))); GUARD_END(nullptr)
}

at_tensor at_test_rms_norm_plain(at_tensor x, at_tensor weight, double eps) {
    GUARD_BEGIN return wrap(rms_norm_plain(unwrap(x), unwrap(weight, "weight"), eps)); GUARD_END(nullptr)
}

#pragma GCC visibility pop
