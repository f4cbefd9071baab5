// Similarity of a synthetic set to a reference set (see similarity.h): Jensen-Shannon
// divergence of n-gram distributions, the two-sample Kolmogorov-Smirnov test on lengths in
// words, and the cosine of the two TF-IDF centroids.
//
// The KS p-value is the one scipy.stats.ks_2samp(method="asymp") reports. Since scipy 1.5
// that is not the limiting Kolmogorov distribution (nor Stephens' corrected form, which
// scipy dropped earlier) but the exact one-sample distribution of D_n at the effective size
// n = round(n1 * n2 / (n1 + n2)): kstwo.sf(D, n). It is computed here the way scipy's
// _ksstats.py does, by Simard and L'Ecuyer's (2011) choice among the Durbin matrix
// (Marsaglia-Tsang-Wang), Pomeranz's recursion, the Pelz-Good expansion and twice the exact
// one-sided Smirnov probability, so the numbers agree with scipy to about 12 digits.

#include "synthforge/text/similarity.h"

#include "synthforge/text/rouge.h"
#include "synthforge/text/tfidf.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <unordered_map>
#include <utility>

namespace synthforge::text {

namespace {

using std::numbers::pi;

double clip01(double p) {
    if (std::isnan(p)) return p;
    return std::clamp(p, 0.0, 1.0);
}

// Jensen-Shannon divergence in bits of two count vectors over the same keys.
double jsd_bits(const std::vector<std::pair<uint64_t, uint64_t>>& counts, uint64_t total_p, uint64_t total_q) {
    // Nothing on both sides: the same (empty) distribution. Nothing on one side only: no
    // overlap at all, the maximum.
    if (total_p == 0 && total_q == 0) return 0.0;
    if (total_p == 0 || total_q == 0) return 1.0;
    const double tp = static_cast<double>(total_p), tq = static_cast<double>(total_q);
    double s = 0.0;
    for (const auto& [cp, cq] : counts) {
        const double p = static_cast<double>(cp) / tp, q = static_cast<double>(cq) / tq;
        const double m = 0.5 * (p + q);
        if (cp > 0) s += 0.5 * p * std::log2(p / m);
        if (cq > 0) s += 0.5 * q * std::log2(q / m);
    }
    return std::clamp(s, 0.0, 1.0);
}

// ---------------------------------------------------------------------------------------------
// The Kolmogorov distribution of D_n (two-sided, one sample), upper tail.

constexpr double kTwo128 = 0x1.0p128;
constexpr double kTwoMinus128 = 0x1.0p-128;

// log(n! / n^n) by Stirling's series, with n log n taken out beforehand so nothing cancels.
double log_nfactorial_div_n_pow_n(int n) {
    // B_2j / (2j (2j - 1)) for j = 8 .. 1, highest power first.
    static constexpr double kStirling[] = {
        -2.955065359477124183e-2, 6.4102564102564102564e-3, -1.9175269175269175269e-3, 8.4175084175084175084e-4,
        -5.952380952380952381e-4, 7.9365079365079365079e-4, -2.7777777777777777778e-3, 8.3333333333333333333e-2};
    const double rn = 1.0 / n, x = rn / n;
    double poly = 0.0;
    for (double c : kStirling) poly = poly * x + c;
    return std::log(static_cast<double>(n)) / 2 - n + std::log(2 * pi) / 2 + rn * poly;
}

// Exact one-sided Smirnov tail P(D_n^+ >= x) by the Smirnov / Birnbaum-Tingey sum
//   x * sum_{v=0}^{floor(n(1-x))} C(n,v) (x + v/n)^(v-1) (1 - x - v/n)^(n-v),
// in log space with extended precision (scipy uses double-double arithmetic; either way
// the sum of positive terms is good to about 13 digits).
double smirnov_sf(int n, double x) {
    if (!(x > 0.0)) return 1.0;
    if (x >= 1.0) return 0.0;
    if (n == 1) return 1.0 - x;
    const long double nx = static_cast<long double>(n) * x;
    const long double nxfl = std::floor(nx);
    const long double alpha = nx - nxfl;
    if (nxfl == 0 || (nxfl == 1 && alpha == 0)) {
        // x <= 1/n: the lower tail has the closed form x (1 + x)^(n-1).
        return clip01(1.0 - x * std::pow(1.0 + x, n - 1));
    }
    if (-2.0 * n * x * x < -745.13) return 0.0;  // below the smallest double
    if (nxfl >= n - 1) return std::pow(1.0 - x, n);
    if (n > 1000000) {
        // scipy switches to this approximation beyond a million: p ~ exp(-(6nx+1)^2 / 18n).
        const double t = 6.0 * n * x + 1;
        return std::exp(-t * t / 18.0 / n);
    }
    // Terms v = 0 .. n - nxfl - 1 (when n x is an integer the next term is 0^(n-v) = 0).
    const long double ln = n, lx = x;
    const auto last = static_cast<long long>(n - nxfl - 1);
    long double log_binomial = 0.0L;  // log C(n, v), updated incrementally
    long double sum = 0.0L;
    for (long long v = 0; v <= last; ++v) {
        const long double a = lx + v / ln;                     // x + v/n
        const long double b = ((ln - v - nxfl) - alpha) / ln;  // 1 - x - v/n, exactly split
        const long double log_term = log_binomial + (v - 1) * std::log(a) + (n - v) * std::log(b);
        sum += std::exp(log_term);
        log_binomial += std::log((ln - v) / (v + 1));
    }
    return clip01(static_cast<double>(lx * sum));
}

// Durbin's matrix formula as Marsaglia, Tsang and Wang evaluate it: P(D_n <= d) is
// n!/n^n times the (k,k) entry of H^n, H an m x m matrix (m = 2k - 1, k = ceil(n d)),
// raised by repeated squaring with the exponent kept apart so nothing overflows.
double durbin_cdf(int n, double d) {
    if (d >= 1.0) return 1.0;
    const double nd = n * d;
    if (nd <= 0.5) return 0.0;
    const int k = static_cast<int>(std::ceil(nd));
    const double h = k - nd;
    const int m = 2 * k - 1;
    std::vector<double> v(m), w(m);
    double fac = 1.0;
    for (int j = 1; j <= m; ++j) {
        w[j - 1] = fac;  // 1 / (j-1)!
        fac /= j;
        v[j - 1] = (1.0 - std::pow(h, j)) * fac;  // (1 - h^j) / j!
    }
    const double tt = std::pow(std::max(2 * h - 1.0, 0.0), m) - 2 * std::pow(h, m);
    v[m - 1] = (1.0 + tt) * fac;

    using Matrix = std::vector<double>;  // m x m, row-major
    Matrix hm(static_cast<size_t>(m) * m, 0.0);
    auto at = [m](Matrix& a, int r, int c) -> double& { return a[static_cast<size_t>(r) * m + c]; };
    for (int c = 1; c < m; ++c)
        for (int r = c - 1; r < m; ++r) at(hm, r, c) = w[r - (c - 1)];
    for (int r = 0; r < m; ++r) at(hm, r, 0) = v[r];
    for (int c = 0; c < m; ++c) at(hm, m - 1, c) = v[m - 1 - c];

    auto multiply = [m](const Matrix& a, const Matrix& b) {
        Matrix out(a.size(), 0.0);
        for (int i = 0; i < m; ++i)
            for (int l = 0; l < m; ++l) {
                const double x = a[static_cast<size_t>(i) * m + l];
                if (x == 0.0) continue;
                const double* brow = b.data() + static_cast<size_t>(l) * m;
                double* orow = out.data() + static_cast<size_t>(i) * m;
                for (int j = 0; j < m; ++j) orow[j] += x * brow[j];
            }
        return out;
    };
    Matrix power(static_cast<size_t>(m) * m, 0.0);
    for (int i = 0; i < m; ++i) at(power, i, i) = 1.0;
    int exponent = 0, h_exponent = 0;
    for (int nn = n; nn > 0; nn /= 2) {
        if (nn % 2) {
            power = multiply(power, hm);
            exponent += h_exponent;
        }
        hm = multiply(hm, hm);
        h_exponent *= 2;
        if (std::fabs(at(hm, k - 1, k - 1)) > kTwo128) {
            for (double& x : hm) x /= kTwo128;
            h_exponent += 128;
        }
    }
    double p = at(power, k - 1, k - 1);
    for (int i = 1; i <= n; ++i) {  // times n!/n^n
        p = i * p / n;
        if (std::fabs(p) < kTwoMinus128) {
            p *= kTwo128;
            exponent -= 128;
        }
    }
    if (exponent != 0) p = std::ldexp(p, exponent);
    return clip01(p);
}

// Pomeranz's recursion (for n <= 140): rows of Poisson-like convolutions, two rows kept.
std::pair<int, int> pomeranz_bounds(int i, int n, int ll, int ceilf, int roundf) {
    int j1, j2;
    if (i == 0) {
        j1 = -ll - ceilf - 1;
        j2 = ll + ceilf - 1;
    } else {
        const int half = (i + 1) / 2;
        if ((i + 1) % 2 == 0) {
            if (half == n + 1) {
                j1 = n - ll - ceilf - 1;
                j2 = n + ll + ceilf - 1;
            } else {
                j1 = half - 1 - ll - roundf - 1;
                j2 = half + ll - 1 + ceilf - 1;
            }
        } else {
            j1 = half - 1 - ll - 1;
            j2 = half + ll + roundf - 1;
        }
    }
    return {std::max(j1 + 2, 0), std::min(j2, n)};
}

double pomeranz_cdf(int n, double x) {
    const double t = n * x;
    const int ll = static_cast<int>(std::floor(t));
    const double f = t - ll;
    const double g = std::min(f, 1.0 - f);
    const int ceilf = f > 0 ? 1 : 0;
    const int roundf = f > 0.5 ? 1 : 0;
    const int npwrs = 2 * (ll + 1);
    std::vector<double> gpower(npwrs), twogpower(npwrs), onem2gpower(npwrs);
    gpower[0] = twogpower[0] = onem2gpower[0] = 1.0;
    const double g_n = g / n, two_g_n = 2 * g / n, one_minus_two_g_n = (1 - 2 * g) / n;
    for (int m = 1; m < npwrs; ++m) {
        gpower[m] = gpower[m - 1] * g_n / m;
        twogpower[m] = twogpower[m - 1] * two_g_n / m;
        onem2gpower[m] = onem2gpower[m - 1] * one_minus_two_g_n / m;
    }
    std::vector<double> v0(npwrs, 0.0), v1(npwrs, 0.0), conv;
    v1[0] = 1.0;
    int v0s = 0, v1s = 0, exponent = 0;
    auto [j1, j2] = pomeranz_bounds(0, n, ll, ceilf, roundf);
    for (int i = 1; i < 2 * n + 2; ++i) {
        const int k1 = j1;
        std::swap(v0, v1);
        std::swap(v0s, v1s);
        std::fill(v1.begin(), v1.end(), 0.0);
        std::tie(j1, j2) = pomeranz_bounds(i, n, ll, ceilf, roundf);
        const std::vector<double>& pw = (i == 1 || i == 2 * n + 1) ? gpower : (i % 2 ? twogpower : onem2gpower);
        const int ln2 = j2 - k1 + 1;
        if (ln2 <= 0) continue;
        // Full convolution of v0[k1 - v0s, +ln2) with pw[0, ln2); entries from j1 - k1 on.
        const int start = k1 - v0s;
        const int len_a = std::max(0, std::min(ln2, npwrs - start));
        const int len_b = std::min(ln2, npwrs);
        conv.assign(static_cast<size_t>(std::max(len_a + len_b - 1, 0)), 0.0);
        for (int a = 0; a < len_a; ++a)
            for (int b = 0; b < len_b; ++b) conv[a + b] += v0[start + a] * pw[b];
        const int conv_start = j1 - k1, conv_len = j2 - j1 + 1;
        double peak = 0.0;
        for (int q = 0; q < conv_len && q < npwrs; ++q) {
            const int src = conv_start + q;
            v1[q] = src >= 0 && src < static_cast<int>(conv.size()) ? conv[src] : 0.0;
            peak = std::max(peak, v1[q]);
        }
        if (peak > 0 && peak < kTwoMinus128) {
            for (double& y : v1) y *= kTwo128;
            exponent -= 128;
        }
        v1s = v0s + j1 - k1;
    }
    double ans = v1[n - v1s];
    for (int m = 1; m <= n; ++m) {  // times n!
        if (std::fabs(ans) > kTwo128) {
            ans *= kTwoMinus128;
            exponent += 128;
        }
        ans *= m;
    }
    if (exponent != 0) ans = std::ldexp(ans, exponent);
    return clip01(ans);
}

// Pelz and Good's (1976) expansion of P(D_n <= x) in powers of 1/sqrt(n), transformed with
// Jacobi theta identities so that it converges for small z = x sqrt(n).
double pelz_good_cdf(int n, double x) {
    if (x <= 0.0) return 0.0;
    if (x >= 1.0) return 1.0;
    const double z = std::sqrt(static_cast<double>(n)) * x;
    const double z2 = z * z, z3 = z2 * z, z4 = z2 * z2, z6 = z4 * z2;
    const double qlog = -pi * pi / 8 / z2;
    if (qlog < -708) return 0.0;
    double q = std::exp(qlog);
    const double pi2 = pi * pi, pi4 = pi2 * pi2, pi6 = pi4 * pi2;
    const double k1a = -z2, k1b = pi2 / 4;
    const double k2a = 6 * z6 + 2 * z4, k2b = (2 * z4 - 5 * z2) * pi2 / 4, k2c = pi4 * (1 - 2 * z2) / 16;
    const double k3d = pi6 * (5 - 30 * z2) / 64, k3c = pi4 * (-60 * z2 + 212 * z4) / 16,
                 k3b = pi2 * (135 * z4 - 96 * z6) / 4, k3a = -30 * z6 - 90 * std::pow(z, 8);
    double kk[4] = {0, 0, 0, 0};
    // Horner over the odd integers m = 2k - 1 of sum c(m) q^(m^2).
    const int maxk = static_cast<int>(std::ceil(16 * z / pi));
    for (int k = maxk; k >= 1; --k) {
        const double m = 2.0 * k - 1, m2 = m * m, m4 = m2 * m2, m6 = m4 * m2;
        const double qpower = std::pow(q, 8 * k);
        const double c[4] = {1.0, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6};
        for (int i = 0; i < 4; ++i) kk[i] = kk[i] * qpower + c[i];
    }
    const double sqrt2pi = std::sqrt(2 * pi);
    const double div[4] = {z, 6 * z4, 72 * std::pow(z, 7), 6480 * std::pow(z, 10)};
    for (int i = 0; i < 4; ++i) kk[i] = kk[i] * q * sqrt2pi / div[i];
    // The sums over all integers k in K2 and K3.
    q = std::exp(-pi2 / 2 / z2);
    const double sqrt3z = std::sqrt(3.0) * z;
    double k2extra = 0.0, k3extra = 0.0;
    for (int k = maxk; k >= 1; --k) {
        const double k2 = static_cast<double>(k) * k, kpi = pi * k;
        const double qp = std::pow(q, k2);
        k2extra += k2 * qp;
        k3extra += (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qp;
    }
    kk[2] += k2extra * pi2 * sqrt2pi / (-36 * z3);
    kk[3] += k3extra * pi2 * sqrt2pi / (216 * z6);
    double sum = 0.0;
    for (int i = 0; i < 4; ++i) sum += kk[i] / std::pow(static_cast<double>(n), i / 2.0);
    return sum;
}

}  // namespace

double kolmogorov_sf(size_t sample_size, double d) {
    if (sample_size == 0) return std::nan("");
    if (sample_size > static_cast<size_t>(INT32_MAX)) sample_size = INT32_MAX;
    const int n = static_cast<int>(sample_size);
    if (d >= 1.0) return 0.0;
    if (d <= 0.0) return 1.0;
    const double t = n * d;
    if (t <= 1.0) {  // Ruben and Gambino: 1/2n <= d <= 1/n
        if (t <= 0.5) return 1.0;
        double cdf;
        if (n <= 140) {
            cdf = 1.0;
            for (int i = 1; i <= n; ++i) cdf *= i * (1.0 / n) * (2 * t - 1);
        } else {
            cdf = std::exp(log_nfactorial_div_n_pow_n(n) + n * std::log(2 * t - 1));
        }
        return clip01(1.0 - cdf);
    }
    if (t >= n - 1) return clip01(2 * std::pow(1.0 - d, n));  // Ruben and Gambino
    if (d >= 0.5) return clip01(2 * smirnov_sf(n, d));        // the two tails cannot meet
    const double nxx = t * d;
    if (n <= 140) {
        if (nxx <= 0.754693) return clip01(1.0 - durbin_cdf(n, d));
        if (nxx <= 4) return clip01(1.0 - pomeranz_cdf(n, d));
        return clip01(2 * smirnov_sf(n, d));
    }
    if (nxx >= 370.0) return 0.0;
    if (nxx >= 2.2) return clip01(2 * smirnov_sf(n, d));
    double cdf;
    if (nxx >= 18.0)
        cdf = 1.0;
    else if (n <= 100000 && n * std::pow(d, 1.5) <= 1.4)
        cdf = durbin_cdf(n, d);
    else
        cdf = pelz_good_cdf(n, d);
    return clip01(1.0 - cdf);
}

KsResult ks_two_sample(std::vector<double> a, std::vector<double> b) {
    KsResult r;
    if (a.empty() || b.empty()) return r;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    // D = max |F_a(v) - F_b(v)| over every value v of either sample (right-continuous CDFs).
    const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
    size_t i = 0, j = 0;
    double d = 0.0;
    while (i < a.size() && j < b.size()) {
        const double v = std::min(a[i], b[j]);
        while (i < a.size() && a[i] <= v) ++i;
        while (j < b.size() && b[j] <= v) ++j;
        d = std::max(d, std::fabs(static_cast<double>(i) / na - static_cast<double>(j) / nb));
    }
    r.statistic = d;
    // scipy: m >= n, en = m n / (m + n), kstwo.sf(D, np.round(en)) (half to even).
    const double m = std::max(na, nb), n = std::min(na, nb);
    const double en = m * n / (m + n);
    r.effective_n = std::max(1.0, std::nearbyint(en));  // two samples of one: en = 0.5 rounds to 0
    r.p_value = kolmogorov_sf(static_cast<size_t>(r.effective_n), d);
    return r;
}

SimilarityMetrics similarity_to_reference(const std::vector<std::string_view>& synthetic,
                                          const std::vector<std::string_view>& reference) {
    SimilarityMetrics out;
    out.synthetic_texts = synthetic.size();
    out.reference_texts = reference.size();

    // Unigrams and bigrams (within a text) of both sides over one vocabulary. Keys are
    // collected in first-seen order and summed in key order, never in hash-map order, so
    // the result does not depend on the standard library.
    TokenVocab vocab;
    std::vector<std::pair<uint64_t, uint64_t>> unigrams;  // by token id: (synthetic, reference)
    std::vector<std::pair<uint64_t, uint64_t>> bigrams;   // by bigram slot
    std::unordered_map<uint64_t, uint32_t> bigram_slot;
    uint64_t uni_total[2] = {0, 0}, bi_total[2] = {0, 0};
    std::vector<double> lengths[2];
    for (int side = 0; side < 2; ++side) {
        for (std::string_view text : side == 0 ? synthetic : reference) {
            const std::vector<uint32_t> ids = vocab.encode(text);
            lengths[side].push_back(static_cast<double>(ids.size()));
            if (unigrams.size() < vocab.size()) unigrams.resize(vocab.size(), {0, 0});
            for (size_t i = 0; i < ids.size(); ++i) {
                (side == 0 ? unigrams[ids[i]].first : unigrams[ids[i]].second) += 1;
                ++uni_total[side];
                if (i == 0) continue;
                const uint64_t key = static_cast<uint64_t>(ids[i - 1]) << 32 | ids[i];
                auto [it, added] = bigram_slot.try_emplace(key, static_cast<uint32_t>(bigrams.size()));
                if (added) bigrams.emplace_back(0, 0);
                (side == 0 ? bigrams[it->second].first : bigrams[it->second].second) += 1;
                ++bi_total[side];
            }
        }
    }
    out.jsd_unigram = jsd_bits(unigrams, uni_total[0], uni_total[1]);
    out.jsd_bigram = jsd_bits(bigrams, bi_total[0], bi_total[1]);

    const KsResult ks = ks_two_sample(lengths[0], lengths[1]);
    out.ks_length = ks.statistic;
    out.ks_length_p_value = ks.p_value;

    // One IDF for both sides, so a term weighs the same in both centroids.
    TfidfVectorizer vectorizer;
    for (std::string_view text : synthetic) vectorizer.add(text);
    for (std::string_view text : reference) vectorizer.add(text);
    const SparseMatrix m = vectorizer.fit_transform();
    const std::vector<double> a = mean_vector(m, 0, synthetic.size());
    const std::vector<double> b = mean_vector(m, synthetic.size(), m.rows());
    out.tfidf_centroid_cosine = std::clamp(cosine(a, b), -1.0, 1.0);
    return out;
}

}  // namespace synthforge::text
