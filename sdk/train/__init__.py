"""On-device transfer learning (the host side).

    build_trainable(model, board, out_dir, calib, last_k=1, mode="last"|"bias")
        -> BuildResult: an int8 backbone + an FP32 head that trains on the device
    finetune(build_dir, x, y, epochs=..., ...) -> FinetuneResult   (streams over the rig)
    host_finetune(...)                                             (the same in torch)
"""


def __getattr__(name):
    import importlib
    where = {"split_head": "head", "HeadLayer": "head", "training_memory": "head",
             "full_backprop_bytes": "head", "build_trainable": "build",
             "finetune": "device", "DeviceTrainer": "device", "FinetuneResult": "device",
             "host_finetune": "host"}
    if name in where:
        return getattr(importlib.import_module(f"{__name__}.{where[name]}"), name)
    raise AttributeError(name)
