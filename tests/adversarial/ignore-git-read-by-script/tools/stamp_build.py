"""Records the branch the image was built from, read straight from .git (no git in the slim image)."""
from pathlib import Path

head = (Path(__file__).resolve().parent.parent / ".git" / "HEAD").read_text().strip()
print("branch:", head.rsplit("/", 1)[-1] if head.startswith("ref: ") else "detached")
