from numba import cuda


@cuda.jit  # compiled with NVVM (libnvvm, shipped by the CUDA toolkit) at first launch
def step(x):
    i = cuda.grid(1)
    if i < x.size:
        x[i] += 1
