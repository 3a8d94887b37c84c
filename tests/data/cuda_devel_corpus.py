"""Twenty-odd CUDA devel Dockerfiles in the shapes public ML repositories use (written for slimml,
not copied), with what SLM007 should do on each: the CUDA base ladder's corpus.

Each case: (name, Dockerfile, build-context files, expected outcome). Outcomes:
  base / runtime / runtime-no-cudnn -- the flavour SLM007's fix moves the final image to;
  builder -- something compiles CUDA code at build time: no fix, the split (SLM008) is needed;
  at-run -- the container compiles when it runs: no fix.
"""

DEVEL = "nvidia/cuda:12.1.0-cudnn8-devel-ubuntu22.04"
PY = "RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip && rm -rf /var/lib/apt/lists/*\n"
APP = {"app.py": "from fastapi import FastAPI\napp = FastAPI()\n"}

CORPUS = [
    (
        "pure-torch-fastapi",
        f"FROM {DEVEL}\n{PY}RUN pip3 install --no-cache-dir torch==2.3.1 fastapi uvicorn\nWORKDIR /app\nCOPY app.py .\n"
        'CMD ["uvicorn", "app:app", "--host", "0.0.0.0"]\n',
        APP,
        "base",
    ),
    (
        "torch-cpu-index",
        f"FROM {DEVEL}\n{PY}RUN pip3 install torch --index-url https://download.pytorch.org/whl/cpu && pip3 install flask\n"
        'COPY app.py /app.py\nCMD ["python3", "/app.py"]\n',
        APP,
        "base",
    ),
    (
        "hf-requirements",
        f"FROM {DEVEL}\nENV DEBIAN_FRONTEND=noninteractive\n{PY}WORKDIR /srv\nCOPY requirements.txt .\n"
        'RUN pip3 install --no-cache-dir -r requirements.txt\nCOPY . .\nCMD ["python3", "serve.py"]\n',
        {
            "requirements.txt": "torch>=2.1\ntransformers==4.41.2\naccelerate\nsentencepiece\nfastapi\nuvicorn[standard]\n",
            "serve.py": "import transformers\n",
        },
        "base",
    ),
    (
        "onnxruntime-gpu",
        f"FROM {DEVEL}\n{PY}RUN pip3 install --no-cache-dir onnxruntime-gpu==1.18.0 numpy fastapi uvicorn\n"
        'COPY app.py /app/app.py\nWORKDIR /app\nCMD ["uvicorn", "app:app"]\n',
        APP,
        "runtime",
    ),
    (
        "cupy-without-ctk",
        f'FROM {DEVEL}\n{PY}RUN pip3 install cupy-cuda12x numpy\nCOPY app.py /app.py\nCMD ["python3", "/app.py"]\n',
        APP,
        "runtime-no-cudnn",
    ),
    (
        "tensorflow-and-cuda",
        f"FROM {DEVEL}\n{PY}RUN pip3 install 'tensorflow[and-cuda]==2.16.1' flask\nCOPY app.py /app.py\n"
        'CMD ["python3", "/app.py"]\n',
        APP,
        "base",
    ),
    (
        "flash-attn-no-isolation",
        f"FROM {DEVEL}\n{PY}RUN pip3 install torch==2.3.1 packaging ninja\n"
        'RUN pip3 install flash-attn==2.5.9.post1 --no-build-isolation\nCOPY app.py /app.py\nCMD ["python3", "/app.py"]\n',
        APP,
        "builder",
    ),
    (
        "apex-from-git",
        f"FROM {DEVEL}\n{PY}RUN pip3 install torch\nRUN git clone https://github.com/NVIDIA/apex /apex && cd /apex && "
        "pip3 install -v --disable-pip-version-check --no-cache-dir --no-build-isolation "
        '--config-settings "--build-option=--cpp_ext" --config-settings "--build-option=--cuda_ext" ./\n'
        'COPY app.py /app.py\nCMD ["python3", "/app.py"]\n',
        APP,
        "builder",
    ),
    (
        "nvcc-custom-op",
        f"FROM {DEVEL}\n{PY}COPY kernels/ /src/kernels/\nRUN nvcc -O3 -shared -Xcompiler -fPIC /src/kernels/add.cu -o /usr/lib/libadd.so\n"
        'RUN pip3 install torch\nCOPY app.py /app.py\nCMD ["python3", "/app.py"]\n',
        {**APP, "kernels/add.cu": "__global__ void add() {}\n"},
        "builder",
    ),
    (
        "torch-cuda-arch-list-local-ext",
        f'FROM {DEVEL}\n{PY}ENV TORCH_CUDA_ARCH_LIST="7.5;8.0;8.6+PTX"\nRUN pip3 install torch\nCOPY . /workspace\n'
        'WORKDIR /workspace\nRUN pip3 install -e .\nCMD ["python3", "train.py"]\n',
        {"setup.py": "from setuptools import setup\nsetup()\n", "csrc/op.cu": "// op\n", "train.py": "import torch\n"},
        "builder",
    ),
    (
        "vllm-pip",
        f'FROM {DEVEL}\n{PY}RUN pip3 install vllm==0.5.3\nCMD ["python3", "-m", "vllm.entrypoints.openai.api_server"]\n',
        {},
        "at-run",
    ),
    (
        "vllm-from-source",
        f"FROM {DEVEL}\n{PY}RUN git clone https://github.com/vllm-project/vllm.git /vllm && cd /vllm && pip3 install -e .\n"
        'CMD ["python3", "-m", "vllm.entrypoints.openai.api_server"]\n',
        {},
        "builder",
    ),
    (
        "conda-on-cuda",
        f"FROM {DEVEL}\nRUN apt-get update && apt-get install -y wget && rm -rf /var/lib/apt/lists/*\n"
        "RUN wget -q https://repo.anaconda.com/miniconda/Miniconda3-latest-Linux-x86_64.sh -O /tmp/m.sh && "
        "bash /tmp/m.sh -b -p /opt/conda && rm /tmp/m.sh\nENV PATH=/opt/conda/bin:$PATH\n"
        "RUN conda install -y pytorch pytorch-cuda=12.1 -c pytorch -c nvidia && conda clean -afy\n"
        'COPY app.py /app.py\nCMD ["python", "/app.py"]\n',
        APP,
        "runtime",
    ),
    (
        "deadsnakes-python311",
        f"FROM {DEVEL}\nRUN apt-get update && apt-get install -y software-properties-common && "
        "add-apt-repository ppa:deadsnakes/ppa && apt-get install -y python3.11 python3.11-venv && rm -rf /var/lib/apt/lists/*\n"
        "RUN python3.11 -m venv /opt/venv\nENV PATH=/opt/venv/bin:$PATH\nRUN pip install torch transformers\n"
        'COPY app.py /app.py\nCMD ["python", "/app.py"]\n',
        APP,
        "base",
    ),
    (
        "qlora-bitsandbytes",
        f"FROM {DEVEL}\n{PY}RUN pip3 install torch transformers peft bitsandbytes==0.43.1 accelerate\n"
        'COPY app.py /app.py\nCMD ["python3", "/app.py"]\n',
        APP,
        "runtime",
    ),
    (
        "detectron2-force-cuda",
        f"FROM {DEVEL}\n{PY}ENV FORCE_CUDA=1\nRUN pip3 install torch torchvision\n"
        "RUN pip3 install 'git+https://github.com/facebookresearch/detectron2.git'\nCOPY app.py /app.py\n"
        'CMD ["python3", "/app.py"]\n',
        APP,
        "builder",
    ),
    (
        "llama-cpp-python-cuda",
        f'FROM {DEVEL}\n{PY}RUN CMAKE_ARGS="-DGGML_CUDA=on" pip3 install llama-cpp-python\nCOPY app.py /app.py\n'
        'CMD ["python3", "/app.py"]\n',
        APP,
        "builder",
    ),
    (
        "faster-whisper",
        f"FROM {DEVEL}\n{PY}RUN pip3 install faster-whisper fastapi uvicorn\nCOPY app.py /app.py\n"
        'CMD ["uvicorn", "app:app"]\n',
        {**APP},
        "runtime",
    ),
    (
        "tensorrt-apt",
        f"FROM {DEVEL}\nRUN apt-get update && apt-get install -y python3-pip libnvinfer8 libnvinfer-plugin8 "
        "python3-libnvinfer && rm -rf /var/lib/apt/lists/*\nRUN pip3 install numpy pycuda\nCOPY app.py /app.py\n"
        'CMD ["python3", "/app.py"]\n',
        APP,
        "runtime",
    ),
    (
        "jit-cpp-extension",
        f'FROM {DEVEL}\n{PY}RUN pip3 install torch ninja\nCOPY app.py /app.py\nCMD ["python3", "/app.py"]\n',
        {"app.py": "from torch.utils.cpp_extension import load\nop = load('op', ['op.cu'])\n"},
        "at-run",
    ),
    (
        "deepspeed-prebuilt-ops",
        f"FROM {DEVEL}\n{PY}RUN pip3 install torch\nRUN DS_BUILD_OPS=1 pip3 install deepspeed\nCOPY app.py /app.py\n"
        'CMD ["python3", "/app.py"]\n',
        APP,
        "builder",
    ),
    (
        "ld-library-path-boilerplate",
        f"FROM {DEVEL}\n{PY}ENV PATH=/usr/local/cuda/bin:$PATH LD_LIBRARY_PATH=/usr/local/cuda/lib64:$LD_LIBRARY_PATH\n"
        'RUN pip3 install torch sentence-transformers fastapi uvicorn\nCOPY app.py /app.py\nCMD ["uvicorn", "app:app"]\n',
        APP,
        "base",
    ),
    (
        "jupyter-dev-image",
        f"FROM {DEVEL}\n{PY}RUN pip3 install torch jupyterlab matplotlib\nEXPOSE 8888\n"
        'CMD ["jupyter", "lab", "--ip=0.0.0.0", "--allow-root"]\n',
        {},
        "runtime",
    ),
    (
        "pytorch-devel-image",
        "FROM pytorch/pytorch:2.3.1-cuda12.1-cudnn8-devel\nRUN pip install transformers fastapi uvicorn\nCOPY app.py /app.py\n"
        'CMD ["uvicorn", "app:app"]\n',
        APP,
        "runtime",
    ),
    (
        "binary-in-context",
        f'FROM {DEVEL}\n{PY}RUN pip3 install torch\nCOPY bin/ /opt/bin/\nCOPY app.py /app.py\nCMD ["/opt/bin/server"]\n',
        {**APP, "bin/server": "\x7fELF\x02\x01\x01"},
        "runtime",
    ),
    (
        "cuda-home-boilerplate",
        f'FROM {DEVEL}\nENV CUDA_HOME=/usr/local/cuda TORCH_CUDA_ARCH_LIST="8.0;8.6"\n{PY}'
        'RUN pip3 install torch transformers accelerate\nCOPY app.py /app.py\nCMD ["python3", "/app.py"]\n',
        APP,
        "base",
    ),
    (
        "cuda-home-with-unknown-package",
        f"FROM {DEVEL}\nENV CUDA_HOME=/usr/local/cuda\n{PY}COPY requirements.txt .\nRUN pip3 install -r requirements.txt\n"
        'COPY app.py /app.py\nCMD ["python3", "/app.py"]\n',
        {**APP, "requirements.txt": "torch\nmy-fused-ops==0.3\n"},
        "builder",
    ),
    (
        "arg-base-image",
        f"ARG BASE_IMAGE={DEVEL}\nFROM ${{BASE_IMAGE}}\n{PY}RUN pip3 install torch fastapi uvicorn\nCOPY app.py /app.py\n"
        'CMD ["uvicorn", "app:app"]\n',
        APP,
        "base",
    ),
    (
        "arg-shared-with-builder",
        f"ARG BASE_IMAGE={DEVEL}\nFROM ${{BASE_IMAGE}} AS build\n{PY}RUN pip3 install torch ninja && pip3 wheel flash-attn "
        f"--no-build-isolation -w /wheels\nFROM ${{BASE_IMAGE}}\n{PY}COPY --from=build /wheels /wheels\n"
        'RUN pip3 install /wheels/*.whl\nCMD ["python3"]\n',
        {},
        "no-fix",
    ),
    (
        "ngc-pytorch",
        "FROM nvcr.io/nvidia/pytorch:24.01-py3\nRUN pip install transformers fastapi uvicorn\nCOPY app.py /app.py\n"
        'CMD ["uvicorn", "app:app"]\n',
        APP,
        "no-fix",
    ),
    (
        "make-native-lib",
        f"FROM {DEVEL}\n{PY}RUN git clone https://github.com/example/fastdecode /src && make -C /src && make -C /src install\n"
        'RUN pip3 install torch\nCOPY app.py /app.py\nCMD ["python3", "/app.py"]\n',
        APP,
        "builder",
    ),
    (
        "wheels-from-builder-stage",
        f"FROM {DEVEL} AS build\n{PY}RUN pip3 install torch ninja && pip3 wheel --no-build-isolation flash-attn -w /wheels\n"
        f"FROM {DEVEL}\n{PY}COPY --from=build /wheels /wheels\nRUN pip3 install torch /wheels/*.whl\nCOPY app.py /app.py\n"
        'CMD ["python3", "/app.py"]\n',
        APP,
        "runtime",
    ),
]
