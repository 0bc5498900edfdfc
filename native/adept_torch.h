/*
 * adept_torch.h: the C interface of adept's libtorch shim.
 *
 * Conventions (one error channel, as in tch-rs's torch_api.h):
 *  - at_tensor is an opaque owning handle; at_free releases it. Every function that
 *    makes a tensor returns a new handle the caller owns, or NULL on error.
 *  - Functions returning int return 0 on success and -1 on error; queries that
 *    cannot be negative return -1 on error.
 *  - On error the message is kept per thread: at_last_error() returns it (NULL when
 *    none) and at_clear_error() drops it. Every guarded call clears it first, so it
 *    always belongs to the latest call. No C++ exception ever crosses this interface.
 *  - Handles are ids, not pointers: a freed handle is reported as stale even after its
 *    slot holds a new tensor (a generation count per slot); optimizer ids are never reused.
 *  - Entry points named at_test_* serve adept's tests only (references, shim checks); the
 *    library never calls them.
 *  - Shapes are (const int64_t *dims, int ndim); tensor lists are (const at_tensor *, int n).
 *  - dtype codes are c10::ScalarType values (see enum at_dtype); devices are
 *    (device_type, device_index) with AT_DEVICE_CPU / AT_DEVICE_CUDA.
 * The header includes only <stdint.h> so that the binding generator needs no
 * compiler resource headers.
 */
#ifndef ADEPT_TORCH_H
#define ADEPT_TORCH_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct at_tensor_s *at_tensor;

/* Called once when libtorch frees the storage of a tensor made by at_from_blob. */
typedef void (*at_release_fn)(void *context);

enum at_dtype {
    AT_UINT8 = 0,
    AT_INT8 = 1,
    AT_INT16 = 2,
    AT_INT32 = 3,
    AT_INT64 = 4,
    AT_FLOAT16 = 5,
    AT_FLOAT32 = 6,
    AT_FLOAT64 = 7,
    AT_BOOL = 11,
    AT_BFLOAT16 = 15
};

enum at_device_type {
    AT_DEVICE_CPU = 0,
    AT_DEVICE_CUDA = 1
};

enum at_reduction {
    AT_REDUCTION_NONE = 0,
    AT_REDUCTION_MEAN = 1,
    AT_REDUCTION_SUM = 2
};

/* ---- errors, runtime, configuration ---- */
const char *at_last_error(void);
void at_clear_error(void);
/* Version of the libtorch headers the shim was compiled against, e.g. "1.13.0". */
const char *at_compiled_version(void);
/* Version of the libtorch library loaded at run time (from its build configuration). */
const char *at_runtime_version(void);
/* Process setup the shim wants before heavy work: malloc tuning and the CPU block cache (ADEPT_CPU_ALLOCATOR=
 * cache, the default, or malloc); safe to call twice. -1 with the error set for an unknown ADEPT_CPU_ALLOCATOR. */
int at_init(void);
/* The CPU block cache's account (tensors of 256 KiB and up), 8 values: enabled (0/1), bytes in use, bytes cached,
 * peak bytes in use, peak bytes mapped (in use + cached), cache hits, blocks mapped, blocks unmapped. */
int at_cpu_cache_stats(int64_t *out);
/* Unmaps every cached block and restarts the peaks at the bytes in use now. */
int at_cpu_cache_release(void);
/* Turns the cache on or off for later allocations (blocks in use are returned where they came from). */
int at_cpu_cache_set_enabled(int enabled);
int at_set_num_threads(int threads);
int at_get_num_threads(void);
int at_manual_seed(uint64_t seed);
/* State of libtorch's default CPU generator as a uint8 tensor (for exact resume), and its restore. */
at_tensor at_cpu_rng_state(void);
int at_set_cpu_rng_state(at_tensor state);
/* Number of tensor handles allocated and not yet freed (for leak checks). */
int64_t at_live_tensors(void);
int at_cuda_is_available(void);
int at_cuda_device_count(void);
int at_cuda_synchronize(int device_index);
/* Bytes currently allocated by libtorch's CUDA caching allocator; -1 when unsupported. */
int64_t at_cuda_memory_allocated(int device_index);
int64_t at_cuda_max_memory_allocated(int device_index);

/* ---- handles and metadata ---- */
/* 0, or -1 for a stale or invalid handle (NULL is a no-op). */
int at_free(at_tensor t);
int at_defined(at_tensor t);
int at_dim(at_tensor t);
int64_t at_numel(at_tensor t);
int at_sizes(at_tensor t, int64_t *out_dims);
int at_strides(at_tensor t, int64_t *out_strides);
int at_scalar_type(at_tensor t);
int at_device_type(at_tensor t);
int at_device_index(at_tensor t);
int at_is_contiguous(at_tensor t);
int64_t at_element_size(at_tensor t);
/* Address of the first element (storage offset applied); NULL on error. */
void *at_data_ptr(at_tensor t);
/* Copies a handle: the result shares storage and autograd history with t. */
at_tensor at_shallow_clone(at_tensor t);

/* ---- creation ---- */
at_tensor at_empty(const int64_t *dims, int ndim, int dtype, int device_type, int device_index);
at_tensor at_zeros(const int64_t *dims, int ndim, int dtype, int device_type, int device_index);
at_tensor at_ones(const int64_t *dims, int ndim, int dtype, int device_type, int device_index);
at_tensor at_full(const int64_t *dims, int ndim, double value, int dtype, int device_type, int device_index);
at_tensor at_arange(double start, double end, double step, int dtype, int device_type, int device_index);
at_tensor at_randn(const int64_t *dims, int ndim, int dtype, int device_type, int device_index);
at_tensor at_rand(const int64_t *dims, int ndim, int dtype, int device_type, int device_index);
at_tensor at_randint(int64_t low, int64_t high, const int64_t *dims, int ndim, int dtype, int device_type, int device_index);
/* A tensor over caller memory without copying. strides may be NULL (contiguous).
 * release(context) runs when libtorch frees the storage; release may be NULL when the
 * caller guarantees the memory outlives every tensor and view made from it. */
at_tensor at_from_blob(void *data, const int64_t *dims, int ndim, const int64_t *strides, int dtype,
                       int device_type, int device_index, at_release_fn release, void *context);
at_tensor at_scalar_tensor(double value, int dtype, int device_type, int device_index);

/* ---- copies, dtype and device moves ---- */
at_tensor at_to(at_tensor t, int dtype, int device_type, int device_index, int non_blocking);
at_tensor at_clone(at_tensor t);
at_tensor at_detach(at_tensor t);
at_tensor at_contiguous(at_tensor t);
int at_copy_(at_tensor dst, at_tensor src);
/* Reads a one-element tensor as double. */
int at_item(at_tensor t, double *out);

/* ---- views and layout ---- */
at_tensor at_reshape(at_tensor t, const int64_t *dims, int ndim);
at_tensor at_view(at_tensor t, const int64_t *dims, int ndim);
at_tensor at_transpose(at_tensor t, int64_t dim0, int64_t dim1);
at_tensor at_permute(at_tensor t, const int64_t *dims, int ndim);
at_tensor at_narrow(at_tensor t, int64_t dim, int64_t start, int64_t length);
at_tensor at_slice(at_tensor t, int64_t dim, int64_t start, int64_t end, int64_t step);
at_tensor at_select(at_tensor t, int64_t dim, int64_t index);
at_tensor at_index_select(at_tensor t, int64_t dim, at_tensor index);
at_tensor at_gather(at_tensor t, int64_t dim, at_tensor index);
at_tensor at_cat(const at_tensor *ts, int n, int64_t dim);
at_tensor at_stack(const at_tensor *ts, int n, int64_t dim);
at_tensor at_expand(at_tensor t, const int64_t *dims, int ndim);
at_tensor at_unsqueeze(at_tensor t, int64_t dim);
at_tensor at_squeeze_dim(at_tensor t, int64_t dim);
at_tensor at_flatten(at_tensor t, int64_t start_dim, int64_t end_dim);
at_tensor at_repeat_interleave(at_tensor t, int64_t repeats, int64_t dim);
at_tensor at_tril(at_tensor t, int64_t diagonal);
at_tensor at_triu(at_tensor t, int64_t diagonal);

/* ---- elementwise binary (broadcasting) ---- */
at_tensor at_add(at_tensor a, at_tensor b, double alpha);
at_tensor at_sub(at_tensor a, at_tensor b, double alpha);
at_tensor at_mul(at_tensor a, at_tensor b);
at_tensor at_div(at_tensor a, at_tensor b);
at_tensor at_pow(at_tensor a, at_tensor b);
at_tensor at_maximum(at_tensor a, at_tensor b);
at_tensor at_minimum(at_tensor a, at_tensor b);
at_tensor at_add_scalar(at_tensor t, double value);
at_tensor at_mul_scalar(at_tensor t, double value);
at_tensor at_div_scalar(at_tensor t, double value);
at_tensor at_pow_scalar(at_tensor t, double exponent);
at_tensor at_clamp(at_tensor t, double min, double max);
at_tensor at_eq(at_tensor a, at_tensor b);
at_tensor at_ne(at_tensor a, at_tensor b);
at_tensor at_lt(at_tensor a, at_tensor b);
at_tensor at_gt(at_tensor a, at_tensor b);
at_tensor at_eq_scalar(at_tensor t, double value);
at_tensor at_where(at_tensor condition, at_tensor a, at_tensor b);
at_tensor at_masked_fill(at_tensor t, at_tensor mask, double value);

/* ---- elementwise unary ---- */
at_tensor at_neg(at_tensor t);
at_tensor at_abs(at_tensor t);
at_tensor at_exp(at_tensor t);
at_tensor at_log(at_tensor t);
at_tensor at_sqrt(at_tensor t);
at_tensor at_rsqrt(at_tensor t);
at_tensor at_square(at_tensor t);
at_tensor at_reciprocal(at_tensor t);
at_tensor at_sin(at_tensor t);
at_tensor at_cos(at_tensor t);
at_tensor at_tanh(at_tensor t);
at_tensor at_sigmoid(at_tensor t);
at_tensor at_relu(at_tensor t);
at_tensor at_silu(at_tensor t);
at_tensor at_gelu(at_tensor t);
/* GELU with the tanh approximation (PyTorch's approximate="tanh", Gemma's gelu_pytorch_tanh). */
at_tensor at_gelu_tanh(at_tensor t);
at_tensor at_sign(at_tensor t);

/* ---- linear algebra ---- */
at_tensor at_matmul(at_tensor a, at_tensor b);
at_tensor at_mm(at_tensor a, at_tensor b);
at_tensor at_bmm(at_tensor a, at_tensor b);
/* beta * self + alpha * (a @ b), batched over the first dim (self broadcasts). */
at_tensor at_baddbmm(at_tensor self, at_tensor a, at_tensor b, double beta, double alpha);
/* y = x W^T + b; bias may be NULL. */
at_tensor at_linear(at_tensor x, at_tensor weight, at_tensor bias);
at_tensor at_outer(at_tensor a, at_tensor b);

/* ---- reductions ---- */
at_tensor at_sum(at_tensor t);
at_tensor at_mean(at_tensor t);
at_tensor at_sum_dims(at_tensor t, const int64_t *dims, int ndim, int keepdim);
at_tensor at_mean_dims(at_tensor t, const int64_t *dims, int ndim, int keepdim);
at_tensor at_amax(at_tensor t, int64_t dim, int keepdim);
at_tensor at_argmax(at_tensor t, int64_t dim, int keepdim);
at_tensor at_logsumexp(at_tensor t, int64_t dim, int keepdim);
/* p-norm over all elements. */
at_tensor at_norm(at_tensor t, double p);
at_tensor at_max_all(at_tensor t);
at_tensor at_min_all(at_tensor t);

/* ---- neural-network functions ---- */
at_tensor at_softmax(at_tensor t, int64_t dim);
at_tensor at_log_softmax(at_tensor t, int64_t dim);
at_tensor at_embedding(at_tensor weight, at_tensor indices);
/* Bool [n, n] mask, true where attention is allowed (j <= i). */
at_tensor at_causal_mask(int64_t n, int device_type, int device_index);
/* logits [N, C] (or [N, C, d...]), targets int64 [N]; reduction is enum at_reduction. */
at_tensor at_cross_entropy(at_tensor logits, at_tensor targets, int64_t ignore_index, int reduction);
/* Softmax attention over the last two dims; mask may be NULL (bool: true = keep, or
 * float: added). Uses libtorch's fused kernel where the version has one. */
at_tensor at_scaled_dot_product_attention(at_tensor q, at_tensor k, at_tensor v, at_tensor mask,
                                          int is_causal, double scale);
at_tensor at_rms_norm(at_tensor x, at_tensor weight, double eps);
/* silu(gate) * up (SwiGLU's product); CPU float32 contiguous tensors of one shape take one fused pass each way with
 * their own backward, others the decomposed ops. */
at_tensor at_silu_mul(at_tensor gate, at_tensor up);
/* Rotary embedding of x [B, heads, T, D] by cos/sin [T, D]: x * cos + rotate_half(x) * sin, a fresh contiguous tensor.
 * CPU float32 (and at_rms_norm's) run one fused pass each way with their own backward; else the decomposed ops. */
at_tensor at_rotary(at_tensor x, at_tensor cos, at_tensor sin);
/* Causal softmax attention softmax(q k^T * scale, future keys hidden) v of q [B, H, T, D] and k, v [B, G, T, D]
 * (H a multiple of G: grouped-query heads share a key/value head), returned as [B, T, H * D]; CPU float32 only,
 * one blocked kernel each way with its own backward (rows of each operand need a unit stride). key_lengths, when
 * not null: int64 [B], sequence b's tokens (1..T) before right padding; its keys from there on are hidden too.
 * 1 when this libtorch's BLAS lets it run (at_causal_attention_available), else callers keep the decomposed ops. */
int at_causal_attention_available(void);
at_tensor at_causal_attention(at_tensor q, at_tensor k, at_tensor v, at_tensor key_lengths, double scale);
/* Summed cross-entropy of logits [N, V] against targets [N] (rows whose target is ignore_index count 0), and in
 * *grad_out the gradient of that sum with respect to the logits: softmax minus one-hot, in one log-softmax and
 * in-place passes over a buffer the caller then owns. No autograd graph. */
at_tensor at_softmax_cross_entropy(at_tensor logits, at_tensor targets, int64_t ignore_index, at_tensor *grad_out);
at_tensor at_dropout(at_tensor t, double p, int train);

/* ---- in-place ops ---- */
int at_add_(at_tensor t, at_tensor other, double alpha);
int at_mul_(at_tensor t, at_tensor other);
int at_mul_scalar_(at_tensor t, double value);
int at_add_scalar_(at_tensor t, double value);
int at_addcmul_(at_tensor t, at_tensor a, at_tensor b, double value);
int at_addcdiv_(at_tensor t, at_tensor a, at_tensor b, double value);
int at_lerp_(at_tensor t, at_tensor end, double weight);
int at_sqrt_(at_tensor t);
int at_clamp_(at_tensor t, double min, double max);
int at_zero_(at_tensor t);
int at_fill_(at_tensor t, double value);

/* ---- multi-tensor ops (optimizers) ---- */
int at_foreach_add_(const at_tensor *ts, const at_tensor *others, int n, double alpha);
int at_foreach_add_scalar_(const at_tensor *ts, int n, double value);
int at_foreach_mul_scalar_(const at_tensor *ts, int n, double value);
int at_foreach_mul_(const at_tensor *ts, const at_tensor *others, int n);
int at_foreach_lerp_(const at_tensor *ts, const at_tensor *ends, int n, double weight);
int at_foreach_addcmul_(const at_tensor *ts, const at_tensor *a, const at_tensor *b, int n, double value);
int at_foreach_addcdiv_(const at_tensor *ts, const at_tensor *a, const at_tensor *b, int n, double value);
int at_foreach_zero_(const at_tensor *ts, int n);
/* ts[i] *= scalar, where scalar is a one-element tensor (no host round trip). */
int at_foreach_mul_tensor_(const at_tensor *ts, int n, at_tensor scalar);
/* out[i] = sqrt(ts[i]) as new tensors. */
int at_foreach_sqrt(const at_tensor *ts, int n, at_tensor *out);
/* out[i] = ||ts[i]||_2 as new 0-dim tensors. */
int at_foreach_norm(const at_tensor *ts, int n, at_tensor *out);

/* libtorch's fused AdamW kernel (torch.optim.AdamW fused=True) over lists of parameters, gradients,
 * moments and float step counts (each incremented by the kernel); returns 0, or -1 with an error when
 * this libtorch has no such kernel for the tensors' device (at_has_fused_adamw tells beforehand). */
int at_fused_adamw_(const at_tensor *params, const at_tensor *grads, const at_tensor *exp_avgs, const at_tensor *exp_avg_sqs,
                    const at_tensor *state_steps, int n, double lr, double beta1, double beta2, double weight_decay, double eps);
/* 1 when at_fused_adamw_ can run on the device type (libtorch >= 2.4 on CPU, >= 2.2 on CUDA), else 0. */
int at_has_fused_adamw(int device_type);

/* One pass of split-rate AdamW over flat 1-D contiguous CPU tensors (float32 or float64, all of one dtype
 * and length): for each element i not frozen[i] (frozen_or_null: bool; NULL = none), with
 * g = grad[i] * clip (clip_coef_or_null: a one-element CPU tensor; NULL = 1),
 * step = step_count_or_null ? ++step_count[i] (float64, advanced only where not frozen) : uniform_step,
 * r = multiplier_or_null ? multiplier[i] : 1, decay = i < decayed_elements ? weight_decay : 0:
 *   p = p * (1 - lr r decay);  m = m + (1 - beta1) (g - m);  v = beta2 v + (1 - beta2) g g;
 *   p = p - (lr r / (1 - beta1^step)) m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
 * with torch's operation order (scalars in double, rounded once to the dtype). Frozen elements are left
 * untouched. Returns 0, or -1 with an error for tensors it does not take (CUDA, other dtypes, strided). */
int at_adamw_flat_step_(at_tensor param, at_tensor grad, at_tensor exp_avg, at_tensor exp_avg_sq, at_tensor multiplier_or_null,
                        at_tensor frozen_or_null, at_tensor step_count_or_null, at_tensor clip_coef_or_null,
                        int64_t decayed_elements, double lr, double beta1, double beta2, double eps, double weight_decay,
                        double uniform_step);

/* ---- autograd ---- */
/* Which of n leaf tensors (requiring grad) a backward has delivered a gradient to since the marks were last cleared:
 * a post-hook on each one's gradient accumulator marks it. at_grad_seen_read writes the n marks (1: a gradient
 * arrived) to out, clearing them when clear != 0; at_grad_seen_free removes the hooks. */
typedef struct at_grad_seen_s *at_grad_seen;
at_grad_seen at_grad_seen_new(const at_tensor *tensors, int n);
int at_grad_seen_read(at_grad_seen tracker, uint8_t *out, int clear);
int at_grad_seen_free(at_grad_seen tracker);
int at_set_requires_grad(at_tensor t, int requires_grad);
int at_requires_grad(at_tensor t);
int at_is_leaf(at_tensor t);
/* grad_output may be NULL for a scalar output. */
int at_backward(at_tensor t, at_tensor grad_output, int retain_graph, int create_graph);
/* New handle to t.grad, or NULL with no error set when t has no gradient. */
at_tensor at_grad(at_tensor t);
/* Points t (a parameter, kept as the same handle) at data's storage, as Python's `p.data = data`:
 * lets an optimizer keep parameters as views of one flat buffer. Shape and dtype become data's. */
int at_set_data(at_tensor t, at_tensor data);
/* Sets t.grad; grad may be NULL to drop it. */
int at_set_grad(at_tensor t, at_tensor grad);
/* Gradients of outputs w.r.t. inputs into out[n_inputs] (NULL where unused and
 * allow_unused), without touching any .grad field. grad_outputs may be NULL. */
int at_autograd_grad(const at_tensor *outputs, int n_outputs, const at_tensor *grad_outputs,
                     const at_tensor *inputs, int n_inputs, at_tensor *out,
                     int retain_graph, int create_graph, int allow_unused);
/* Grad mode of the calling thread: set returns the previous mode, is returns the current one. */
int at_set_grad_enabled(int enabled);
int at_is_grad_enabled(void);

/* ---- distributed collectives (c10d; native/adept_dist.cpp) ----
 * A process group joins world_size processes through a TCPStore at master_addr:master_port, served by
 * rank 0 (torchrun's rendezvous). Joining, and every wait on a work handle, gives up after timeout_ms
 * with an error naming what it waited for; a peer that dies makes the others' collectives fail, not hang.
 * Both handles are owned by the caller: at_work_free, at_pg_free (free the works first). */
typedef struct at_process_group_s *at_process_group;
typedef struct at_work_s *at_work;

enum at_dist_backend {
    AT_DIST_GLOO = 0,
    AT_DIST_NCCL = 1
};

enum at_dist_reduce {
    AT_DIST_SUM = 0,
    AT_DIST_AVG = 1
};

/* 1 when this shim can make process groups of the backend (Gloo: built with its headers; NCCL: a CUDA
 * build that found nccl.h), else 0. */
int at_dist_has_backend(int backend);
/* Joins the group (blocks until every rank has joined, or timeout_ms). network_interface may be NULL or
 * "": then loopback when master_addr is a loopback address, else the host's default device.
 * agent_store_prefix NULL or "": rank 0 serves the rendezvous store at master_addr:master_port; else a
 * launcher (torchrun's agent) serves it there, every rank is its client and keys go under this prefix.
 * NULL on error. */
at_process_group at_pg_new(int backend, const char *master_addr, int master_port, int rank, int world_size,
                           const char *network_interface, int64_t timeout_ms, const char *agent_store_prefix);
int at_pg_rank(at_process_group pg);
int at_pg_size(at_process_group pg);
/* Starts an in-place all-reduce of each tensor (contiguous, on the group's device); op is enum
 * at_dist_reduce (AVG: floating tensors, divided by the world size on wait). */
at_work at_pg_allreduce(at_process_group pg, const at_tensor *ts, int n, int op);
/* Starts an in-place broadcast of each tensor from rank root. */
at_work at_pg_broadcast(at_process_group pg, const at_tensor *ts, int n, int root);
at_work at_pg_barrier(at_process_group pg);
/* Waits until the work is done: 0, or -1 with the error (a peer gone, the timeout). Waiting twice is 0. */
int at_work_wait(at_work work);
int at_work_free(at_work work);
int at_pg_free(at_process_group pg);
/* Process groups, work and gradient-reducer handles not yet freed (for leak checks). */
int64_t at_dist_live_handles(void);

/* ---- gradient all-reduce overlapped with backward (PyTorch DDP's Reducer) ----
 * The reducer keeps n trainable leaf tensors (parameter order) and, for each, an output tensor of the same
 * number of elements (all of one floating dtype, on the group's device) that receives its gradient averaged
 * over the ranks. Gradients go into flat buckets (the outputs' dtype) of at most bucket_bytes, filled in
 * reverse parameter order (backward makes the last tensors' gradients first). A post-hook on each leaf's
 * gradient accumulator copies the gradient into its bucket when it is accumulated; a bucket whose tensors all
 * have theirs is all-reduced at once (asynchronously), strictly in bucket order, so every rank issues the same
 * collectives in the same order. Issue no other collective on the group between an armed backward and
 * at_reducer_finish. Free the reducer before its group. */
typedef struct at_grad_reducer_s *at_grad_reducer;

/* NULL on error (a tensor that is not a leaf requiring grad, or listed twice, an output of another size or
 * dtype, a device other than the group's). */
at_grad_reducer at_reducer_new(at_process_group pg, const at_tensor *params, const at_tensor *outputs, int n,
                               int64_t bucket_bytes);
/* Before each backward: reduce = 1 arms the hooks for the next backward (the last micro-batch of a step),
 * 0 lets it only accumulate (DDP's no_sync). -1 when an armed backward was not finished. */
int at_reducer_prepare(at_grad_reducer r, int reduce);
/* After the armed backward: launches the buckets not launched yet (a tensor that got no gradient in it
 * counts with its .grad, or as zero without one), waits for every bucket, divides by the world size and
 * copies the averages into the outputs. -1 with the error (a peer gone: "all-reduce: failed (...)"); a
 * reducer that failed refuses further use. */
int at_reducer_finish(at_grad_reducer r);
/* Buckets launched so far: by the hooks, during backward (during_backward = 1), or by at_reducer_finish (0). */
int64_t at_reducer_launched(at_grad_reducer r, int during_backward);
/* The number of buckets. */
int at_reducer_bucket_count(at_grad_reducer r);
/* Removes the hooks and frees the reducer (an unfinished all-reduce completes inside c10d). */
int at_reducer_free(at_grad_reducer r);

/* ---- test-only (at_test_*): libtorch's own AdamW, the reference adept's optimizers are tested against ---- */
typedef struct at_optimizer_s *at_optimizer;
/* torch::optim::AdamW over params (their .grad is read at each step). */
at_optimizer at_test_adamw_new(const at_tensor *params, int n, double lr, double beta1, double beta2, double eps,
                               double weight_decay);
int at_test_optimizer_step(at_optimizer optimizer);
int at_test_optimizer_set_lr(at_optimizer optimizer, double lr);
int at_test_optimizer_free(at_optimizer optimizer);
/* The decomposed ATen forms of at_rotary and at_rms_norm, the references their fused CPU paths are tested against. */
at_tensor at_test_rotary_plain(at_tensor x, at_tensor cos, at_tensor sin);
at_tensor at_test_rms_norm_plain(at_tensor x, at_tensor weight, double eps);

#ifdef __cplusplus
}
#endif

#endif /* ADEPT_TORCH_H */
