from pathlib import Path

def load_model(name):
    data = Path(__file__).resolve().parent.joinpath(name).read_bytes()
    return f"{name}: {len(data)} bytes"

print(load_model('weights/detector.onnx'))
