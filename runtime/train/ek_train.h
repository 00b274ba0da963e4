/* On-device transfer learning: the trainable head of a deployed model.
 *
 * The frozen backbone is the generated int8 model (ek_model_api.h); its output is the
 * feature vector. The head is a chain of fully connected layers in FP32 (optionally
 * ReLU between them) that the device trains with softmax cross-entropy and SGD with
 * momentum and weight decay (torch.optim.SGD semantics), one sample at a time with
 * gradients accumulated over a mini-batch.
 *
 * Memory (MobileTL-style): the backward pass of a ReLU needs only the sign of its
 * input, so a ReLU stores a bit mask (1 bit per unit) instead of its activation map;
 * the layers' inputs are kept because the weight gradient needs them. With
 * bias_only, the weights get no gradient buffers touched at all and only biases
 * (the "normalization shifts" once BatchNorm is folded) learn; a build made for biases
 * only (frozen_weights) keeps the weights const in flash and checkpoints the biases
 * alone, so its RAM is a few floats per output unit.
 *
 * Everything is static: the generated train_head.c defines `ek_train_model` with all
 * buffers, sized on the host; the total is reported as training memory.
 */
#ifndef EK_TRAIN_H
#define EK_TRAIN_H
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    uint16_t in, out;
    uint8_t relu;                 /* ReLU after this layer (not after the last) */
    float *w, *b;                 /* [out][in], [out] */
    float *gw, *gb;               /* accumulated gradients */
    float *mw, *mb;               /* momentum buffers */
    float *x;                     /* stored input of this layer (for the weight gradient) */
    uint32_t *mask;               /* ReLU bit mask of this layer's output, or NULL */
} ek_train_layer_t;

/* One checkpoint slot's header; the slot's floats follow in ckpt_data. */
typedef struct {
    uint32_t magic;               /* EK_TRAIN_CKPT_MAGIC when written by us */
    uint32_t seq;                 /* increases with every checkpoint; newest valid wins */
    uint32_t n_floats;
    uint32_t crc;                 /* CRC-32 of seq, n_floats and the floats */
} ek_train_ckpt_t;
#define EK_TRAIN_CKPT_MAGIC 0x454B434Bu /* "EKCK" */

typedef struct {
    uint32_t n_layers;
    ek_train_layer_t *layers;
    uint32_t n_classes;
    uint32_t feature_len;         /* = layers[0].in */
    float feature_scale;          /* dequantization of the backbone's int8 output */
    int32_t feature_zp;
    float *logits, *dlogits;      /* [n_classes] */
    float *grad_a, *grad_b;       /* ping-pong input-gradient buffers [max width] */
    uint32_t param_floats;        /* sum of w + b sizes: the checkpoint payload */
    uint32_t train_bytes;         /* every static byte the training runtime uses */
    const float *init;            /* the deployed state (ckpt_floats), in flash (for RESET_WEIGHTS) */
    ek_train_ckpt_t *ckpt;        /* [2] headers, in .noinit (survive a warm reset) */
    float *ckpt_data;             /* [2][ckpt_floats], in .noinit */
    uint32_t ckpt_floats;         /* the trained state: param_floats, or the biases alone */
    uint32_t frozen_weights;      /* bias-only build: weights are const (flash), never written */
    int8_t *feature_cache;        /* [cache_slots][feature_len] backbone outputs, or NULL */
    uint32_t cache_slots;
} ek_train_model_t;

extern ek_train_model_t ek_train_model; /* generated: train_head.c */

/* TRAIN_STEP sub-commands (first byte of the HIL TRAIN_STEP payload); every reply
 * starts with a status byte (EK_TRAIN_OK or an EK_TRAIN_E_* code). */
enum {
    EK_TRAIN_CONFIG = 1,       /* f32 lr, f32 momentum, f32 weight_decay, u8 bias_only */
    EK_TRAIN_SAMPLE = 2,       /* u16 label, u8 flags, [u16 slot], [input bytes] -> f32 loss, u8 pred, u32 cost */
    EK_TRAIN_APPLY = 3,        /* -> u32 samples averaged, u32 cost */
    EK_TRAIN_EVAL = 4,         /* u16 label, u8 flags, [u16 slot], [input] -> f32 loss, u8 pred, u32 cost */
    EK_TRAIN_CHECKPOINT = 5,   /* -> u32 sequence number written */
    EK_TRAIN_STATUS = 6,       /* -> u32 restored seq, u32 train bytes, u32 param floats, u32 samples */
    EK_TRAIN_RESET_WEIGHTS = 7,/* back to the deployed weights */
    EK_TRAIN_TORN_CHECKPOINT = 8 /* fault injection: a checkpoint whose data is half written (as if power
                                    failed mid-write; the host then resets the device) */
};
/* SAMPLE/EVAL flags. The backbone is frozen, so its int8 feature of a sample never
 * changes: STORE keeps it in a feature-cache slot (u16 slot after the flags) and a later
 * epoch sends only CACHED + the slot, skipping both the transfer and the backbone. */
enum { EK_TRAIN_F_INPUT = 1, EK_TRAIN_F_STORE = 2, EK_TRAIN_F_CACHED = 4 };
enum {
    EK_TRAIN_OK = 0, EK_TRAIN_E_LABEL = 1, EK_TRAIN_E_INPUT_SIZE = 2, EK_TRAIN_E_ARGS = 3,
    EK_TRAIN_E_UNKNOWN = 4, EK_TRAIN_E_MODEL = 5, EK_TRAIN_E_NO_GRADS = 6, EK_TRAIN_E_SLOT = 7
};

/* The pieces, exposed for host-native tests (ctypes) and the benchmarks. */
float ek_train_forward_backward(const float *feature, int label, int accumulate, uint8_t *pred);
void ek_train_apply(uint32_t count);
void ek_train_configure(float lr, float momentum, float weight_decay, int bias_only);
void ek_train_boot(void);            /* restore the newest valid checkpoint, if any */
uint32_t ek_train_checkpoint(void);  /* returns the sequence number written */
uint32_t ek_train_restored_seq(void);

#ifdef __cplusplus
}
#endif
#endif
