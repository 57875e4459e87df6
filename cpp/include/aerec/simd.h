// aerec — the few explicit SIMD helpers the auto-vectoriser cannot produce (compare → bitmask).
// Each ISA variant of the module compiles this with its own flags, so the widest available path
// is chosen at compile time; non-x86 builds take the scalar loop.
#pragma once

#include <cstdint>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace aerec {

// Bit i of the result is set when p[i] > thr, for i in [0, 16); NaN compares false.
inline uint32_t gt_mask16(const float* p, float thr) {
#if defined(__AVX512F__)
    return _mm512_cmp_ps_mask(_mm512_loadu_ps(p), _mm512_set1_ps(thr), _CMP_GT_OQ);
#elif defined(__AVX2__)
    const __m256 t = _mm256_set1_ps(thr);
    const uint32_t lo = static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(p), t, _CMP_GT_OQ)));
    const uint32_t hi =
        static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(p + 8), t, _CMP_GT_OQ)));
    return lo | (hi << 8);
#elif defined(__SSE2__)
    const __m128 t = _mm_set1_ps(thr);
    uint32_t m = 0;
    for (int q = 0; q < 4; ++q)
        m |= static_cast<uint32_t>(_mm_movemask_ps(_mm_cmpgt_ps(_mm_loadu_ps(p + 4 * q), t))) << (4 * q);
    return m;
#else
    uint32_t m = 0;
    for (int i = 0; i < 16; ++i) m |= static_cast<uint32_t>(p[i] > thr) << i;
    return m;
#endif
}

inline uint32_t gt_mask16(const double* p, double thr) {
#if defined(__AVX512F__)
    const __m512d t = _mm512_set1_pd(thr);
    const uint32_t lo = _mm512_cmp_pd_mask(_mm512_loadu_pd(p), t, _CMP_GT_OQ);
    const uint32_t hi = _mm512_cmp_pd_mask(_mm512_loadu_pd(p + 8), t, _CMP_GT_OQ);
    return lo | (hi << 8);
#elif defined(__AVX2__)
    const __m256d t = _mm256_set1_pd(thr);
    uint32_t m = 0;
    for (int q = 0; q < 4; ++q)
        m |= static_cast<uint32_t>(_mm256_movemask_pd(_mm256_cmp_pd(_mm256_loadu_pd(p + 4 * q), t, _CMP_GT_OQ)))
             << (4 * q);
    return m;
#elif defined(__SSE2__)
    const __m128d t = _mm_set1_pd(thr);
    uint32_t m = 0;
    for (int q = 0; q < 8; ++q)
        m |= static_cast<uint32_t>(_mm_movemask_pd(_mm_cmpgt_pd(_mm_loadu_pd(p + 2 * q), t))) << (2 * q);
    return m;
#else
    uint32_t m = 0;
    for (int i = 0; i < 16; ++i) m |= static_cast<uint32_t>(p[i] > thr) << i;
    return m;
#endif
}

inline int lowest_bit(uint32_t m) { return __builtin_ctz(m); }

}  // namespace aerec
