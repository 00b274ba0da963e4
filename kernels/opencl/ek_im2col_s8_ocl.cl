/* im2col for QConv on the GPU: one group of one image, NCHW int8 -> col [OH*OW, Cg*kh*kw].
 *
 * col[p, (c*kh + i)*kw + j] = x[c, oy*sh - ph + i*dh, ox*sw - pw + j*dw], with the
 * input zero point outside the image: padding then contributes (x_zp - x_zp) * w = 0,
 * exactly the QConv rule, after the GEMM folds x_zp into the bias. The column order
 * matches the OIHW weight flattened to [O, Cg*kh*kw], so the GEMM reads w unchanged.
 *
 * One work-item per (input channel c = dim 0, output pixel p = dim 1) writes its kh*kw
 * contiguous bytes; neighbouring work-items write neighbouring runs, and the index
 * arithmetic (divisions) is done once per work-item rather than once per byte.
 * Launch: global (Cg, OH*OW).
 */
__kernel void ek_im2col_s8_ocl(__global const char* x, int x_off, int Cg, int H, int W,
                               int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw,
                               int OH, int OW, int x_zp, __global char* col)
{
    const int c = get_global_id(0);
    const int p = get_global_id(1);
    if (c >= Cg || p >= OH * OW) return;
    const int Kg = Cg * kh * kw;
    const int oy = p / OW, ox = p % OW;
    __global const char* xc = x + x_off + c * H * W;
    __global char* out = col + p * Kg + c * kh * kw;
    for (int i = 0; i < kh; ++i) {
        const int iy = oy * sh - ph + i * dh;
        const bool row_in = iy >= 0 && iy < H;
        for (int j = 0; j < kw; ++j) {
            const int ix = ox * sw - pw + j * dw;
            out[i * kw + j] = (row_in && ix >= 0 && ix < W) ? xc[iy * W + ix] : (char)x_zp;
        }
    }
}
