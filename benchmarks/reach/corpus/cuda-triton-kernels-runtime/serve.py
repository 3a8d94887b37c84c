import kernels
