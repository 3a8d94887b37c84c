"""Moving model weights out of the image (rule SLM010 ``model-weights``).

- ``sources``: what a weight source is (a URL, a Hugging Face repo, a local folder ...), as data
  the init script is generated from and keeps as its manifest.
- ``pyscan``: libcst analysis of the Python a build runs (``python -c``, scripts from the context).
- ``detect``: the Dockerfile side: which COPY/ADD/RUN bakes weights, and how to take it out.
- ``initscript``: the POSIX ``sh`` script that fetches the weights at container start.
"""
