/* im2col for QConv on the GPU: one group of one image, NCHW int8 -> col [OH*OW, Cg*kh*kw].
 *
 * col[p, (c*kh + i)*kw + j] = x[c, oy*sh - ph + i*dh, ox*sw - pw + j*dw], with the
 * input zero point outside the image: padding then contributes (x_zp - x_zp) * w = 0,
 * exactly the QConv rule, after the GEMM folds x_zp into the bias. The column order
 * matches the OIHW weight flattened to [O, Cg*kh*kw], so the GEMM reads w unchanged.
 */
__kernel void ek_im2col_s8_ocl(__global const char* x, int x_off, int Cg, int H, int W,
                               int kh, int kw, int sh, int sw, int ph, int pw, int dh, int dw,
                               int OH, int OW, int x_zp, __global char* col)
{
    const int p = get_global_id(0);          /* output pixel */
    const int kidx = get_global_id(1);       /* (c, i, j) flattened */
    const int Kg = Cg * kh * kw;
    if (p >= OH * OW || kidx >= Kg) return;
    const int j = kidx % kw, i = (kidx / kw) % kh, c = kidx / (kw * kh);
    const int oy = p / OW, ox = p % OW;
    const int iy = oy * sh - ph + i * dh, ix = ox * sw - pw + j * dw;
    char v = (char)x_zp;
    if (iy >= 0 && iy < H && ix >= 0 && ix < W) v = x[x_off + (c * H + iy) * W + ix];
    col[p * Kg + kidx] = v;
}
