"""Builds wheels/tinygreet-1.0-py3-none-any.whl, the tiny pure-python wheel the cases install offline
(deterministic bytes: fixed timestamps).  usage: python make_wheel.py OUT.whl"""
import base64, hashlib, zipfile, sys

def make(path):
    files = {
        "tinygreet/__init__.py": 'def hello():\n    return "hello from tinygreet"\n\n\ndef main():\n    print(hello())\n',
        "tinygreet-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: tinygreet\nVersion: 1.0\nSummary: test wheel for slimml adversarial cases\n",
        "tinygreet-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: slimml-adversarial\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        "tinygreet-1.0.dist-info/entry_points.txt": "[console_scripts]\ntinygreet = tinygreet:main\n",
        "tinygreet-1.0.dist-info/top_level.txt": "tinygreet\n",
    }
    rec = []
    for name, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        rec.append(f"{name},sha256={digest},{len(text.encode())}")
    rec.append("tinygreet-1.0.dist-info/RECORD,,")
    files["tinygreet-1.0.dist-info/RECORD"] = "\n".join(rec) + "\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            zi = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            zi.external_attr = 0o644 << 16
            z.writestr(zi, text)

make(sys.argv[1])
