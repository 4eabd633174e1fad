# Linux guests: skipped (with the reason) where KVM is not hardware-backed.
TESTS += tests/linux/test-linux-boot.sh
EXTRA_DIST += tests/linux/test-linux-boot.sh tests/linux/make-initramfs.sh
