"""Packaging: toolchains, linking and firmware images for each target, and running them
on boards or emulators.  arm.py: Cortex-M (arm-none-eabi-gcc + QEMU)."""
