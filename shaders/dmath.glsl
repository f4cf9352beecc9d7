// Double-precision exp, log, sin, cos, tanh, pow, erf, log1p, atan, asin, acos,
// sinh, cosh, atan2: GLSL has none of them for
// double. Range reduction plus Taylor / atanh series, accurate to a few ulp
// over the ranges tests use (|x| < 1e5 for sin and cos). Needs TG_F64.
const double LN2_HI = 6.93147180369123816490e-01lf, LN2_LO = 1.90821492927058770002e-10lf;
const double INV_LN2 = 1.44269504088896338700e+00lf;

double d_inf() { return packDouble2x32(uvec2(0u, 0x7FF00000u)); }
double d_nan() { return packDouble2x32(uvec2(0u, 0x7FF80000u)); }

double d_scale(double p, int k) /* p * 2^k without overflowing the exponent on the way */
{
    int h = k / 2;
    return ldexp(ldexp(p, h), k - h);
}

double d_exp(double x)
{
    if (isnan(x)) return x;
    if (x > 709.782712893384lf) return d_inf();
    if (x < -745.2lf) return 0.0lf;
    double k = roundEven(x * INV_LN2);
    double r = (x - k * LN2_HI) - k * LN2_LO;
    double p = 1.0lf, t = 1.0lf;
    [[unroll]] for (int i = 1; i <= 13; i++) { t *= r / double(i); p += t; }
    return d_scale(p, int(k));
}

double d_expm1(double x)
{
    if (abs(x) >= 0.5lf) return d_exp(x) - 1.0lf;
    double p = 0.0lf, t = 1.0lf;
    [[unroll]] for (int i = 1; i <= 17; i++) { t *= x / double(i); p += t; }
    return p;
}

double d_log(double x)
{
    if (isnan(x) || x < 0.0lf) return d_nan();
    if (x == 0.0lf) return -d_inf();
    if (isinf(x)) return x;
    int e;
    double m = frexp(x, e);
    if (m < 0.70710678118654752440lf) { m *= 2.0lf; e -= 1; }
    double s = (m - 1.0lf) / (m + 1.0lf), s2 = s * s, p = 0.0lf;
    [[unroll]] for (int i = 23; i >= 3; i -= 2) p = (p + 1.0lf / double(i)) * s2;
    double lm = 2.0lf * s + 2.0lf * s * p;
    return double(e) * LN2_HI + (lm + double(e) * LN2_LO);
}

/* x = k*pi/2 + r with |r| <= pi/4 (fdlibm's three-part pi/2). */
double d_reduce(double x, out int q)
{
    double k = roundEven(x * 6.36619772367581382433e-01lf);
    q = int(mod(k, 4.0lf));
    double r = x - k * 1.57079632673412561417e+00lf;
    r -= k * 6.07710050630396597660e-11lf;
    r -= k * 2.02226624871116645580e-21lf;
    return r;
}

double d_sin_poly(double r)
{
    double r2 = r * r, p = 0.0lf;
    [[unroll]] for (int i = 17; i >= 3; i -= 2) p = (p + 1.0lf) * (-r2 / double(i * (i - 1)));
    return r + r * p;
}

double d_cos_poly(double r)
{
    double r2 = r * r, p = 0.0lf;
    [[unroll]] for (int i = 18; i >= 2; i -= 2) p = (p + 1.0lf) * (-r2 / double(i * (i - 1)));
    return 1.0lf + p;
}

double d_sin(double x)
{
    if (isnan(x) || isinf(x)) return d_nan();
    int q;
    double r = d_reduce(x, q);
    return q == 0 ? d_sin_poly(r) : q == 1 ? d_cos_poly(r) : q == 2 ? -d_sin_poly(r) : -d_cos_poly(r);
}

double d_cos(double x)
{
    if (isnan(x) || isinf(x)) return d_nan();
    int q;
    double r = d_reduce(x, q);
    return q == 0 ? d_cos_poly(r) : q == 1 ? -d_sin_poly(r) : q == 2 ? -d_cos_poly(r) : d_sin_poly(r);
}

double d_tanh(double x)
{
    if (isnan(x)) return x;
    double a = abs(x);
    if (a > 22.0lf) return sign(x);
    double em = d_expm1(2.0lf * a);
    double t = em / (em + 2.0lf);
    return x < 0.0lf ? -t : t;
}

bool d_is_int(double y) { return floor(y) == y && !isinf(y); }

double d_pow(double x, double y)
{
    if (y == 0.0lf || x == 1.0lf) return 1.0lf;
    if (isnan(x) || isnan(y)) return d_nan();
    if (x == -1.0lf && isinf(y)) return 1.0lf;
    double r = d_exp(y * d_log(abs(x)));
    if (x < 0.0lf || (x == 0.0lf && (unpackDouble2x32(x).y & 0x80000000u) != 0u)) {
        if (isinf(x) || x == 0.0lf) { /* signed infinities and zeros */
            bool odd = d_is_int(y) && mod(y, 2.0lf) != 0.0lf;
            return odd ? -r : r;
        }
        if (!d_is_int(y)) return d_nan();
        if (mod(y, 2.0lf) != 0.0lf) r = -r;
    }
    return r;
}

/* erf(a) = 2/sqrt(pi) e^-a^2 sum_n a (2a^2)^n / (1 3 5 ... (2n+1)): positive
 * terms, nothing cancels; double's erf is 1 from 6 on. */
double d_erf(double x)
{
    double a = abs(x);
    if (a >= 6.0lf) return sign(x);
    double t = a, s = a, a2 = 2.0lf * a * a;
    for (int n = 1; n < 200 && t > s * 1e-17lf; n++) {
        t *= a2 / double(2 * n + 1);
        s += t;
    }
    return sign(x) * 1.12837916709551257390lf * d_exp(-a * a) * s;
}

const double D_PI = 3.14159265358979323846lf, D_PI_2 = 1.57079632679489661923lf, D_PI_4 = 0.78539816339744830962lf;
const double D_PI_6 = 0.52359877559829887308lf, D_SQRT3 = 1.73205080756887729353lf;

/* log(1 + x) = log(u) x / (u - 1) with u = 1 + x rounded (Goldberg). */
double d_log1p(double x)
{
    if (isnan(x) || x < -1.0lf) return d_nan();
    double u = 1.0lf + x;
    if (u == 1.0lf) return x;
    if (isinf(u)) return u;
    return d_log(u) * (x / (u - 1.0lf));
}

/* |x| > 1: pi/2 - atan(1/x); above tan(pi/12): pi/6 + atan((x sqrt3 - 1) / (x + sqrt3));
 * then the odd series, |x| <= 0.27. */
double d_atan(double x)
{
    if (isnan(x)) return x;
    double a = abs(x), r;
    bool inv = a > 1.0lf;
    if (inv) a = 1.0lf / a;
    bool shift = a > 0.26794919243112270lf;
    if (shift) a = (a * D_SQRT3 - 1.0lf) / (a + D_SQRT3);
    double a2 = a * a, p = 1.0lf / 37.0lf;
    for (int k = 17; k >= 0; k--) p = 1.0lf / double(2 * k + 1) - a2 * p;
    r = a * p;
    if (shift) r += D_PI_6;
    if (inv) r = D_PI_2 - r;
    return x < 0.0lf ? -r : r;
}

double d_asin(double x) { return abs(x) > 1.0lf ? d_nan() : d_atan(x / sqrt((1.0lf - x) * (1.0lf + x))); }
double d_acos(double x) { return abs(x) > 1.0lf ? d_nan() : 2.0lf * d_atan(sqrt((1.0lf - x) / (1.0lf + x))); }

/* Below 1 through expm1 (no cancellation); from 22 on e^a / 2 as (e^(a/2) / 2) e^(a/2),
 * which overflows only where sinh does. */
double d_sinh(double x)
{
    double a = abs(x), s;
    if (a < 1.0lf) {
        double e = d_expm1(a);
        s = 0.5lf * (e + e / (e + 1.0lf));
    } else if (a < 22.0lf) {
        double e = d_exp(a);
        s = 0.5lf * (e - 1.0lf / e);
    } else {
        double h = d_exp(0.5lf * a);
        s = (0.5lf * h) * h;
    }
    return x < 0.0lf ? -s : s;
}

double d_cosh(double x)
{
    double a = abs(x);
    if (a < 22.0lf) {
        double e = d_exp(a);
        return 0.5lf * (e + 1.0lf / e);
    }
    double h = d_exp(0.5lf * a);
    return (0.5lf * h) * h;
}

bool d_signbit(double x) { return (unpackDouble2x32(x).y & 0x80000000u) != 0u; }

/* IEEE's atan2, signed zeros and infinities included. */
double d_atan2(double y, double x)
{
    if (isnan(x) || isnan(y)) return d_nan();
    bool xneg = d_signbit(x);
    double sy = d_signbit(y) ? -1.0lf : 1.0lf;
    if (y == 0.0lf) return xneg ? sy * D_PI : y;
    if (isinf(x)) {
        if (isinf(y)) return sy * (xneg ? 3.0lf * D_PI_4 : D_PI_4);
        return xneg ? sy * D_PI : sy * 0.0lf;
    }
    if (x == 0.0lf || isinf(y)) return sy * D_PI_2;
    double t = d_atan(abs(y / x));
    return sy * (xneg ? D_PI - t : t);
}
