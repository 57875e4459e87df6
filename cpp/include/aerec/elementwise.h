// aerec — per-element maths shared by the CPU kernels and the CUDA kernels: activations and their
// derivatives, written once (extending-jax's kepler.h pattern). Everything here is a pure function
// of its arguments, so the CPU and GPU builds compute the same formula.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

#include "aerec/common.h"

namespace aerec {

// The activation codes, shared with Python (aerec._native.ACTIVATIONS).
enum Activation : int {
    kIdentity = 0,
    kSigmoid = 1,
    kTanh = 2,
    kRelu = 3,
    kElu = 4,
    kSelu = 5,
    kLeakyRelu = 6,
    kSwish = 7,
    kNumActivations = 8,
};

// SELU constants (Klambauer et al. 2017), as PyTorch and TensorFlow use them.
constexpr double kSeluLambda = 1.0507009873554804934193349852946;
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;

// Reinterpret bits as a float. __builtin_bit_cast keeps loops vectorisable where a memcpy can
// appear to the vectoriser as a memory clobber (seen with GCC 12 on the SSE2 baseline).
AEREC_HD float bits_to_float(int32_t bits) {
#if defined(__GNUC__) && !defined(__CUDA_ARCH__)
    return __builtin_bit_cast(float, bits);
#else
    float f;
    std::memcpy(&f, &bits, sizeof f);
    return f;
#endif
}

// exp for hot float loops: branch-free so the compiler vectorises it (std::exp is a libm call that
// it will not). Cody–Waite range reduction x = n·ln2 + r, |r| ≤ ln2/2, a degree-6 polynomial for
// e^r, and 2^n built in the exponent bits; n is rounded with the 1.5·2^23 trick, which needs only
// SSE2. Max relative error ≈ 2 ulp; inputs are clamped to [−87.3, 88] (no inf, no denormals).
AEREC_HD float exp_vectorizable(float x) {
    x = x < -87.33654f ? -87.33654f : (x > 88.0f ? 88.0f : x);
    const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;  // ln2 split in two so n·hi is exact
    r = r - n * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
    return p * bits_to_float(bits);
}
AEREC_HD double exp_vectorizable(double x) { return std::exp(x); }

// The transcendental pieces of the activations. Float on the CPU takes the vectorisable forms
// (absolute error ≲ 1e-7); double, and everything on the GPU, takes the accurate library calls.
template <class T>
AEREC_HD T act_exp(T x) {
    return std::exp(x);
}
template <class T>
AEREC_HD T act_tanh(T x) {
    return std::tanh(x);
}
template <class T>
AEREC_HD T act_expm1(T x) {
    return std::expm1(x);
}
#if !defined(__CUDA_ARCH__)
template <>
inline float act_exp<float>(float x) {
    return exp_vectorizable(x);
}
template <>
inline float act_expm1<float>(float x) {
    // Only used for x ≤ 0 (ELU/SELU's negative side), where e^x − 1 loses at most ~1e-7 absolute.
    return exp_vectorizable(x) - 1.0f;
}
template <>
inline float act_tanh<float>(float x) {
    // |x| < 0.25: odd Taylor series to x⁹ (error < 2e-9); else 1 − 2/(e^{2x} + 1), both branch-free.
    const float x2 = x * x;
    const float poly = x * (1.0f + x2 * (-1.0f / 3 + x2 * (2.0f / 15 + x2 * (-17.0f / 315 + x2 * (62.0f / 2835)))));
    const float big = 1.0f - 2.0f / (exp_vectorizable(2.0f * x) + 1.0f);
    return x2 < 0.0625f ? poly : big;
}
#endif

// Logistic function without overflow: e^{−|z|} only.
template <class T>
AEREC_HD T sigmoid(T z) {
    const T e = act_exp(z >= T(0) ? -z : z);
    const T inv = T(1) / (T(1) + e);
    return z >= T(0) ? inv : e * inv;
}

// y = f(z). `alpha` is ELU's alpha and leaky ReLU's negative slope; other activations ignore it.
template <class T>
AEREC_HD T activation_value(int kind, T z, T alpha) {
    switch (kind) {
        case kSigmoid: return sigmoid(z);
        case kTanh: return act_tanh(z);
        case kRelu: return z > T(0) ? z : T(0);
        case kElu: return z > T(0) ? z : alpha * act_expm1(z > T(0) ? T(0) : z);
        case kSelu: return T(kSeluLambda) * (z > T(0) ? z : T(kSeluAlpha) * act_expm1(z > T(0) ? T(0) : z));
        case kLeakyRelu: return z > T(0) ? z : alpha * z;
        case kSwish: return z * sigmoid(z);
        default: return z;  // identity
    }
}

// f'(z), given z and y = f(z) (whichever is cheaper is used: tanh and sigmoid reuse y).
template <class T>
AEREC_HD T activation_derivative(int kind, T z, T y, T alpha) {
    switch (kind) {
        case kSigmoid: return y * (T(1) - y);
        case kTanh: return T(1) - y * y;
        case kRelu: return z > T(0) ? T(1) : T(0);
        case kElu: return z > T(0) ? T(1) : y + alpha;  // alpha·e^z = y + alpha
        case kSelu: return z > T(0) ? T(kSeluLambda) : y + T(kSeluLambda * kSeluAlpha);
        case kLeakyRelu: return z > T(0) ? T(1) : alpha;
        case kSwish: {
            const T s = sigmoid(z);  // d/dz z·σ(z) = σ + z·σ·(1−σ)
            return s * (T(1) + z * (T(1) - s));
        }
        default: return T(1);
    }
}

// Per-entry loss terms (losses.h), shared with the CUDA kernels.
// Squared error: returns d² in double and writes grad = g2·d (g2 = 2·scale), d = pred − target.
template <class T>
AEREC_HD double mse_term(T pred, T target, T g2, T* grad) {
    const T d = pred - target;
    if (grad) *grad = g2 * d;
    return static_cast<double>(d) * static_cast<double>(d);
}

// KL(N(mu, e^logvar) ‖ N(0, 1)) for one dimension, in double: ½(−logvar + e^logvar + mu² − 1);
// writes dmu = sc·mu and dlogvar = half_sc·(e^logvar − 1) (sc = scale, half_sc = scale/2).
template <class T>
AEREC_HD double gaussian_kl_term(T mu, T logvar, T sc, T half_sc, T* dmu, T* dlogvar) {
    const double lv = static_cast<double>(logvar), m = static_cast<double>(mu);
    const double ev = std::exp(lv);
    if (dmu) *dmu = sc * mu;
    if (dlogvar) *dlogvar = half_sc * (static_cast<T>(ev) - T(1));
    return 0.5 * (-lv + ev + m * m - 1.0);
}

}  // namespace aerec
