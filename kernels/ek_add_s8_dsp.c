/* int8 QAdd for Cortex-M DSP.  The cost is the three single-rounding requants per
 * element; each is done exactly with one SMMUL/SMMULR and a shift (ek_arm_dsp.h)
 * instead of a 64-bit multiply-add-shift.  The inputs' requants never overflow the
 * pre-shift (|x - zp| <= 255, left_shift + shift + 1 <= 22), so their path is chosen
 * once per call. */
#include "ek_arm_dsp.h"

EK_INLINE int32_t smmulr(int32_t a, int32_t b) {
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
EK_INLINE int32_t smmul(int32_t a, int32_t b) {
    int32_t r;
    __asm__("smmul %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}

/* requant((x + off) << ls, m, s) for |x + off| <= 255: pre = left shift applied to
 * (x + off); rnd/u the rounding of the shift <= -2 case (u = 0: the SMMULR case). */
typedef struct {
    int32_t off, pre, m, rnd, u;
} in_rq_t;

static in_rq_t in_rq(int32_t off, int32_t ls, int32_t m, int32_t s) {
    in_rq_t r = {off, ls, m, 0, 0};
    if (s >= -1) {
        r.pre = ls + s + 1;
    } else {
        r.u = -1 - s;
        r.rnd = 1 << (r.u - 1);
    }
    return r;
}

EK_INLINE int32_t apply_in(const in_rq_t *q, int32_t x) {
    const int32_t v = (x + q->off) * (1 << q->pre);
    return q->u ? (smmul(v, q->m) + q->rnd) >> q->u : smmulr(v, q->m);
}

/* t[(uint8_t)v] = apply_in(q, v) for every int8 v: the form chosen once, the pre-shifted
 * input stepped by 2^pre (the same int32 value apply_in computes). */
static void fill_table(int32_t *t, const in_rq_t *q) {
    const int32_t step = 1 << q->pre, m = q->m;
    int32_t x = (-128 + q->off) * step;
    /* two entries a trip; v = -128..127 is t[128..255] then t[0..127] */
    int32_t *d = t + 128;
    if (q->u) {
        const int32_t rnd = q->rnd, u = q->u;
        for (int32_t i = 0; i < 256; i += 2, x += 2 * step) {
            d[0] = (smmul(x, m) + rnd) >> u;
            d[1] = (smmul(x + step, m) + rnd) >> u;
            d += 2;
            if (i == 126) d = t;
        }
    } else {
        for (int32_t i = 0; i < 256; i += 2, x += 2 * step) {
            d[0] = smmulr(x, m);
            d[1] = smmulr(x + step, m);
            d += 2;
            if (i == 126) d = t;
        }
    }
}

/* Long adds: each input's requantization depends on one int8 only, so it is tabulated
 * (256 + 256 exact ek_requant values, ~8k instructions once) and each element costs two
 * table loads, the output requantization (SMMLA, SSAT or USAT and one compare, as in
 * EK_DSP_RQ) and the store.  Worth it from about this many elements: */
#define EK_ADD_TABLE_MIN 512

static void add_tabulated(const ek_add_s8_params_t *p, const int8_t *a, const int8_t *b, int8_t *output,
                          int32_t n) {
    int32_t ta[256], tb[256];  /* indexed by the uint8 bit pattern of the input */
    const int32_t ls = p->left_shift;
    if (ls + (p->a_shift > p->b_shift ? p->a_shift : p->b_shift) + 1 <= 22) {
        /* the QAdd constants: SMMUL(R)-based exact requant (|v + off| <= 255), ~3x cheaper */
        const in_rq_t qa = in_rq(p->a_offset, ls, p->a_multiplier, p->a_shift);
        const in_rq_t qb = in_rq(p->b_offset, ls, p->b_multiplier, p->b_shift);
        fill_table(ta, &qa);
        fill_table(tb, &qb);
    } else {
        for (int32_t v = -128; v < 128; v++) {
            ta[(uint8_t)v] = ek_requant((v + p->a_offset) * (1 << ls), p->a_multiplier, p->a_shift);
            tb[(uint8_t)v] = ek_requant((v + p->b_offset) * (1 << ls), p->b_multiplier, p->b_shift);
        }
    }
    const uint8_t *ua = (const uint8_t *)a, *ub = (const uint8_t *)b;
    const int32_t om = p->out_multiplier, os = p->out_shift, zp = p->output_offset;
    const int32_t lo = p->act_min, hi = p->act_max;
    if (os <= -2 && os >= -22 && hi == 127) {
        /* y - lo = (h + (2 (zp - lo) + 1) 2^(u-1)) >> u exactly (SMMLA adds the constant);
         * USAT #8 is the lower clamp, SSAT #8 after adding lo back the upper one (act_max =
         * 127): 11 instructions an element, 8 per trip */
        const int32_t u = -1 - os, rc = (2 * (zp - lo) + 1) << (u - 1);
        const int32_t *pta = ta, *ptb = tb;
        const uint8_t *pa = ua, *pb = ub, *end = ua + (n & ~7);
        int8_t *po = output;
        __asm__("" : "+r"(pta), "+r"(ptb)); /* opaque: keeps the table bases in registers (GCC
                                               would recompute sp + offset every element) */
#define EK_ADD_ONE(j)                                                                              \
    do {                                                                                           \
        int32_t h;                                                                                 \
        __asm__("smmla %0, %1, %2, %3" : "=r"(h) : "r"(pta[pa[j]] + ptb[pb[j]]), "r"(om), "r"(rc)); \
        po[j] = (int8_t)__ssat((int32_t)__usat(h >> u, 8) + lo, 8);                                \
    } while (0)
        for (; pa != end; pa += 8, pb += 8, po += 8) {
            EK_ADD_ONE(0);
            EK_ADD_ONE(1);
            EK_ADD_ONE(2);
            EK_ADD_ONE(3);
            EK_ADD_ONE(4);
            EK_ADD_ONE(5);
            EK_ADD_ONE(6);
            EK_ADD_ONE(7);
        }
        for (int32_t j = 0; j < (n & 7); j++) EK_ADD_ONE(j);
#undef EK_ADD_ONE
        return;
    }
    if (os <= -2 && os >= -22) {
        /* y - lo = (h + (2 (zp - lo) + 1) 2^(u-1)) >> u exactly; |h| <= 2^30 keeps it in range */
        const int32_t u = -1 - os, rc = (2 * (zp - lo) + 1) << (u - 1), span = hi - lo;
        for (int32_t i = 0; i < n; i++) {
            int32_t h;
            __asm__("smmla %0, %1, %2, %3" : "=r"(h) : "r"(ta[ua[i]] + tb[ub[i]]), "r"(om), "r"(rc));
            int32_t v = __usat(h >> u, 8);
            if (v > span) v = span;
            output[i] = (int8_t)(v + lo);
        }
        return;
    }
    for (int32_t i = 0; i < n; i++)
        output[i] = (int8_t)ek_clamp(ek_requant_dsp(ta[ua[i]] + tb[ub[i]], om, os) + zp, lo, hi);
}

EK_NOIPA void ek_add_s8_dsp(const ek_add_s8_params_t *p, const int8_t *a, const int8_t *b,
                            int8_t *output, int32_t n) {
    if (n >= EK_ADD_TABLE_MIN) {
        add_tabulated(p, a, b, output, n);
        return;
    }
    const int32_t ls = p->left_shift;
    if (ls + (p->a_shift > p->b_shift ? p->a_shift : p->b_shift) + 1 > 22) {
        /* not the QAdd constants of the doc: the generic exact path */
        for (int32_t i = 0; i < n; i++) {
            const int32_t ra = ek_requant((a[i] + p->a_offset) * (1 << ls), p->a_multiplier, p->a_shift);
            const int32_t rb = ek_requant((b[i] + p->b_offset) * (1 << ls), p->b_multiplier, p->b_shift);
            output[i] = ek_output_stage(ra + rb, p->out_multiplier, p->out_shift, p->output_offset, p->act_min,
                                        p->act_max);
        }
        return;
    }
    const in_rq_t qa = in_rq(p->a_offset, ls, p->a_multiplier, p->a_shift);
    const in_rq_t qb = in_rq(p->b_offset, ls, p->b_multiplier, p->b_shift);
    const int32_t om = p->out_multiplier, os = p->out_shift, zp = p->output_offset;
    const int32_t lo = p->act_min, hi = p->act_max;
    for (int32_t i = 0; i < n; i++) {
        const int32_t sum = apply_in(&qa, a[i]) + apply_in(&qb, b[i]);
        output[i] = (int8_t)ek_clamp(ek_requant_dsp(sum, om, os) + zp, lo, hi);
    }
}
