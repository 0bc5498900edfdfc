// adept_row_kernels.hpp: row loops shared by the fused CPU float32 kernels (adept_fused.cpp, adept_attention.cpp).
// Plain loops the compiler vectorises, built for AVX2 and for the baseline and picked at load (target_clones);
// no FMA, so both builds round as ATen's separate mul and add kernels do; reductions in 8 fixed lanes, so a
// result depends on the length only (deterministic, the same from both builds). Each file gets its own copy.
#ifndef ADEPT_ROW_KERNELS_HPP
#define ADEPT_ROW_KERNELS_HPP

#include <cstdint>
#include <limits>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ADEPT_ROW_KERNEL __attribute__((target_clones("avx2", "default"), optimize("O3"), unused))
// the exp's selects vectorise only where comparisons may be assumed not to trap (values are unchanged)
#define ADEPT_EXP_KERNEL __attribute__((target_clones("avx2", "default"), optimize("O3", "no-trapping-math"), unused))
#else
#define ADEPT_ROW_KERNEL __attribute__((unused))
#define ADEPT_EXP_KERNEL __attribute__((unused))
#endif

namespace {

// exp(x) for x <= 0 (Cephes' expf: x = n ln2 + r, |r| <= ln2 / 2, a degree-7 polynomial in r, times 2^n), as
// branch-free arithmetic the compiler vectorises; below -87.3 (2^n would be subnormal) it is 0, and NaN stays NaN
// (a diverged run must not turn into finite attention weights). Relative error ~1e-7.
inline __attribute__((always_inline)) float exp_nonpositive(float x) {
    const float xc = !(x < -87.3f) ? x : -87.3f;  // NaN passes
    const float n = __builtin_floorf(xc * 1.44269504088896341f + 0.5f);
    float r = xc - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
    float scale;
    __builtin_memcpy(&scale, &bits, sizeof scale);
    return !(x < -87.3f) ? p * scale : 0.0f;
}

ADEPT_ROW_KERNEL
float row_max(const float *__restrict x, int64_t n) {
    float lane[8];
    for (int j = 0; j < 8; j++) lane[j] = -std::numeric_limits<float>::infinity();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) lane[j] = x[i + j] > lane[j] ? x[i + j] : lane[j];
    float m = -std::numeric_limits<float>::infinity();
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    for (int j = 0; j < 8; j++) m = lane[j] > m ? lane[j] : m;
    return m;
}

// x = exp(x - shift) in place.
ADEPT_EXP_KERNEL
void exp_shifted(float *__restrict x, int64_t n, float shift) {
    for (int64_t i = 0; i < n; i++) x[i] = exp_nonpositive(x[i] - shift);
}

ADEPT_ROW_KERNEL
float row_sum(const float *__restrict x, int64_t n) {
    float lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) lane[j] += x[i + j];
    float sum = 0;
    for (; i < n; i++) sum += x[i];
    for (int j = 0; j < 8; j++) sum += lane[j];
    return sum;
}

ADEPT_ROW_KERNEL
void scale_in_place(float *__restrict x, int64_t n, float s) {
    for (int64_t i = 0; i < n; i++) x[i] *= s;
}

// sum of a[i] * b[i] in double (a and b may be the same row: a sum of squares).
ADEPT_ROW_KERNEL
double dot(const float *__restrict a, const float *__restrict b, int64_t n) {
    double lane[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) lane[j] += static_cast<double>(a[i + j]) * b[i + j];
    double sum = 0;
    for (; i < n; i++) sum += static_cast<double>(a[i]) * b[i];
    for (int j = 0; j < 8; j++) sum += lane[j];
    return sum;
}

// out = exp(in - shift).
ADEPT_EXP_KERNEL
void exp_shifted_to(const float *__restrict in, float *__restrict out, int64_t n, float shift) {
    for (int64_t i = 0; i < n; i++) out[i] = exp_nonpositive(in[i] - shift);
}

}  // namespace

#endif
