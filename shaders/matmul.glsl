// Batched out[b] = a[b] @ b[b]: views out (0), a (1), b (2) with strides per
// dim (0 batch, 1 rows, 2 cols). u = {M, N, K, first batch}. A workgroup of
// 16x16 invocations computes a 64x64 tile, 4x4 per invocation, stepping K by
// 16 through shared memory. T is float or double (TG_F64), LOAD reads it.
#define TM 64
#define TK 16
shared T s_a[TK][TM];
shared T s_b[TK][TM];

void main()
{
    uint M = P.u[0], N = P.u[1], K = P.u[2], b = gl_WorkGroupID.z + P.u[3];
    uint row0 = gl_WorkGroupID.y * TM, col0 = gl_WorkGroupID.x * TM;
    uint lid = gl_LocalInvocationIndex, tx = lid % 16u, ty = lid / 16u;
    int ao = P.offset[1] + int(b) * P.strides[1], bo = P.offset[2] + int(b) * P.strides[2];
    int oo = P.offset[0] + int(b) * P.strides[0];
    int ar = P.strides[4 + 1], ac = P.strides[8 + 1], br = P.strides[4 + 2], bc = P.strides[8 + 2];
    T acc[4][4];
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 4; j++) acc[i][j] = T(0);
    for (uint k0 = 0u; k0 < K; k0 += TK) {
        for (uint t = 0u; t < 4u; t++) {
            uint e = lid + 256u * t;
            uint r = e / TK, kk = e % TK, gr = row0 + r, gk = k0 + kk;
            s_a[kk][r] = (gr < M && gk < K) ? LOAD(1, ao + int(gr) * ar + int(gk) * ac) : T(0);
            uint kb = e / TM, c = e % TM, gc = col0 + c, gkb = k0 + kb;
            s_b[kb][c] = (gc < N && gkb < K) ? LOAD(2, bo + int(gkb) * br + int(gc) * bc) : T(0);
        }
        barrier();
        for (uint kk = 0u; kk < TK; kk++) {
            T x[4], y[4];
            for (int i = 0; i < 4; i++) x[i] = s_a[kk][ty + 16u * uint(i)];
            for (int j = 0; j < 4; j++) y[j] = s_b[kk][tx + 16u * uint(j)];
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) acc[i][j] += x[i] * y[j];
        }
        barrier();
    }
    int orr = P.strides[4], oc = P.strides[8];
    for (int i = 0; i < 4; i++) {
        uint r = row0 + ty + 16u * uint(i);
        if (r >= M) continue;
        for (int j = 0; j < 4; j++) {
            uint c = col0 + tx + 16u * uint(j);
            if (c < N) STORE(0, oo + int(r) * orr + int(c) * oc, acc[i][j]);
        }
    }
}
