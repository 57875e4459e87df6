// Runs every CUDA launcher of cpp/cuda/ under the host emulation (cuda_runtime.h here) and compares
// it with the CPU kernel of the same family (cpp/src/), for float and double, int32 and int64
// indices. Built and run by run.sh; prints one line per check and exits non-zero on any mismatch.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <random>
#include <string>
#include <vector>

// CPU families
#include "aerec/activations.h"
#include "aerec/elementwise.h"
#include "aerec/gram.h"
#include "aerec/item_major.h"
#include "aerec/losses.h"
#include "aerec/masked_decoder.h"
#include "aerec/optim.h"
#include "aerec/sparse_encoder.h"
#include "aerec/topk.h"
// CUDA families (translated to host code)
#include "activations.h"
#include "gram.h"
#include "losses.h"
#include "masked_decoder.h"
#include "optim.h"
#include "sparse_encoder.h"
#include "topk.h"

namespace cu = aerec::cuda;

static int failures = 0, checks = 0;

template <class T>
double tol() {
    return sizeof(T) == 4 ? 2e-4 : 1e-10;
}

template <class T, class U>
void expect_close(const std::string& what, const std::vector<T>& got, const std::vector<U>& want, double rtol) {
    ++checks;
    double worst = 0;
    size_t at = 0;
    bool size_ok = got.size() == want.size();
    double scale = 1e-30;
    for (auto w : want) scale = std::max(scale, std::fabs(double(w)));
    for (size_t i = 0; size_ok && i < got.size(); ++i) {
        const double g = double(got[i]), w = double(want[i]);
        const double err = (std::isnan(g) && std::isnan(w)) ? 0.0 : std::fabs(g - w) / (std::fabs(w) + 0.1 * scale);
        if (!(err <= worst)) {
            worst = err;
            at = i;
        }
    }
    const bool ok = size_ok && worst <= rtol;
    if (!ok) ++failures;
    std::printf("%-4s %-60s max rel err %.2e%s\n", ok ? "ok" : "FAIL", what.c_str(), worst,
                size_ok ? "" : " (size mismatch)");
    if (!ok && size_ok) std::printf("     at %zu: got %.9g want %.9g\n", at, double(got[at]), double(want[at]));
}

template <class T, class I>
struct Csr {
    std::vector<I> indptr, indices;
    std::vector<T> data;
    int64_t n_rows, n_cols;
    aerec::Csr<I, T> view() const { return {indptr.data(), indices.data(), data.data(), n_rows, n_cols}; }
};

template <class T, class I>
Csr<T, I> random_csr(int64_t n_rows, int64_t n_cols, double density, uint32_t seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(0, 1), val(0.5, 2.0);
    Csr<T, I> X{{0}, {}, {}, n_rows, n_cols};
    for (int64_t r = 0; r < n_rows; ++r) {
        for (int64_t c = 0; c < n_cols; ++c)
            if (r != 0 && (u(rng) < density || (r == 1 && c + 1 < n_cols))) {  // row 0 empty, row 1 full
                X.indices.push_back(I(c));
                X.data.push_back(T(val(rng)));
            }
        X.indptr.push_back(I(X.indices.size()));
    }
    return X;
}

template <class T>
std::vector<T> random_vec(size_t n, uint32_t seed, double scale = 1.0) {
    std::mt19937 rng(seed);
    std::normal_distribution<double> d(0, scale);
    std::vector<T> v(n);
    for (auto& x : v) x = T(d(rng));
    return v;
}

template <class T, class I>
void family_1_2(const char* tn, const char* in) {
    const int64_t n_rows = 19, n_items = 41, h = 37;
    auto X = random_csr<T, I>(n_rows, n_items, 0.3, 1);
    const int64_t nnz = X.indices.size();
    auto W = random_vec<T>(n_items * h, 2), b = random_vec<T>(h, 3), dZ = random_vec<T>(n_rows * h, 4);
    std::vector<T> rs(n_rows);
    for (int64_t r = 0; r < n_rows; ++r) rs[r] = T(0.2 + 0.1 * r);
    const double rate = 0.3;
    const uint64_t seed = (uint64_t(1) << 40) + 5, step = 7;
    const int64_t off = 11;
    std::string tag = std::string("[") + tn + "," + in + "]";
    // forward
    std::vector<T> Z(n_rows * h), Zc(n_rows * h), coef(nnz);
    cu::sparse_encoder_forward<T, I>(X.indptr.data(), X.indices.data(), X.data.data(), n_rows, W.data(), b.data(),
                                     rs.data(), h, rate, seed, step, off, coef.data(), Z.data(), nullptr);
    aerec::sparse_encoder_forward<T, I>(X.view(), W.data(), b.data(), rs.data(), h, rate, seed, step, off, Zc.data(), 1);
    expect_close("sparse_encoder_forward " + tag, Z, Zc, tol<T>());
    // backward, over the CPU's item-major view
    const aerec::ItemMajor im = aerec::build_item_major<I>(X.indptr.data(), X.indices.data(), n_rows, n_items);
    const int64_t m = im.items.size();
    std::vector<T> dW(m * h), dWc(m * h), db(h);
    cu::sparse_encoder_backward<T>(X.data.data(), im.items.data(), im.ptr.data(), im.rows.data(), im.pos.data(), m,
                                   n_rows, dZ.data(), rs.data(), h, rate, seed, step, off, coef.data(), dW.data(),
                                   nullptr);
    aerec::sparse_encoder_backward<T, I>(X.view(), im, dZ.data(), rs.data(), h, rate, seed, step, off, dWc.data(),
                                         db.data(), 1);
    expect_close("sparse_encoder_backward dW " + tag, dW, dWc, tol<T>());
    // masked decoder on the same pattern
    auto H = random_vec<T>(n_rows * h, 5), V = random_vec<T>(n_items * h, 6), c = random_vec<T>(n_items, 7);
    std::vector<T> out(nnz), outc(nnz);
    cu::masked_decoder_forward<T, I>(X.indptr.data(), X.indices.data(), n_rows, H.data(), V.data(), c.data(), h,
                                     out.data(), nullptr);
    aerec::masked_decoder_forward<T, I>(X.view(), H.data(), V.data(), c.data(), h, outc.data(), 1);
    expect_close("masked_decoder_forward " + tag, out, outc, tol<T>());
    auto d_out = random_vec<T>(nnz, 8);
    std::vector<T> dH(n_rows * h), dV(m * h), dc(m), dHc(n_rows * h), dVc(m * h), dcc(m), coef2(nnz);
    cu::masked_decoder_backward<T, I>(X.indptr.data(), X.indices.data(), n_rows, im.ptr.data(), im.rows.data(),
                                      im.pos.data(), m, nnz, H.data(), V.data(), d_out.data(), h, coef2.data(),
                                      dH.data(), dV.data(), dc.data(), nullptr);
    aerec::masked_decoder_backward<T, I>(X.view(), im, H.data(), V.data(), d_out.data(), h, dHc.data(), dVc.data(),
                                         dcc.data(), 1);
    expect_close("masked_decoder_backward dH " + tag, dH, dHc, tol<T>());
    expect_close("masked_decoder_backward dV " + tag, dV, dVc, tol<T>());
    expect_close("masked_decoder_backward dc " + tag, dc, dcc, tol<T>());
    // multinomial loss + gradient (items > threads per block)
    const int64_t n_big = 1500;
    auto Xm = random_csr<T, I>(7, n_big, 0.05, 9);
    auto logits = random_vec<T>(7 * n_big, 10, 3.0), cb = random_vec<T>(n_big, 11);
    auto logits_c = logits;
    std::vector<double> row_loss(7), loss(1);
    cu::multinomial_loss_grad<T, I>(logits.data(), cb.data(), Xm.indptr.data(), Xm.indices.data(), Xm.data.data(), 7,
                                    n_big, 0.5, row_loss.data(), loss.data(), nullptr);
    const double lc = aerec::multinomial_loss_grad<T, I>(logits_c.data(), cb.data(), Xm.view(), 0.5, 1);
    expect_close("multinomial_loss_grad gradient " + tag, logits, logits_c, tol<T>());
    expect_close("multinomial_loss_grad loss " + tag, loss, std::vector<double>{lc}, 1e-6);
    // top-k keys, then a stable sort as CuPy's argsort, against the CPU top-k
    const int64_t k = 9, n_items2 = 300, rows2 = 13;
    std::vector<T> S(rows2 * n_items2);
    std::mt19937 rng(12);
    for (auto& s : S) s = T(int(rng() % 7) - 3);  // many ties
    S[3 * n_items2 + 5] = NAN;
    auto E = random_csr<T, I>(rows2, n_items2, 0.2, 13);
    std::vector<uint8_t> allowed(n_items2, 1);
    std::vector<int64_t> cand;
    for (int64_t j = 0; j < n_items2; ++j) {
        if (j % 5 == 2) allowed[j] = 0;
        else cand.push_back(j);
    }
    using U = typename std::conditional<sizeof(T) == 4, uint32_t, uint64_t>::type;
    std::vector<U> keys(rows2 * n_items2);
    cu::topk_keys<T, I>(S.data(), rows2, n_items2, E.indptr.data(), E.indices.data(), allowed.data(), keys.data(),
                        nullptr);
    std::vector<int64_t> idx(rows2 * k), idxc(rows2 * k);
    std::vector<T> valc(rows2 * k);
    for (int64_t r = 0; r < rows2; ++r) {
        std::vector<int64_t> order(n_items2);
        std::iota(order.begin(), order.end(), 0);
        std::stable_sort(order.begin(), order.end(),
                         [&](int64_t a, int64_t bb) { return keys[r * n_items2 + a] < keys[r * n_items2 + bb]; });
        for (int64_t t = 0; t < k; ++t)
            idx[r * k + t] = keys[r * n_items2 + order[t]] == ~U(0) ? -1 : order[t];
    }
    aerec::topk<T, I>(S.data(), rows2, n_items2, k, E.indptr.data(), E.indices.data(), cand.data(), cand.size(),
                      idxc.data(), valc.data(), 1);
    expect_close("topk_keys + stable sort = CPU topk " + tag, idx, idxc, 0.0);
    // sparse Gram over the full column view
    std::vector<int64_t> col_ptr(n_items + 1, 0);
    for (size_t p = 0; p < im.items.size(); ++p) col_ptr[im.items[p] + 1] = im.ptr[p + 1] - im.ptr[p];
    for (int64_t j = 0; j < n_items; ++j) col_ptr[j + 1] += col_ptr[j];
    std::vector<T> G(n_items * n_items), Gc(n_items * n_items);
    cu::sparse_gram<T, I>(X.indptr.data(), X.indices.data(), X.data.data(), n_items, col_ptr.data(), im.rows.data(),
                          im.pos.data(), G.data(), nullptr);
    aerec::sparse_gram<T, I>(X.view(), col_ptr.data(), im.rows.data(), im.pos.data(), Gc.data(), 1);
    expect_close("sparse_gram " + tag, G, Gc, tol<T>());
}

template <class T>
void dense_families(const char* tn) {
    std::string tag = std::string("[") + tn + "]";
    const int64_t n = 5003;  // ~20 blocks: grid-stride loops and several partials
    auto p = random_vec<T>(n, 20), t = random_vec<T>(n, 21);
    std::vector<T> g(n), gc(n);
    std::vector<double> partials(cu::loss_scratch_size()), loss(1);
    cu::masked_mse<T>(p.data(), t.data(), n, 0.25, g.data(), partials.data(), loss.data(), nullptr);
    const double lc = aerec::masked_mse<T>(p.data(), t.data(), n, 0.25, gc.data(), 1);
    expect_close("masked_mse grad " + tag, g, gc, tol<T>());
    expect_close("masked_mse loss " + tag, loss, std::vector<double>{lc}, 1e-10);
    std::vector<T> dmu(n), dlv(n), dmuc(n), dlvc(n);
    cu::gaussian_kl<T>(p.data(), t.data(), n, 0.3, dmu.data(), dlv.data(), partials.data(), loss.data(), nullptr);
    const double kc = aerec::gaussian_kl<T>(p.data(), t.data(), n, 0.3, dmuc.data(), dlvc.data(), 1);
    expect_close("gaussian_kl grads " + tag, dlv, dlvc, tol<T>());
    expect_close("gaussian_kl loss " + tag, loss, std::vector<double>{kc}, 1e-10);
    for (int kind = 0; kind < aerec::kNumActivations; ++kind) {
        std::vector<T> y(n), yc(n), dz(n), dzc(n);
        const T alpha = T(kind == 6 ? 0.01 : 1.0);
        cu::activation_forward<T>(kind, alpha, p.data(), n, y.data(), nullptr);
        aerec::activation_forward<T>(kind, alpha, p.data(), n, yc.data(), 1);
        cu::activation_backward<T>(kind, alpha, p.data(), yc.data(), t.data(), n, dz.data(), nullptr);
        aerec::activation_backward<T>(kind, alpha, p.data(), yc.data(), t.data(), n, dzc.data(), 1);
        expect_close("activation " + std::to_string(kind) + " forward/backward " + tag, y, yc, tol<T>());
        expect_close("activation " + std::to_string(kind) + " backward " + tag, dz, dzc, tol<T>());
    }
    const int64_t R = 41, C = 61;
    std::vector<T> Y(R * C), Yc(R * C);
    cu::dropout<T>(p.data(), R, C, 0.4, 99, 3, 7, Y.data(), nullptr);
    aerec::dropout<T>(p.data(), R, C, 0.4, 99, 3, 7, Yc.data(), 1);
    expect_close("dropout (same Philox masks) " + tag, Y, Yc, 0.0);
    cu::random_uniform<T>(R, C, 5, 2, 9, Y.data(), nullptr);
    aerec::random_uniform<T>(R, C, 5, 2, 9, Yc.data(), 1);
    expect_close("random_uniform " + tag, Y, Yc, 0.0);
    cu::random_normal<T>(R, C, 5, 2, 9, Y.data(), nullptr);
    aerec::random_normal<T>(R, C, 5, 2, 9, Yc.data(), 1);
    expect_close("random_normal " + tag, Y, Yc, 0.0);
    // optimisers: three steps each, in place
    auto m0 = random_vec<T>(n, 22, 0.1), v0 = random_vec<T>(n, 23);
    for (auto& x : v0) x = x * x;
    auto P = p, M = m0, Vv = v0, Pc = p, Mc = m0, Vc = v0;
    for (int64_t step = 1; step <= 3; ++step) {
        cu::adam_step<T>(P.data(), t.data(), M.data(), Vv.data(), n, step, 1e-2, 0.9, 0.999, 1e-8, 0.01, step == 2,
                         nullptr);
        aerec::adam_step<T>(Pc.data(), t.data(), Mc.data(), Vc.data(), n, step, 1e-2, 0.9, 0.999, 1e-8, 0.01, step == 2,
                            1);
    }
    expect_close("adam_step x3 " + tag, P, Pc, tol<T>());
    const int64_t rows = 101, cols = n / rows;
    std::vector<int64_t> slot(rows, -1);
    slot[3] = 0, slot[50] = 1, slot[99] = 2;
    auto gr = random_vec<T>(3 * cols, 24);
    P = p, M = m0, Vv = v0, Pc = p, Mc = m0, Vc = v0;
    cu::adam_step_rows<T>(P.data(), rows, cols, slot.data(), gr.data(), M.data(), Vv.data(), 2, 1e-2, 0.9, 0.999, 1e-8,
                          0.1, true, nullptr);
    aerec::adam_step_rows<T>(Pc.data(), rows, cols, slot.data(), gr.data(), Mc.data(), Vc.data(), 2, 1e-2, 0.9, 0.999,
                             1e-8, 0.1, true, 1);
    expect_close("adam_step_rows " + tag, P, Pc, tol<T>());
    P = p, M = m0, Pc = p, Mc = m0;
    cu::sgd_step<T>(P.data(), t.data(), M.data(), n, 0.1, 0.9, true, 0.01, nullptr);
    aerec::sgd_step<T>(Pc.data(), t.data(), Mc.data(), n, 0.1, 0.9, true, 0.01, 1);
    expect_close("sgd_step nesterov " + tag, P, Pc, tol<T>());
    P = p, M = m0, Pc = p, Mc = m0;
    cu::sgd_step_rows<T>(P.data(), rows, cols, slot.data(), gr.data(), M.data(), 0.1, 0.9, false, 0.01, nullptr);
    aerec::sgd_step_rows<T>(Pc.data(), rows, cols, slot.data(), gr.data(), Mc.data(), 0.1, 0.9, false, 0.01, 1);
    expect_close("sgd_step_rows " + tag, P, Pc, tol<T>());
    expect_close("sgd_step_rows velocity " + tag, M, Mc, tol<T>());
    std::vector<T> prev(n), st(n, T(0.01)), prevc(n), stc(n, T(0.01));
    for (int64_t i = 0; i < n; ++i) prev[i] = prevc[i] = (i % 2 ? t[i] : -t[i]);
    P = p, Pc = p;
    cu::rprop_step<T>(P.data(), t.data(), prev.data(), st.data(), n, 0.5, 1.2, 1e-6, 50.0, nullptr);
    aerec::rprop_step<T>(Pc.data(), t.data(), prevc.data(), stc.data(), n, 0.5, 1.2, 1e-6, 50.0, 1);
    expect_close("rprop_step " + tag, P, Pc, tol<T>());
    expect_close("rprop_step step sizes " + tag, st, stc, tol<T>());
}

int main() {
    family_1_2<float, int32_t>("float32", "int32");
    family_1_2<float, int64_t>("float32", "int64");
    family_1_2<double, int32_t>("float64", "int32");
    family_1_2<double, int64_t>("float64", "int64");
    dense_families<float>("float32");
    dense_families<double>("float64");
    std::printf("%d checks, %d failed\n", checks, failures);
    return failures ? 1 : 0;
}
