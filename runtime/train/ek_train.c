/* The on-device training runtime: forward, backward (weight and input gradients),
 * SGD with momentum and weight decay, double-buffered checkpoints, and the HIL hooks
 * (ek_train_step & co. in ek_hil.h) that let the host stream samples.
 * See ek_train.h for the model of what is trained and how memory is saved. */
#if __has_include(<string.h>)
#include <string.h>
#else /* bare-metal RISC-V without a libc: targets/riscv/platform.c defines these two */
#include <stddef.h>
void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
#endif
#include "ek_train.h"
#include "ek_float.h"
#include "ek_hil.h"              /* ek_hil_crc32 for the checkpoints; the HIL hooks below */
#ifndef EK_TRAIN_NO_HIL
#include "ek_model_api.h"
#endif

static float g_lr = 0.01f, g_momentum = 0.9f, g_wd = 0.0f;
static int g_bias_only = 0;
static uint32_t g_pending = 0;       /* samples accumulated since the last APPLY */
static uint32_t g_seen = 0;
static uint32_t g_restored = 0;
static int g_booted = 0;             /* .bss: 0 after every reset, so boot runs lazily once */

void ek_train_configure(float lr, float momentum, float weight_decay, int bias_only)
{
    g_lr = lr;
    g_momentum = momentum;
    g_wd = weight_decay;
    g_bias_only = bias_only || ek_train_model.frozen_weights; /* const weights never move */
}

static inline int mask_bit(const uint32_t *m, uint32_t i) { return (int)((m[i >> 5] >> (i & 31)) & 1u); }

float ek_train_forward_backward(const float *feature, int label, int accumulate, uint8_t *pred)
{
    ek_train_model_t *M = &ek_train_model;
    uint32_t n = M->n_layers;
    if (feature != M->layers[0].x) memcpy(M->layers[0].x, feature, sizeof(float) * M->feature_len);
    for (uint32_t l = 0; l < n; l++) {
        ek_train_layer_t *L = &M->layers[l];
        float *y = (l + 1 < n) ? M->layers[l + 1].x : M->logits;
        ek_linear_f32_ref(L->x, L->w, L->b, y, 1, L->in, L->out, EK_ACT_NONE, 0);
        if (L->relu) {
            /* Keep 1 bit per unit for the backward pass instead of the pre-activation. */
            for (uint32_t w = 0; w < (L->out + 31u) / 32u; w++) L->mask[w] = 0;
            for (uint32_t i = 0; i < L->out; i++) {
                if (y[i] > 0.0f) L->mask[i >> 5] |= 1u << (i & 31);
                else y[i] = 0.0f;
            }
        }
    }
    uint32_t best = 0;
    for (uint32_t i = 1; i < M->n_classes; i++)
        if (M->logits[i] > M->logits[best]) best = i;
    if (pred) *pred = (uint8_t)best;
    float loss = ek_softmax_xent_f32_ref(M->logits, label, M->dlogits, (int)M->n_classes, 1.0f);
    if (!accumulate) return loss;

    const float *dy = M->dlogits;
    for (int l = (int)n - 1; l >= 0; l--) {
        ek_train_layer_t *L = &M->layers[l];
        if (g_bias_only || L->gw == NULL) {
            for (uint32_t o = 0; o < L->out; o++) L->gb[o] += dy[o];
        } else {
            ek_linear_bww_f32_ref(L->x, dy, L->gw, L->gb, 1, L->in, L->out, EK_ACCUMULATE);
        }
        if (l == 0) break;
        float *dx = (dy == M->grad_a) ? M->grad_b : M->grad_a;
        ek_linear_bwx_f32_ref(dy, L->w, dx, 1, L->in, L->out, 0);
        const ek_train_layer_t *P = &M->layers[l - 1];
        if (P->relu)
            for (uint32_t i = 0; i < L->in; i++)
                if (!mask_bit(P->mask, i)) dx[i] = 0.0f;
        dy = dx;
    }
    g_pending++;
    g_seen++;
    return loss;
}

/* torch.optim.SGD: d = g + wd * p; buf = momentum * buf + d; p -= lr * buf. */
static void sgd(float *p, float *g, float *buf, uint32_t n, float inv_count)
{
    for (uint32_t i = 0; i < n; i++) {
        float d = g[i] * inv_count + g_wd * p[i];
        buf[i] = g_momentum * buf[i] + d;
        p[i] -= g_lr * buf[i];
        g[i] = 0.0f;
    }
}

void ek_train_apply(uint32_t count)
{
    if (count == 0) return;
    float inv = 1.0f / (float)count;
    ek_train_model_t *M = &ek_train_model;
    for (uint32_t l = 0; l < M->n_layers; l++) {
        ek_train_layer_t *L = &M->layers[l];
        if (!g_bias_only && L->gw) sgd(L->w, L->gw, L->mw, (uint32_t)L->in * L->out, inv);
        sgd(L->b, L->gb, L->mb, L->out, inv);
    }
    g_pending = 0;
}

/* ---- parameters as one flat float vector: [w0, b0, w1, b1, ...] ---------------- */

static void params_copy(float *dst, int to_model)
{
    ek_train_model_t *M = &ek_train_model;
    float *p = dst;
    for (uint32_t l = 0; l < M->n_layers; l++) {
        ek_train_layer_t *L = &M->layers[l];
        uint32_t nw = (uint32_t)L->in * L->out;
        if (to_model) { memcpy(L->w, p, 4 * nw); memcpy(L->b, p + nw, 4 * L->out); }
        else { memcpy(p, L->w, 4 * nw); memcpy(p + nw, L->b, 4 * L->out); }
        p += nw + L->out;
    }
}

/* The trained state (checkpoint payload, deployed init): all parameters, or only the
 * biases when the weights are frozen (they cannot change; saving them would cost RAM). */
static void state_copy(float *dst, int to_model)
{
    ek_train_model_t *M = &ek_train_model;
    if (!M->frozen_weights) { params_copy(dst, to_model); return; }
    float *p = dst;
    for (uint32_t l = 0; l < M->n_layers; l++) {
        ek_train_layer_t *L = &M->layers[l];
        if (to_model) memcpy(L->b, p, 4 * L->out);
        else memcpy(p, L->b, 4 * L->out);
        p += L->out;
    }
}

static void zero_state(void)
{
    ek_train_model_t *M = &ek_train_model;
    for (uint32_t l = 0; l < M->n_layers; l++) {
        ek_train_layer_t *L = &M->layers[l];
        uint32_t nw = (uint32_t)L->in * L->out;
        if (L->gw) { memset(L->gw, 0, 4 * nw); memset(L->mw, 0, 4 * nw); }
        memset(L->gb, 0, 4 * L->out); memset(L->mb, 0, 4 * L->out);
    }
    g_pending = 0;
}

/* ---- checkpoints: two slots, newest valid one wins ----------------------------- */

static uint32_t slot_crc(const ek_train_ckpt_t *h, const float *data, uint32_t n)
{
    uint32_t crc = ek_hil_crc32(0, (const uint8_t *)&h->seq, 8);
    return ek_hil_crc32(crc, (const uint8_t *)data, 4u * n);
}

static int slot_valid(int s)
{
    ek_train_model_t *M = &ek_train_model;
    const ek_train_ckpt_t *h = &M->ckpt[s];
    const float *d = M->ckpt_data + (uint32_t)s * M->ckpt_floats;
    return h->magic == EK_TRAIN_CKPT_MAGIC && h->n_floats == M->ckpt_floats && h->seq != 0 &&
           slot_crc(h, d, M->ckpt_floats) == h->crc;
}

static int newest_slot(void)
{
    int v0 = slot_valid(0), v1 = slot_valid(1);
    if (v0 && v1) return ek_train_model.ckpt[1].seq > ek_train_model.ckpt[0].seq ? 1 : 0;
    return v0 ? 0 : (v1 ? 1 : -1);
}

void ek_train_boot(void)
{
    int s = newest_slot();
    g_restored = 0;
    if (s >= 0) {
        state_copy(ek_train_model.ckpt_data + (uint32_t)s * ek_train_model.ckpt_floats, 1);
        g_restored = ek_train_model.ckpt[s].seq;
    }
    zero_state();
    g_booted = 1;
}

uint32_t ek_train_restored_seq(void) { return g_restored; }

static uint32_t write_checkpoint(int torn)
{
    ek_train_model_t *M = &ek_train_model;
    int cur = newest_slot();
    int s = cur == 0 ? 1 : 0;                 /* never overwrite the newest good one */
    uint32_t seq = (cur >= 0 ? M->ckpt[cur].seq : 0) + 1;
    ek_train_ckpt_t *h = &M->ckpt[s];
    float *d = M->ckpt_data + (uint32_t)s * M->ckpt_floats;
    h->magic = 0;                             /* invalid while being written */
    state_copy(d, 0);
    h->seq = seq;
    h->n_floats = M->ckpt_floats;
    h->crc = slot_crc(h, d, M->ckpt_floats);
    if (torn) {
        /* Simulate power loss mid-write: the header is complete, half the data is not. */
        for (uint32_t i = M->ckpt_floats / 2; i < M->ckpt_floats; i++) d[i] = -d[i] - 1.0f;
        h->magic = EK_TRAIN_CKPT_MAGIC;
        return seq;
    }
    h->magic = EK_TRAIN_CKPT_MAGIC;
    return seq;
}

uint32_t ek_train_checkpoint(void) { return write_checkpoint(0); }

/* ---- HIL hooks ------------------------------------------------------------------ */
/* Programs that train from their own data (the RISC-V fine-tuning program: its backbone
 * is FP16, not the int8 model API) build with EK_TRAIN_NO_HIL and call the functions
 * above directly. */
#ifndef EK_TRAIN_NO_HIL

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static float getf(const uint8_t *p) { float f; memcpy(&f, p, 4); return f; }

static int load_sample(const uint8_t *arg, uint32_t len, int *label, uint8_t *status)
{
    ek_train_model_t *M = &ek_train_model;
    if (len < 4) { *status = EK_TRAIN_E_ARGS; return -1; }
    *label = arg[1] | (arg[2] << 8);
    if (*label >= (int)M->n_classes) { *status = EK_TRAIN_E_LABEL; return -1; }
    uint8_t flags = arg[3];
    uint32_t pos = 4, slot = 0;
    if (flags & (EK_TRAIN_F_STORE | EK_TRAIN_F_CACHED)) {
        if (len < 6 || (flags & EK_TRAIN_F_CACHED && flags & (EK_TRAIN_F_STORE | EK_TRAIN_F_INPUT))) {
            *status = EK_TRAIN_E_ARGS;
            return -1;
        }
        slot = arg[4] | ((uint32_t)arg[5] << 8);
        if (slot >= M->cache_slots) { *status = EK_TRAIN_E_SLOT; return -1; }
        pos = 6;
    }
    const int8_t *q;
    if (flags & EK_TRAIN_F_CACHED) {
        q = M->feature_cache + slot * M->feature_len;
    } else {
        if (flags & EK_TRAIN_F_INPUT) {
            uint32_t n = len - pos;
            if (n != ek_model_input_bytes(0)) { *status = EK_TRAIN_E_INPUT_SIZE; return -1; }
            memcpy(ek_model_input(0), arg + pos, n);
        } else if (len != pos) {
            *status = EK_TRAIN_E_ARGS;
            return -1;
        }
        if (ek_model_run() != 0) { *status = EK_TRAIN_E_MODEL; return -1; }
        q = (const int8_t *)ek_model_output(0);
        if (flags & EK_TRAIN_F_STORE) memcpy(M->feature_cache + slot * M->feature_len, q, M->feature_len);
    }
    float *x = M->layers[0].x;
    for (uint32_t i = 0; i < M->feature_len; i++) x[i] = M->feature_scale * (float)((int32_t)q[i] - M->feature_zp);
    return 0;
}

int ek_train_step(const uint8_t *arg, uint32_t arg_len, uint8_t *reply, uint32_t reply_cap, uint32_t *reply_len)
{
    if (!g_booted) ek_train_boot();
    if (arg_len < 1 || reply_cap < 20) return -1;
    uint8_t st = EK_TRAIN_OK;
    uint32_t n = 1;
    int label;
    switch (arg[0]) {
    case EK_TRAIN_CONFIG:
        if (arg_len < 14) { st = EK_TRAIN_E_ARGS; break; }
        ek_train_configure(getf(arg + 1), getf(arg + 5), getf(arg + 9), arg[13]);
        break;
    case EK_TRAIN_SAMPLE:
    case EK_TRAIN_EVAL: {
        /* The reply carries the step's cost in counter units (instructions under QEMU
         * -icount): backbone inference + head forward (+ backward). */
        uint64_t c0 = ek_hil_counter();
        if (load_sample(arg, arg_len, &label, &st) != 0) break;
        uint8_t pred = 0;
        float loss = ek_train_forward_backward(ek_train_model.layers[0].x, label, arg[0] == EK_TRAIN_SAMPLE, &pred);
        put32(reply + 6, (uint32_t)(ek_hil_counter() - c0));
        memcpy(reply + 1, &loss, 4);
        reply[5] = pred;
        n = 10;
        break;
    }
    case EK_TRAIN_APPLY: {
        if (g_pending == 0) { st = EK_TRAIN_E_NO_GRADS; break; }
        uint64_t c0 = ek_hil_counter();
        put32(reply + 1, g_pending);
        ek_train_apply(g_pending);
        put32(reply + 5, (uint32_t)(ek_hil_counter() - c0));
        n = 9;
        break;
    }
    case EK_TRAIN_CHECKPOINT:
        put32(reply + 1, ek_train_checkpoint());
        n = 5;
        break;
    case EK_TRAIN_STATUS:
        put32(reply + 1, g_restored);
        put32(reply + 5, ek_train_model.train_bytes);
        put32(reply + 9, ek_train_model.param_floats);
        put32(reply + 13, g_seen);
        n = 17;
        break;
    case EK_TRAIN_RESET_WEIGHTS:
        state_copy((float *)ek_train_model.init, 1);
        zero_state();
        break;
    case EK_TRAIN_TORN_CHECKPOINT:
        put32(reply + 1, write_checkpoint(1));
        n = 5;
        break;
    default:
        st = EK_TRAIN_E_UNKNOWN;
    }
    reply[0] = st;
    *reply_len = st == EK_TRAIN_OK ? n : 1;
    return 0;
}

uint32_t ek_train_weight_bytes(void) { return 4u * ek_train_model.param_floats; }

int ek_train_get_weights(uint32_t offset, uint8_t *dst, uint32_t n)
{
    if (!g_booted) ek_train_boot();
    ek_train_model_t *M = &ek_train_model;
    uint32_t pos = 0;
    for (uint32_t l = 0; l < M->n_layers && n; l++) {
        const ek_train_layer_t *L = &M->layers[l];
        const uint8_t *parts[2] = {(const uint8_t *)L->w, (const uint8_t *)L->b};
        uint32_t sizes[2] = {4u * L->in * L->out, 4u * L->out};
        for (int k = 0; k < 2 && n; k++) {
            if (offset < pos + sizes[k]) {
                uint32_t from = offset - pos, take = sizes[k] - from;
                if (take > n) take = n;
                memcpy(dst, parts[k] + from, take);
                dst += take; offset += take; n -= take;
            }
            pos += sizes[k];
        }
    }
    return n == 0 ? 0 : -1;
}

int ek_train_set_weights(uint32_t offset, const uint8_t *src, uint32_t n)
{
    if (!g_booted) ek_train_boot();
    ek_train_model_t *M = &ek_train_model;
    uint32_t pos = 0;
    for (uint32_t l = 0; l < M->n_layers && n; l++) {
        ek_train_layer_t *L = &M->layers[l];
        uint8_t *parts[2] = {(uint8_t *)L->w, (uint8_t *)L->b};
        uint32_t sizes[2] = {4u * L->in * L->out, 4u * L->out};
        for (int k = 0; k < 2 && n; k++) {
            if (offset < pos + sizes[k]) {
                uint32_t from = offset - pos, take = sizes[k] - from;
                if (take > n) take = n;
                if (k == 0 && M->frozen_weights) return -1;  /* const weights, in flash */
                memcpy(parts[k] + from, src, take);
                src += take; offset += take; n -= take;
            }
            pos += sizes[k];
        }
    }
    return n == 0 ? 0 : -1;
}
#endif /* EK_TRAIN_NO_HIL */
