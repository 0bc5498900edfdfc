// adept_attention.cpp: causal softmax attention on CPU float32 as one kernel each way, with its own backward.
// libtorch 1.13 without MKL runs a CPU bmm as a serial loop over the batch, each [T, D] x [D, T] product a
// multi-threaded BLAS call too small to split well; the decomposed attention also writes the full [T, T] scores,
// adds a broadcast mask, and runs softmax and its backward as separate passes. Here every (sequence, head) is one
// task of a parallel loop calling single-threaded BLAS on row blocks that stop at the diagonal (the causal upper
// triangle is never computed), with the scale, mask and softmax applied to each block while it is in cache. The
// backward is the same blocking. Grouped-query heads read their shared key/value head directly, no expanded copy.
// Right-padded batches give each sequence's token count: its keys stop there too (padding rows attend to the tokens).
// Tested against the decomposed ops in tests/adept/tensor/CausalAttentionTest.java and, in a model, FusedAttentionModelTest.
#include "adept_internal.hpp"
#include "adept_row_kernels.hpp"

#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>

#include <dlfcn.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <vector>

using adept_internal::unwrap;
using adept_internal::wrap;

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

namespace {

// ---- BLAS: libtorch's own (loaded with it), found at run time; without it the caller keeps the decomposed ops ----

using sgemm_fn = void (*)(const char *, const char *, const int *, const int *, const int *, const float *, const float *,
                          const int *, const float *, const int *, const float *, float *, const int *);

struct Blas {
    sgemm_fn sgemm = nullptr;
    void (*set_threads)(int) = nullptr;  // OpenBLAS's pool size; absent for other BLAS
    int (*get_threads)() = nullptr;
};

const Blas &blas() {
    static const Blas found = [] {
        Blas b;
        static const char *libraries[] = {"libblas.so.3", "libopenblas.so.0", "libopenblas.so", nullptr};
        for (const char **name = libraries; *name != nullptr; ++name) {
            void *lib = dlopen(*name, RTLD_LAZY | RTLD_NOLOAD);
            if (lib == nullptr) continue;
            if (b.sgemm == nullptr) b.sgemm = reinterpret_cast<sgemm_fn>(dlsym(lib, "sgemm_"));
            if (b.set_threads == nullptr) b.set_threads = reinterpret_cast<void (*)(int)>(dlsym(lib, "openblas_set_num_threads"));
            if (b.get_threads == nullptr) b.get_threads = reinterpret_cast<int (*)()>(dlsym(lib, "openblas_get_num_threads"));
            dlclose(lib);  // a no-load handle: libtorch keeps the library loaded
        }
        // Without a way to make OpenBLAS single-threaded, calls from several threads would queue on its lock.
        if (b.set_threads == nullptr || b.get_threads == nullptr) b.sgemm = nullptr;
        return b;
    }();
    return found;
}

// OpenBLAS single-threaded while any kernel here runs (the parallelism is over heads); the pool size before the
// first entrant is restored when the last one leaves.
class SingleThreadedBlas {
   public:
    SingleThreadedBlas() {
        std::lock_guard<std::mutex> lock(mutex());
        if (depth()++ == 0) {
            saved() = blas().get_threads();
            blas().set_threads(1);
        }
    }
    ~SingleThreadedBlas() {
        std::lock_guard<std::mutex> lock(mutex());
        if (--depth() == 0) blas().set_threads(saved());
    }
    SingleThreadedBlas(const SingleThreadedBlas &) = delete;
    SingleThreadedBlas &operator=(const SingleThreadedBlas &) = delete;

   private:
    static std::mutex &mutex() {
        static std::mutex m;
        return m;
    }
    static int &depth() {
        static int d = 0;
        return d;
    }
    static int &saved() {
        static int s = 1;
        return s;
    }
};

// Row-major C[m, n] = alpha op(A) op(B) + beta C, with op(A) [m, k] and op(B) [k, n]: column-major BLAS computes
// the transpose, C^T = op(B)^T op(A)^T, from the same memory.
void gemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float *a, int lda, const float *b, int ldb,
          float beta, float *c, int ldc) {
    const char ta = trans_a ? 'T' : 'N', tb = trans_b ? 'T' : 'N';
    blas().sgemm(&tb, &ta, &n, &m, &k, &alpha, b, &ldb, a, &lda, &beta, c, &ldc);
}

// ---- attention's own row kernel (the shared ones: adept_row_kernels.hpp) ----

// Softmax backward in place: dp = p * (dp - sum(p * dp)).
ADEPT_ROW_KERNEL
void softmax_backward_row(const float *__restrict p, float *__restrict dp, int64_t n, float pdp) {
    for (int64_t i = 0; i < n; i++) dp[i] = p[i] * (dp[i] - pdp);
}

// Query rows per block: a block's keys stop at its last row, so the blocks skip most of the upper triangle.
constexpr int64_t kRowBlock = 32;

// A [B, heads, T, D] float view whose rows BLAS can read: unit last stride, rows not overlapping.
struct Heads {
    const float *data;
    int64_t s0, s1;
    int ld;
    Heads(const at::Tensor &t) : data(t.data_ptr<float>()), s0(t.stride(0)), s1(t.stride(1)), ld(static_cast<int>(t.stride(2))) {}
    const float *head(int64_t b, int64_t h) const { return data + b * s0 + h * s1; }
};

struct Shape {
    int64_t B, H, G, T, D;  // batch, query heads, key/value heads, length, head size
    const int64_t *lengths;  // each sequence's tokens (right padding after them), or null: all T
    int64_t rep() const { return H / G; }
    int64_t keys(int64_t b) const { return lengths == nullptr ? T : lengths[b]; }
};

// Each sequence's token count, or empty for none padded.
using Lengths = std::vector<int64_t>;

Shape shape_of(const at::Tensor &q, const at::Tensor &k, const Lengths &lengths) {
    return {q.size(0), q.size(1), k.size(1), q.size(2), q.size(3), lengths.empty() ? nullptr : lengths.data()};
}

// out [B, T, H*D]; probs [B, H, T, T] when defined (the softmax, what the backward reads: for each row block, rows'
// entries up to the block's last key, zeros above the diagonal; the rest is never written). Row r attends to keys
// 0 .. min(r, len - 1).
void attention_forward(const at::Tensor &q, const at::Tensor &k, const at::Tensor &v, const Lengths &lengths, float scale,
                       at::Tensor &out, at::Tensor *probs) {
    const Shape s = shape_of(q, k, lengths);
    const Heads Q(q), K(k), V(v);
    float *o = out.data_ptr<float>();
    float *p = probs != nullptr ? probs->data_ptr<float>() : nullptr;
    const int D = static_cast<int>(s.D), ldo = static_cast<int>(s.H * s.D), ldp = static_cast<int>(s.T);
    SingleThreadedBlas single;
    at::parallel_for(0, s.B * s.H, 1, [&](int64_t begin, int64_t end) {
        std::vector<float> scratch(p == nullptr ? kRowBlock * s.T : 0);
        for (int64_t task = begin; task < end; task++) {
            const int64_t b = task / s.H, h = task % s.H, g = h / s.rep();
            const float *qh = Q.head(b, h), *kh = K.head(b, g), *vh = V.head(b, g);
            float *oh = o + b * s.T * ldo + h * s.D;
            const int64_t keys = s.keys(b);
            for (int64_t r0 = 0; r0 < s.T; r0 += kRowBlock) {
                const int64_t r1 = std::min(s.T, r0 + kRowBlock);
                const int m = static_cast<int>(r1 - r0), n = static_cast<int>(std::min(r1, keys));
                float *scores = p != nullptr ? p + task * s.T * s.T + r0 * s.T : scratch.data();
                gemm(false, true, m, n, D, scale, qh + r0 * Q.ld, Q.ld, kh, K.ld, 0.0f, scores, ldp);
                for (int64_t i = 0; i < m; i++) {
                    float *row = scores + i * ldp;
                    const int64_t valid = std::min(r0 + i + 1, keys);
                    exp_shifted(row, valid, row_max(row, valid));
                    scale_in_place(row, valid, 1.0f / row_sum(row, valid));
                    std::memset(row + valid, 0, sizeof(float) * (n - valid));
                }
                gemm(false, false, m, D, n, 1.0f, scores, ldp, vh, V.ld, 0.0f, oh + r0 * ldo, ldo);
            }
        }
    });
}

struct Grads {
    at::Tensor dq, dk, dv;
};

Grads attention_backward(const at::Tensor &q, const at::Tensor &k, const at::Tensor &v, const Lengths &lengths,
                         const at::Tensor &probs, const at::Tensor &grad_out, float scale, bool want_q, bool want_kv) {
    const Shape s = shape_of(q, k, lengths);
    const Heads Q(q), K(k), V(v);
    const at::Tensor dout = grad_out.contiguous();
    const float *d_o = dout.data_ptr<float>(), *p = probs.data_ptr<float>();
    const int D = static_cast<int>(s.D), ldo = static_cast<int>(s.H * s.D), ldp = static_cast<int>(s.T);
    Grads grads;
    grads.dq = want_q ? at::empty({s.B, s.H, s.T, s.D}, q.options()) : at::Tensor();
    // Key/value gradients per query head (summed over each group below), or straight into k's and v's layouts.
    at::Tensor dk_heads, dv_heads;
    if (want_kv) {
        grads.dk = at::empty_like(k);
        grads.dv = at::empty_like(v);
        if (s.rep() > 1) {
            dk_heads = at::empty({s.B, s.H, s.T, s.D}, q.options());
            dv_heads = at::empty({s.B, s.H, s.T, s.D}, q.options());
        }
    }
    auto slice = [&](at::Tensor &grouped, at::Tensor &per_head, int64_t b, int64_t h, int &ld) -> float * {
        if (per_head.defined()) {
            ld = D;
            return per_head.data_ptr<float>() + (b * s.H + h) * s.T * s.D;
        }
        ld = static_cast<int>(grouped.stride(2));
        return grouped.data_ptr<float>() + b * grouped.stride(0) + h * grouped.stride(1);
    };
    {
        SingleThreadedBlas single;
        at::parallel_for(0, s.B * s.H, 1, [&](int64_t begin, int64_t end) {
            std::vector<float> dscores(kRowBlock * s.T);
            for (int64_t task = begin; task < end; task++) {
                const int64_t b = task / s.H, h = task % s.H, g = h / s.rep();
                const float *qh = Q.head(b, h), *kh = K.head(b, g), *vh = V.head(b, g);
                const float *doh = d_o + b * s.T * ldo + h * s.D;
                const float *ph = p + task * s.T * s.T;
                float *dqh = want_q ? grads.dq.data_ptr<float>() + task * s.T * s.D : nullptr;
                int lddk = 0, lddv = 0;
                float *dkh = want_kv ? slice(grads.dk, dk_heads, b, dk_heads.defined() ? h : g, lddk) : nullptr;
                float *dvh = want_kv ? slice(grads.dv, dv_heads, b, dv_heads.defined() ? h : g, lddv) : nullptr;
                if (want_kv)
                    for (int64_t t = 0; t < s.T; t++) {
                        std::memset(dkh + t * lddk, 0, sizeof(float) * s.D);
                        std::memset(dvh + t * lddv, 0, sizeof(float) * s.D);
                    }
                const int64_t keys = s.keys(b);
                for (int64_t r0 = 0; r0 < s.T; r0 += kRowBlock) {
                    const int64_t r1 = std::min(s.T, r0 + kRowBlock);
                    const int m = static_cast<int>(r1 - r0), n = static_cast<int>(std::min(r1, keys));
                    const float *pb = ph + r0 * s.T;
                    float *ds = dscores.data();
                    // dP = dO V^T, then dS = P * (dP - rowsum(P * dP)) in place
                    gemm(false, true, m, n, D, 1.0f, doh + r0 * ldo, ldo, vh, V.ld, 0.0f, ds, ldp);
                    for (int64_t i = 0; i < m; i++) {
                        const int64_t valid = std::min(r0 + i + 1, keys);
                        float *row = ds + i * ldp;
                        const float *prow = pb + i * ldp;
                        // in double: subtracted from each entry, where its rounding would show
                        softmax_backward_row(prow, row, valid, static_cast<float>(dot(prow, row, valid)));
                        std::memset(row + valid, 0, sizeof(float) * (n - valid));
                    }
                    if (want_kv) {
                        gemm(true, false, n, D, m, 1.0f, pb, ldp, doh + r0 * ldo, ldo, 1.0f, dvh, lddv);      // dV += P^T dO
                        gemm(true, false, n, D, m, scale, ds, ldp, qh + r0 * Q.ld, Q.ld, 1.0f, dkh, lddk);  // dK += dS^T Q
                    }
                    if (want_q) gemm(false, false, m, D, n, scale, ds, ldp, kh, K.ld, 0.0f, dqh + r0 * D, D);  // dQ = dS K
                }
            }
        });
    }
    if (want_kv && s.rep() > 1) {
        // each key/value head's gradient: its query heads' in order
        const int64_t rep = s.rep();
        const float *pk = dk_heads.data_ptr<float>(), *pv = dv_heads.data_ptr<float>();
        at::parallel_for(0, s.B * s.G * s.T, 64, [&](int64_t begin, int64_t end) {
            for (int64_t row = begin; row < end; row++) {
                const int64_t t = row % s.T, g = (row / s.T) % s.G, b = row / (s.T * s.G);
                float *dk = grads.dk.data_ptr<float>() + b * grads.dk.stride(0) + g * grads.dk.stride(1) + t * grads.dk.stride(2);
                float *dv = grads.dv.data_ptr<float>() + b * grads.dv.stride(0) + g * grads.dv.stride(1) + t * grads.dv.stride(2);
                for (int64_t d = 0; d < s.D; d++) {
                    float sk = 0, sv = 0;
                    for (int64_t r = 0; r < rep; r++) {
                        const int64_t i = ((b * s.H + g * rep + r) * s.T + t) * s.D + d;
                        sk += pk[i];
                        sv += pv[i];
                    }
                    dk[d] = sk;
                    dv[d] = sv;
                }
            }
        });
    }
    return grads;
}

struct CausalAttentionFunction : public torch::autograd::Function<CausalAttentionFunction> {
    static at::Tensor forward(AutogradContext *ctx, const at::Tensor &q, const at::Tensor &k, const at::Tensor &v,
                              const Lengths &lengths, double scale) {
        const Shape s = shape_of(q, k, lengths);
        at::Tensor out = at::empty({s.B, s.T, s.H * s.D}, q.options());
        at::Tensor probs = at::empty({s.B, s.H, s.T, s.T}, q.options());
        attention_forward(q, k, v, lengths, static_cast<float>(scale), out, &probs);
        ctx->save_for_backward({q, k, v, probs});
        ctx->saved_data["scale"] = scale;
        ctx->saved_data["lengths"] = lengths;
        return out;
    }
    static tensor_list backward(AutogradContext *ctx, tensor_list grads) {
        auto saved = ctx->get_saved_variables();
        const float scale = static_cast<float>(ctx->saved_data["scale"].toDouble());
        const bool want_q = ctx->needs_input_grad(0), want_kv = ctx->needs_input_grad(1) || ctx->needs_input_grad(2);
        const Lengths lengths = ctx->saved_data["lengths"].toIntVector();
        Grads g = attention_backward(saved[0], saved[1], saved[2], lengths, saved[3], grads[0], scale, want_q, want_kv);
        return {g.dq, ctx->needs_input_grad(1) ? g.dk : at::Tensor(), ctx->needs_input_grad(2) ? g.dv : at::Tensor(), at::Tensor(),
                at::Tensor()};
    }
};

bool blas_rows(const at::Tensor &t) {
    return t.stride(3) == 1 && t.stride(2) >= t.size(3) && t.stride(2) <= std::numeric_limits<int>::max();
}

// Why the fused kernel cannot take these inputs, or null when it can.
const char *unfusable(const at::Tensor &q, const at::Tensor &k, const at::Tensor &v) {
    if (blas().sgemm == nullptr) return "no OpenBLAS found in this libtorch";
    for (const at::Tensor *t : {&q, &k, &v})
        if (!t->device().is_cpu() || t->scalar_type() != at::kFloat) return "CPU float32 tensors only";
    if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4) return "q, k, v must be [batch, heads, length, head_dim]";
    if (k.sizes() != v.sizes() || q.size(0) != k.size(0) || q.size(2) != k.size(2) || q.size(3) != k.size(3))
        return "k and v must be [batch, kv_heads, length, head_dim] matching q";
    if (k.size(1) == 0 || q.size(1) % k.size(1) != 0) return "query heads must be a multiple of key/value heads";
    if (q.numel() == 0) return "empty tensors";
    if (q.size(2) * q.size(1) * q.size(3) > std::numeric_limits<int>::max()) return "too long for BLAS's int sizes";
    if (!blas_rows(q) || !blas_rows(k) || !blas_rows(v)) return "rows must have a unit stride";
    return nullptr;
}

// The token counts [B] (int64, each 1 .. T) as a vector, or why they are not; undefined: none.
Lengths checked_lengths(const at::Tensor &lengths, const at::Tensor &q) {
    if (!lengths.defined()) return {};
    if (!lengths.device().is_cpu() || lengths.scalar_type() != at::kLong || lengths.dim() != 1 || lengths.size(0) != q.size(0))
        throw std::invalid_argument("causal attention: key lengths must be a CPU int64 [" + std::to_string(q.size(0)) + "] tensor");
    const at::Tensor dense = lengths.contiguous();
    Lengths out(dense.data_ptr<int64_t>(), dense.data_ptr<int64_t>() + dense.numel());
    for (size_t b = 0; b < out.size(); b++)
        if (out[b] < 1 || out[b] > q.size(2))
            throw std::invalid_argument("causal attention: key length " + std::to_string(out[b]) + " of sequence " + std::to_string(b) +
                                        " is outside 1.." + std::to_string(q.size(2)));
    return out;
}

at::Tensor causal_attention(const at::Tensor &q, const at::Tensor &k, const at::Tensor &v, const at::Tensor &key_lengths, double scale) {
    if (const char *why = unfusable(q, k, v)) throw std::invalid_argument(std::string("causal attention: ") + why);
    const Lengths lengths = checked_lengths(key_lengths, q);
    if (at::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad()))
        return CausalAttentionFunction::apply(q, k, v, lengths, scale);
    const Shape s = shape_of(q, k, lengths);
    at::Tensor out = at::empty({s.B, s.T, s.H * s.D}, q.options());
    attention_forward(q, k, v, lengths, static_cast<float>(scale), out, nullptr);  // nothing saved: no [T, T] per head kept
    return out;
}

}  // namespace

#pragma GCC visibility push(default)

int at_causal_attention_available(void) { return blas().sgemm != nullptr ? 1 : 0; }

at_tensor at_causal_attention(at_tensor q, at_tensor k, at_tensor v, at_tensor key_lengths, double scale) {
    GUARD_BEGIN
    const at::Tensor lengths = key_lengths == nullptr ? at::Tensor() : unwrap(key_lengths, "key_lengths");
    return wrap(causal_attention(unwrap(q, "q"), unwrap(k, "k"), unwrap(v, "v"), lengths, scale));
    GUARD_END(nullptr)
}

#pragma GCC visibility pop
