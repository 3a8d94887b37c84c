from torch.utils.cpp_extension import load
ops = load(name='ops', sources=['ops.cu'])
