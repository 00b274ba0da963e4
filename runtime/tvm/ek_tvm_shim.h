/* The bare-metal stand-in for the TVM runtime that TVM's target-"c" code expects.
 *
 * TVM 0.27 prints C in the tvm-ffi packed calling convention: every function takes an
 * array of TVMFFIAny whose entries point at DLTensor descriptors, checks them, and calls
 * TVMFFIErrorSetRaisedFromCStrParts on a mismatch; large temporaries come from
 * TVMBackendAllocWorkspace. On a microcontroller there is no TVM runtime, so this header
 * (printed into model.c before the generated code) defines just those types and symbols:
 * the layouts only have to agree with themselves, because the generated code and the
 * caller (ek_tvm_call) are compiled against this same header.
 *
 * No malloc: the workspace is a region of the model's arena that the caller hands in
 * (the memory plan reserves it as the layer's scratch), handed out by a bump pointer.
 */
#ifndef EK_TVM_SHIM_H
#define EK_TVM_SHIM_H
#include <stdint.h>
#include <stddef.h>
#include <string.h>

#define TVM_DLL
#define TVM_EXPORTS
#define EK_TVM_MAYBE_UNUSED __attribute__((unused))   /* a model may need no workspace */

typedef struct { uint8_t code; uint8_t bits; uint16_t lanes; } DLDataType;
typedef struct { int32_t device_type; int32_t device_id; } DLDevice;
typedef struct {
    void *data;
    DLDevice device;
    int32_t ndim;
    DLDataType dtype;
    int64_t *shape;
    int64_t *strides;
    uint64_t byte_offset;
} DLTensor;

typedef struct {
    int32_t type_index;
    union { uint32_t zero_padding; uint32_t small_str_len; };
    union { int64_t v_int64; double v_float64; void *v_ptr; const char *v_c_str; uint64_t v_uint64; };
} TVMFFIAny;

enum { EK_TVM_DLTENSOR_PTR = 7, EK_TVM_MAX_ARGS = 8 };   /* kTVMFFIDLTensorPtr in tvm/ffi/c_api.h */

typedef int32_t (*ek_tvm_packed_fn)(void *self, void *args, int32_t num_args, void *result);

/* One argument of a TVM function: where its bytes are and what tensor they hold. */
typedef struct {
    const int64_t *shape;
    int32_t ndim;
    uint8_t code;     /* 0 int, 1 uint, 2 float (DLDataTypeCode) */
    uint8_t bits;
} ek_tvm_arg_t;

static void *__tvm_ffi__library_ctx EK_TVM_MAYBE_UNUSED = NULL;
static const char *ek_tvm_last_error_;   /* the kind of the last argument-check failure */
static uint8_t *ek_tvm_ws_;              /* workspace region of the running layer */
static uint32_t ek_tvm_ws_left_;

static EK_TVM_MAYBE_UNUSED void TVMFFIErrorSetRaisedFromCStrParts(const char *kind, const char **parts, int32_t n) {
    (void)parts; (void)n;
    ek_tvm_last_error_ = kind;
}

static EK_TVM_MAYBE_UNUSED void *TVMBackendAllocWorkspace(int device_type, int device_id, uint64_t nbytes, int code, int bits) {
    (void)device_type; (void)device_id; (void)code; (void)bits;
    uint32_t need = (uint32_t)((nbytes + 15u) & ~(uint64_t)15u);
    if (ek_tvm_ws_ == NULL || need > ek_tvm_ws_left_) return NULL;   /* the generated code returns -1 */
    void *p = ek_tvm_ws_;
    ek_tvm_ws_ += need;
    ek_tvm_ws_left_ -= need;
    return p;
}

static EK_TVM_MAYBE_UNUSED int TVMBackendFreeWorkspace(int device_type, int device_id, void *ptr) {
    (void)device_type; (void)device_id; (void)ptr;
    return 0;   /* the region is reset before the next layer */
}

/* Call a packed TVM function on raw buffers: builds the DLTensor/TVMFFIAny arrays on the stack. */
static int32_t ek_tvm_call(ek_tvm_packed_fn fn, int32_t n, void *const *ptrs, const ek_tvm_arg_t *specs,
                           void *workspace, uint32_t workspace_bytes) {
    DLTensor t[EK_TVM_MAX_ARGS];
    TVMFFIAny a[EK_TVM_MAX_ARGS];
    if (n > EK_TVM_MAX_ARGS) return -2;
    for (int32_t i = 0; i < n; i++) {
        t[i].data = ptrs[i];
        t[i].device.device_type = 1;   /* kDLCPU */
        t[i].device.device_id = 0;
        t[i].ndim = specs[i].ndim;
        t[i].dtype.code = specs[i].code;
        t[i].dtype.bits = specs[i].bits;
        t[i].dtype.lanes = 1;
        t[i].shape = (int64_t *)specs[i].shape;
        t[i].strides = NULL;
        t[i].byte_offset = 0;
        a[i].type_index = EK_TVM_DLTENSOR_PTR;
        a[i].zero_padding = 0;
        a[i].v_int64 = 0;
        a[i].v_ptr = &t[i];
    }
    ek_tvm_ws_ = (uint8_t *)workspace;
    ek_tvm_ws_left_ = workspace_bytes;
    return fn(NULL, a, n, NULL);
}
#endif
