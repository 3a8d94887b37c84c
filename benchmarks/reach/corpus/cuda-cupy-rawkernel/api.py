from fastapi import FastAPI

import kernels  # noqa: F401

app = FastAPI()
