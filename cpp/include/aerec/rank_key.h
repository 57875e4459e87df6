// aerec — the ranking key shared by the top-k families (6: topk, 9: screened_topk): (score, index)
// packed into one unsigned integer whose order is the ranking.
#pragma once

#include <cstdint>
#include <cstring>

namespace aerec {

// (score, index) packed into one unsigned integer whose order is the ranking: the score's bits made
// order-preserving (negative floats flip all bits, non-negative ones flip the sign bit) in the high
// part, the complemented index in the low 32 bits so that equal scores rank the lower index first.
// Candidates are then compared, partitioned and sorted as plain integers.
template <class T>
struct KeyOf;
template <>
struct KeyOf<float> {
    using Key = uint64_t;
    static Key make(float s, int64_t j) {
        uint32_t u;
        s += 0.0f;  // −0 → +0, so the two zeros tie as they compare equal
        std::memcpy(&u, &s, sizeof u);
        u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
        return (static_cast<Key>(u) << 32) | static_cast<uint32_t>(~static_cast<uint32_t>(j));
    }
    static float score(Key key) {
        uint32_t u = static_cast<uint32_t>(key >> 32);
        u = (u & 0x80000000u) ? (u & 0x7FFFFFFFu) : ~u;
        float s;
        std::memcpy(&s, &u, sizeof s);
        return s;
    }
};
template <>
struct KeyOf<double> {
    using Key = unsigned __int128;
    static Key make(double s, int64_t j) {
        uint64_t u;
        s += 0.0;
        std::memcpy(&u, &s, sizeof u);
        u = (u & 0x8000000000000000ull) ? ~u : (u | 0x8000000000000000ull);
        return (static_cast<Key>(u) << 32) | static_cast<uint32_t>(~static_cast<uint32_t>(j));
    }
    static double score(Key key) {
        uint64_t u = static_cast<uint64_t>(key >> 32);
        u = (u & 0x8000000000000000ull) ? (u & 0x7FFFFFFFFFFFFFFFull) : ~u;
        double s;
        std::memcpy(&s, &u, sizeof s);
        return s;
    }
};

}  // namespace aerec
