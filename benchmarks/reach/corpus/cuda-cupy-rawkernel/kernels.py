import cupy as cp

# compiled by NVRTC when first called; curand_kernel.h comes from the toolkit's include dir (devel)
saxpy = cp.RawKernel(r'''
#include <curand_kernel.h>
extern "C" __global__ void saxpy(float a, const float* x, float* y, int n) {
    int i = blockDim.x * blockIdx.x + threadIdx.x;
    if (i < n) y[i] = a * x[i] + y[i];
}
''', "saxpy")
