FROM nvidia/cuda:12.1.0-cudnn8-runtime-ubuntu22.04
WORKDIR /app
COPY requirements.txt ./
RUN pip3 install -r requirements.txt
COPY acme/ ./acme/
CMD ["python3", "-m", "acme", "--gpu"]
