"""On-device transfer learning (the host side).

    build_trainable(model, board, out_dir, calib, last_k=1, mode="last"|"bias")
        -> BuildResult: an int8 backbone + an FP32 head that trains on the device (mcu)
    finetune(build_dir, x, y, epochs=..., ...) -> FinetuneResult   (streams over the rig)
    host_finetune(...)                                             (the same in torch)
    finetune_riscv(model, x, y, x_test, y_test, dtype="f16")       (RISC-V, bare metal, QEMU)
    NativeHead(head)                     (the C runtime built for the host: tests, quick checks)
"""


def __getattr__(name):
    import importlib
    where = {"split_head": "head", "HeadLayer": "head", "training_memory": "head",
             "full_backprop_bytes": "head", "build_trainable": "build",
             "finetune": "device", "DeviceTrainer": "device", "FinetuneResult": "device",
             "host_finetune": "host", "finetune_features": "host",
             "finetune_riscv": "riscv", "NativeHead": "native", "load_labelled": "data"}
    if name in where:
        return getattr(importlib.import_module(f"{__name__}.{where[name]}"), name)
    raise AttributeError(name)
