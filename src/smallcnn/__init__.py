"""smallcnn: small CNNs on Fashion-MNIST and CIFAR-100, trained fast on a CPU."""

__version__ = "0.1.0"
