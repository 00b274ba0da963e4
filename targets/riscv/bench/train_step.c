/* Bare-metal training-step benchmark: a ResNet-8-style and a DS-CNN-style network (no BN)
 * and a single conv2d layer, trained with the float kernels; minstret counts each phase.
 * Build with -DEK_VARIANT=0 (FP32 scalar ref), 1 (FP32 RVV) or 2 (FP16 RVV),
 * -DEK_STEPS=n and -DEK_NETS=mask. Output lines (parsed by bench/riscv_train.py and the tests):
 *   RESULT <net> <phase> <instructions> <macs>
 *   LOSS <net> <step> <loss*1e6 as integer>
 * phases: fwd, bww (weight+bias grads), bwx (input grads), other (loss, masks, adds,
 * pooling backward), sgd, step (everything). */
#include "ek_float.h"
#include "ek_rv_platform.h"

#ifndef EK_VARIANT
#define EK_VARIANT 2
#endif
#ifndef EK_STEPS
#define EK_STEPS 1
#endif
#ifndef EK_NETS
#define EK_NETS 7 /* bit mask: 1 conv2d, 2 resnet8, 4 dscnn */
#endif
#if EK_VARIANT == 0
typedef float T;
#define K(op) ek_##op##_f32_ref
#elif EK_VARIANT == 1
typedef float T;
#define K(op) ek_##op##_f32_rvv
#else
typedef _Float16 T;
#define K(op) ek_##op##_f16_rvv
#endif
/* FP16: weight gradients (sums over every pixel) accumulate in FP32 (EK_ACC32); the
 * forward pass and input gradients (sums over <= 9*cin or cout terms) in FP16 */
#define GRAD_FLAGS EK_ACC32
#define LOSS_SCALE 128.0f
#define LR 0.01f

enum { PH_FWD, PH_BWW, PH_BWX, PH_OTHER, PH_SGD, N_PH };
static const char *PH_NAME[N_PH] = {"fwd", "bww", "bwx", "other", "sgd"};
static uint64_t ph_count[N_PH], ph_macs[N_PH], t_mark;
static int cur_ph = -1;

static void phase(int ph) { /* charge the instructions since the last mark to cur_ph */
    uint64_t now = ek_rv_instret();
    if (cur_ph >= 0) ph_count[cur_ph] += now - t_mark;
    cur_ph = ph;
    t_mark = ek_rv_instret();
}

static uint32_t rng_state = 12345;
static float frand(void) { /* uniform in [-1, 1) */
    rng_state = rng_state * 1664525u + 1013904223u;
    return (float)(int32_t)(rng_state >> 8 << 8) / 2147483648.0f;
}

static T *tensor(size_t n, float scale) {
    T *p = ek_rv_alloc(n * sizeof(T));
    for (size_t i = 0; i < n; i++) p[i] = (T)(frand() * scale);
    return p;
}

/* buffers that start at zero draw no random numbers, so the Python oracle
 * (tests/test_riscv_baremetal.py) replays the same initialization */
static T *zeros(size_t n) {
    T *p = ek_rv_alloc(n * sizeof(T));
    for (size_t i = 0; i < n; i++) p[i] = 0;
    return p;
}

static T *scratch;
static size_t scratch_bytes;

typedef struct {
    ek_conv_params_t p;
    int dw;             /* depthwise */
    T *w, *b, *gw, *gb; /* weights and their gradients */
    T *x, *y;           /* input (owned by the previous layer), output */
    T *gy, *gx;         /* gradient wrt output (pre-activation after the mask), wrt input */
    int need_gx;        /* the first layer needs no input gradient */
} layer_t;

static layer_t conv(T *x, int cin, int h, int w, int cout, int kh, int kw, int s, int pt, int pl,
                    int pb, int pr, int act, int dw, int need_gx) {
    layer_t L = {{cin, h, w, dw ? cin : cout, kh, kw, s, s, pt, pl, pb, pr, 0, 0, act, 0}, dw};
    ek_conv_params_init(&L.p);
    size_t nw = (size_t)L.p.cout * (dw ? 1 : cin) * kh * kw, ny = (size_t)L.p.cout * L.p.ho * L.p.wo;
    float fan_in = (float)((dw ? 1 : cin) * kh * kw);
    float scale = 1.7f;
    while (scale * scale * fan_in > 3.0f * 2.0f) scale *= 0.9f; /* ~He-uniform */
    L.w = tensor(nw, scale);
    L.b = tensor(L.p.cout, 0.05f);
    L.gw = zeros(nw);
    L.gb = zeros(L.p.cout);
    L.x = x;
    L.y = zeros(ny);
    L.gy = zeros(ny);
    L.gx = need_gx ? zeros((size_t)cin * h * w) : 0;
    L.need_gx = need_gx;
    size_t sb = dw ? K(dwconv2d_scratch_bytes)(&L.p) : K(conv2d_scratch_bytes)(&L.p);
    if (sb > scratch_bytes) scratch_bytes = sb;
    return L;
}

static uint64_t macs_of(const layer_t *L) {
    return (uint64_t)L->p.cout * L->p.ho * L->p.wo * (L->dw ? 1 : L->p.cin) * L->p.kh * L->p.kw;
}

static void fwd(layer_t *L) {
    phase(PH_FWD);
    if (L->dw) K(dwconv2d)(L->x, L->w, L->b, L->y, scratch, &L->p);
    else K(conv2d)(L->x, L->w, L->b, L->y, scratch, &L->p);
    ph_macs[PH_FWD] += macs_of(L);
}

/* L->gy holds dL/d(output); turn it into dL/d(pre-activation), then both gradients */
static void bwd(layer_t *L) {
    phase(PH_OTHER);
    int n = L->p.cout * L->p.ho * L->p.wo;
    if (L->p.act == EK_ACT_RELU) K(relu_bw)(L->y, L->gy, L->gy, n);
    ek_conv_params_t gp = L->p;
    gp.flags = GRAD_FLAGS;
    phase(PH_BWW);
    if (L->dw) K(dwconv2d_bww)(L->x, L->gy, L->gw, L->gb, scratch, &gp);
    else K(conv2d_bww)(L->x, L->gy, L->gw, L->gb, scratch, &gp);
    ph_macs[PH_BWW] += macs_of(L);
    if (!L->need_gx) return;
    phase(PH_BWX);
    gp.flags = 0;
    if (L->dw) K(dwconv2d_bwx)(L->gy, L->w, L->gx, scratch, &gp);
    else K(conv2d_bwx)(L->gy, L->w, L->gx, scratch, &gp);
    ph_macs[PH_BWX] += macs_of(L);
}

static void sgd(layer_t *L) {
    phase(PH_SGD);
    int nw = L->p.cout * (L->dw ? 1 : L->p.cin) * L->p.kh * L->p.kw;
    K(sgd)(L->w, L->gw, nw, LR / LOSS_SCALE);
    K(sgd)(L->b, L->gb, L->p.cout, LR / LOSS_SCALE);
}

/* ---- the head shared by both networks: global average pool + linear + loss --------- */
typedef struct {
    ek_pool_params_t pp;
    int c, classes;
    T *feat, *pooled, *fw, *fb, *gfw, *gfb, *logits, *glogits, *gpooled, *gfeat;
} head_t;

static head_t head(T *feat, int c, int h, int w, int classes) {
    head_t H = {{c, h, w, h, w, h, w, 0, 0}, c, classes};
    ek_pool_params_init(&H.pp);
    H.feat = feat;
    H.pooled = zeros(c);
    H.fw = tensor((size_t)classes * c, 1.0f / 8);
    H.fb = tensor(classes, 0.05f);
    H.gfw = zeros((size_t)classes * c);
    H.gfb = zeros(classes);
    H.logits = zeros(classes);
    H.glogits = zeros(classes);
    H.gpooled = zeros(c);
    H.gfeat = zeros((size_t)c * h * w);
    return H;
}

static float head_step(head_t *H, int label) {
    phase(PH_OTHER);
    K(avgpool2d)(H->feat, H->pooled, &H->pp);
    phase(PH_FWD);
    K(linear)(H->pooled, H->fw, H->fb, H->logits, 1, H->c, H->classes, EK_ACT_NONE, 0);
    ph_macs[PH_FWD] += (uint64_t)H->c * H->classes;
    phase(PH_OTHER);
    float loss = K(softmax_xent)(H->logits, label, H->glogits, H->classes, LOSS_SCALE);
    phase(PH_BWW);
    K(linear_bww)(H->pooled, H->glogits, H->gfw, H->gfb, 1, H->c, H->classes, GRAD_FLAGS);
    ph_macs[PH_BWW] += (uint64_t)H->c * H->classes;
    phase(PH_BWX);
    K(linear_bwx)(H->glogits, H->fw, H->gpooled, 1, H->c, H->classes, 0);
    ph_macs[PH_BWX] += (uint64_t)H->c * H->classes;
    phase(PH_OTHER);
    K(avgpool2d_bw)(H->gpooled, H->gfeat, &H->pp);
    return loss;
}

static void head_sgd(head_t *H) {
    phase(PH_SGD);
    K(sgd)(H->fw, H->gfw, H->c * H->classes, LR / LOSS_SCALE);
    K(sgd)(H->fb, H->gfb, H->classes, LR / LOSS_SCALE);
}

static void report(const char *net) {
    phase(-1);
    uint64_t tot = 0, macs = 0;
    for (int i = 0; i < N_PH; i++) {
        ek_rv_puts("RESULT ");
        ek_rv_puts(net);
        ek_rv_putc(' ');
        ek_rv_puts(PH_NAME[i]);
        ek_rv_putc(' ');
        ek_rv_put_u64(ph_count[i]);
        ek_rv_putc(' ');
        ek_rv_put_u64(ph_macs[i]);
        ek_rv_putc('\n');
        tot += ph_count[i];
        macs += ph_macs[i];
        ph_count[i] = ph_macs[i] = 0;
    }
    ek_rv_puts("RESULT ");
    ek_rv_puts(net);
    ek_rv_puts(" step ");
    ek_rv_put_u64(tot);
    ek_rv_putc(' ');
    ek_rv_put_u64(macs);
    ek_rv_putc('\n');
}

static void print_loss(const char *net, int step, float loss) {
    ek_rv_puts("LOSS ");
    ek_rv_puts(net);
    ek_rv_putc(' ');
    ek_rv_put_u64((uint64_t)step);
    ek_rv_putc(' ');
    ek_rv_put_u64((uint32_t)(int32_t)(loss * 1e6f)); /* 32-bit: no libgcc on bare metal */
    ek_rv_putc('\n');
}

/* ---- single conv2d training step: 16 -> 16 channels, 3x3, 32x32 ---------------------- */
static void bench_conv(void) {
    T *x = tensor(16 * 32 * 32, 1.0f);
    layer_t L = conv(x, 16, 32, 32, 16, 3, 3, 1, 1, 1, 1, 1, EK_ACT_NONE, 0, 1);
    scratch = ek_rv_alloc(scratch_bytes);
    for (size_t i = 0; i < 16 * 32 * 32; i++) L.gy[i] = (T)(frand() * LOSS_SCALE * 1e-3f);
    fwd(&L);
    bwd(&L);
    report("conv2d");
}

/* ---- ResNet-8 (MLPerf Tiny, no BN): 32x32x3 -> 10 ------------------------------------ */
typedef struct {
    layer_t a, b, sc;  /* conv a (relu), conv b (no act), shortcut 1x1 (or none) */
    int has_sc;
    T *sum, *gsum;     /* relu(b + shortcut) and its gradient */
    int n_out;
} block_t;

static block_t block(T *x, int cin, int h, int cout, int s) {
    block_t B;
    B.a = conv(x, cin, h, h, cout, 3, 3, s, 1, 1, 1, 1, EK_ACT_RELU, 0, 1);
    int ho = B.a.p.ho;
    B.b = conv(B.a.y, cout, ho, ho, cout, 3, 3, 1, 1, 1, 1, 1, EK_ACT_NONE, 0, 1);
    B.has_sc = s != 1 || cin != cout;
    if (B.has_sc) B.sc = conv(x, cin, h, h, cout, 1, 1, s, 0, 0, 0, 0, EK_ACT_NONE, 0, 1);
    if (B.has_sc) B.sc.gy = B.b.gy;
    B.a.gy = B.b.gx;
    B.n_out = cout * ho * ho;
    B.sum = zeros(B.n_out);
    B.gsum = zeros(B.n_out);
    return B;
}

static void block_fwd(block_t *B) {
    fwd(&B->a);
    fwd(&B->b);
    if (B->has_sc) fwd(&B->sc);
    phase(PH_OTHER);
    K(add)(B->b.y, B->has_sc ? B->sc.y : B->a.x, B->sum, B->n_out);
    K(relu)(B->sum, B->sum, B->n_out);
}

/* gout: gradient wrt the block output; leaves dL/dx in gx (size of the block input).
 * Gradient buffers alias where the math allows (set up in block()): the shortcut reads
 * the same gradient as conv b, and conv a's output gradient is conv b's input gradient. */
static void block_bwd(block_t *B, const T *gout, T *gx, int n_in) {
    phase(PH_OTHER);
    K(relu_bw)(B->sum, gout, B->b.gy, B->n_out);
    bwd(&B->b);
    bwd(&B->a);
    if (B->has_sc) bwd(&B->sc);
    phase(PH_OTHER);
    K(add)(B->a.gx, B->has_sc ? B->sc.gx : B->b.gy, gx, n_in);
}

static void sgd_block(block_t *B) {
    sgd(&B->a);
    sgd(&B->b);
    if (B->has_sc) sgd(&B->sc);
}

static void bench_resnet8(void) {
    rng_state = 12345;
    T *x = tensor(3 * 32 * 32, 1.0f);
    layer_t stem = conv(x, 3, 32, 32, 16, 3, 3, 1, 1, 1, 1, 1, EK_ACT_RELU, 0, 0);
    block_t b1 = block(stem.y, 16, 32, 16, 1);
    block_t b2 = block(b1.sum, 16, 32, 32, 2);
    block_t b3 = block(b2.sum, 32, 16, 64, 2);
    head_t H = head(b3.sum, 64, 8, 8, 10);
    scratch = ek_rv_alloc(scratch_bytes);
    for (int step = 0; step < EK_STEPS; step++) {
        fwd(&stem);
        block_fwd(&b1);
        block_fwd(&b2);
        block_fwd(&b3);
        float loss = head_step(&H, 3);
        block_bwd(&b3, H.gfeat, b2.gsum, b2.n_out);
        block_bwd(&b2, b2.gsum, b1.gsum, b1.n_out);
        block_bwd(&b1, b1.gsum, stem.gy, 16 * 32 * 32);
        bwd(&stem);
        head_sgd(&H);
        sgd(&stem);
        sgd_block(&b1);
        sgd_block(&b2);
        sgd_block(&b3);
        print_loss("resnet8", step, loss);
        if (step == 0) report("resnet8");
    }
    phase(-1);
}

/* ---- DS-CNN (MLPerf Tiny KWS, no BN): 49x10 MFCC -> 12 -------------------------------- */
static void bench_dscnn(void) {
    rng_state = 12345;
    T *x = tensor(49 * 10, 1.0f);
    layer_t stem = conv(x, 1, 49, 10, 64, 10, 4, 2, 4, 1, 5, 2, EK_ACT_RELU, 0, 0);
    layer_t dw[4], pw[4];
    T *cur = stem.y;
    for (int i = 0; i < 4; i++) {
        dw[i] = conv(cur, 64, 25, 5, 64, 3, 3, 1, 1, 1, 1, 1, EK_ACT_RELU, 1, 1);
        pw[i] = conv(dw[i].y, 64, 25, 5, 64, 1, 1, 1, 0, 0, 0, 0, EK_ACT_RELU, 0, 1);
        cur = pw[i].y;
    }
    head_t H = head(cur, 64, 25, 5, 12);
    /* gradient buffers alias along the chain: no copies */
    pw[3].gy = H.gfeat;
    for (int i = 0; i < 4; i++) dw[i].gy = pw[i].gx;
    for (int i = 1; i < 4; i++) pw[i - 1].gy = dw[i].gx;
    stem.gy = dw[0].gx;
    scratch = ek_rv_alloc(scratch_bytes);
    for (int step = 0; step < EK_STEPS; step++) {
        fwd(&stem);
        for (int i = 0; i < 4; i++) {
            fwd(&dw[i]);
            fwd(&pw[i]);
        }
        float loss = head_step(&H, 5);
        for (int i = 3; i >= 0; i--) {
            bwd(&pw[i]);
            bwd(&dw[i]);
        }
        bwd(&stem);
        head_sgd(&H);
        sgd(&stem);
        for (int i = 0; i < 4; i++) {
            sgd(&dw[i]);
            sgd(&pw[i]);
        }
        print_loss("dscnn", step, loss);
        if (step == 0) report("dscnn");
    }
    phase(-1);
}

int main(void) {
    if (EK_NETS & 1) bench_conv();
    scratch_bytes = 0;
    if (EK_NETS & 2) bench_resnet8();
    scratch_bytes = 0;
    if (EK_NETS & 4) bench_dscnn();
    ek_rv_puts("DONE\n");
    return 0;
}
