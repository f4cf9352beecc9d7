// Float erf, log1p, expm1, atan, asin, acos, sinh, cosh, atan2: GLSL has no
// erf, log1p or expm1, and its built-ins lose precision where these must not
// (sinh near 0, anything past exp's overflow), so they are written out, as
// dmath.glsl's double ones, within a few ulp.
const float F_PI = 3.14159265, F_PI_2 = 1.57079633, F_PI_6 = 0.523598776, F_SQRT3 = 1.73205081;
const float F_LN2 = 0.693147181;

float f_nan() { return uintBitsToFloat(0x7FC00000u); }
float f_inf() { return uintBitsToFloat(0x7F800000u); }

// erf(a) = 2/sqrt(pi) e^-a^2 sum_n a (2a^2)^n / (1 3 5 ... (2n+1)): the terms are
// positive, so nothing cancels; float's erf is 1 from 4 on.
float f_erf(float x)
{
    float a = abs(x);
    if (a >= 4.0) return sign(x);
    float t = a, s = a, a2 = 2.0 * a * a;
    for (int n = 1; n < 80 && t > s * 1e-8; n++) {
        t *= a2 / float(2 * n + 1);
        s += t;
    }
    return sign(x) * 1.1283791670955126 * exp(-a * a) * s;
}

// log(1 + x) = log(u) x / (u - 1) with u = 1 + x rounded (Goldberg): exact where u is.
float f_log1p(float x)
{
    if (x < -1.0) return f_nan();
    if (x == -1.0) return -f_inf();
    float u = 1.0 + x;
    if (u == 1.0) return x;
    if (isinf(u)) return u;
    return log(u) * (x / (u - 1.0));
}

// e^x - 1 = (u - 1) x / log(u) with u = e^x rounded (Kahan).
float f_expm1(float x)
{
    float u = exp(x);
    if (u == 1.0) return x;
    if (isinf(u)) return u;
    float um1 = u - 1.0;
    if (um1 == -1.0) return -1.0;
    return um1 * (x / log(u));
}

// |x| > 1: pi/2 - atan(1/x); above tan(pi/12): pi/6 + atan((x sqrt3 - 1) / (x + sqrt3)); then the series.
float f_atan(float x)
{
    float a = abs(x), r;
    bool inv = a > 1.0;
    if (inv) a = 1.0 / a;
    bool shift = a > 0.267949192;
    if (shift) a = (a * F_SQRT3 - 1.0) / (a + F_SQRT3);
    float a2 = a * a, p = 1.0 / 19.0;
    for (int k = 8; k >= 0; k--) p = 1.0 / float(2 * k + 1) - a2 * p;
    r = a * p;
    if (shift) r += F_PI_6;
    if (inv) r = F_PI_2 - r;
    return x < 0.0 ? -r : r;
}

float f_asin(float x) { return abs(x) > 1.0 ? f_nan() : f_atan(x / sqrt((1.0 - x) * (1.0 + x))); }
float f_acos(float x) { return abs(x) > 1.0 ? f_nan() : 2.0 * f_atan(sqrt((1.0 - x) / (1.0 + x))); }

// Below 1 through expm1 (no cancellation); from 9 on e^a / 2 as (e^(a/2) / 2) e^(a/2), which overflows only where sinh does.
float f_sinh(float x)
{
    float a = abs(x), s;
    if (a < 1.0) {
        float e = f_expm1(a);
        s = 0.5 * (e + e / (e + 1.0));
    } else if (a < 9.0) {
        float e = exp(a);
        s = 0.5 * (e - 1.0 / e);
    } else {
        float h = exp(0.5 * a);
        s = (0.5 * h) * h;
    }
    return x < 0.0 ? -s : s;
}

float f_cosh(float x)
{
    float a = abs(x);
    if (a < 9.0) {
        float e = exp(a);
        return 0.5 * (e + 1.0 / e);
    }
    float h = exp(0.5 * a);
    return (0.5 * h) * h;
}

bool f_signbit(float x) { return (floatBitsToUint(x) & 0x80000000u) != 0u; }

// IEEE's atan2, signed zeros and infinities included (GLSL's atan(y, x) leaves x = y = 0 undefined).
float f_atan2(float y, float x)
{
    if (isnan(x) || isnan(y)) return f_nan();
    bool xneg = f_signbit(x);
    float sy = f_signbit(y) ? -1.0 : 1.0;
    if (y == 0.0) return xneg ? sy * F_PI : y;
    if (isinf(x)) {
        if (isinf(y)) return sy * (xneg ? 3.0 * F_PI / 4.0 : F_PI / 4.0);
        return xneg ? sy * F_PI : sy * 0.0;
    }
    if (x == 0.0 || isinf(y)) return sy * F_PI_2;
    float t = f_atan(abs(y / x));
    return sy * (xneg ? F_PI - t : t);
}
