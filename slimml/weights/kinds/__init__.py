"""One module per kind of weight source SLM010 recognises (``detect`` dispatches to them):

- ``context``: COPY/ADD from the build context (files, folders, ``COPY . .``, local archives);
- ``http``: ``ADD https://...``, ``wget``, ``curl``;
- ``hub``: ``huggingface-cli download``/``hf download``, ``git clone``/``git lfs`` of hub repositories;
- ``buckets``: ``aws s3``, ``gsutil``/``gcloud storage``, ``az storage blob``;
- ``python``: Python run at build time (libcst analysis in ``..pyscan``), ``nltk.downloader``;
- ``stages``: ``COPY --from=<stage>`` of what a download stage fetched.
"""
