/* The machine's memory read bandwidth, measured the way P4 must read its
 * data: two arrays of N f32 (default 10^7 each, far larger than the caches)
 * summed with 16-byte vector loads into eight accumulators, on one thread, two and every core. Prints GB/s
 * (10^9 bytes) and the last lines "read_gbs_1=X", "read_gbs_2=X", "read_gbs_all=X" and
 * "read_ms_1=X" (the one-thread time to read both arrays once).
 *
 *   bandwidth [-n N] [--runs R] */
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#define BENCH_PROG "bandwidth"
#include "bench.h"

/* 16 bytes: SSE2 registers, which every x86-64 has (the build has no -mavx) */
typedef float v4f __attribute__((vector_size(16)));

typedef struct {
    const float *a, *b;
    size_t n;
    float sum;
} part;

/* Sums a[0..n) + b[0..n) (n a multiple of 32) with independent
 * accumulators, so that loads, not the add latency, set the pace. */
static void *read_part(void *arg)
{
    part *p = arg;
    v4f s0 = {0}, s1 = {0}, s2 = {0}, s3 = {0}, s4 = {0}, s5 = {0}, s6 = {0}, s7 = {0}, v[8];
    for (int k = 0; k < 2; k++) {
        const float *x = k ? p->b : p->a;
        for (size_t i = 0; i < p->n; i += 32) {
            memcpy(v, x + i, sizeof v);
            s0 += v[0];
            s1 += v[1];
            s2 += v[2];
            s3 += v[3];
            s4 += v[4];
            s5 += v[5];
            s6 += v[6];
            s7 += v[7];
        }
    }
    v4f t = s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7;
    p->sum = t[0] + t[1] + t[2] + t[3];
    return NULL;
}

/* Milliseconds to read both arrays once with `threads` threads. */
static double read_ms(const float *a, const float *b, size_t n, int threads, float *sum)
{
    part parts[64];
    pthread_t tid[64];
    size_t chunk = (n / (size_t)threads) / 32 * 32;
    double t0 = now_ms();
    for (int t = 0; t < threads; t++) {
        size_t lo = (size_t)t * chunk, len = t == threads - 1 ? n - lo : chunk;
        parts[t] = (part){a + lo, b + lo, len, 0};
        if (t) pthread_create(&tid[t], NULL, read_part, &parts[t]);
    }
    read_part(&parts[0]);
    for (int t = 1; t < threads; t++) pthread_join(tid[t], NULL);
    double ms = now_ms() - t0;
    *sum = 0;
    for (int t = 0; t < threads; t++) *sum += parts[t].sum;
    return ms;
}

int main(int argc, char **argv)
{
    int64_t count = 10000000;
    int runs = 9;
    size_and_runs(argc, argv, &count, &runs);
    size_t n = (size_t)count;
    n = (n + 31) / 32 * 32;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int threads = cores < 1 ? 1 : cores > 64 ? 64 : (int)cores;
    float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
    double *ms = malloc(sizeof *ms * (size_t)runs);
    if (!a || !b || !ms) {
        fprintf(stderr, "bandwidth: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++) a[i] = b[i] = (float)(i & 1023); /* touch every page first */
    /* one thread, two (the ceiling of two MPI ranks' speed-up), all */
    double gbs[3], one_ms = 0;
    float sum = 0;
    for (int k = 0; k < 3; k++) {
        int th = k == 0 ? 1 : k == 1 ? (threads < 2 ? threads : 2) : threads;
        read_ms(a, b, n, th, &sum); /* warm-up */
        for (int r = 0; r < runs; r++) ms[r] = read_ms(a, b, n, th, &sum);
        double m = median(ms, runs);
        if (!k) one_ms = m;
        gbs[k] = 2.0 * (double)n * sizeof(float) / m / 1e6;
    }
    printf(
        "memory read bandwidth (2 x %zu f32, median of %d): one thread %.1f GB/s, two %.1f GB/s, %d threads %.1f "
        "GB/s (checksum %g)\n",
        n, runs, gbs[0], gbs[1], threads, gbs[2], (double)sum);
    printf("read_gbs_1=%.2f\nread_gbs_2=%.2f\nread_gbs_all=%.2f\nread_ms_1=%.3f\n", gbs[0], gbs[1], gbs[2], one_ms);
    free(a);
    free(b);
    free(ms);
    return 0;
}
