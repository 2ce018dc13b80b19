"""Embed stage: a vector per kept text (cached by text and model), then each item's type.

``embedder.py`` is the model (any sentence-transformers name or path, loaded once per process,
run by torch or, with ``embed.backend`` onnx/onnx-int8, by onnxruntime on an export built by
``onnx_export.py`` and run by ``onnx_runtime.py``), ``stage.py`` embeds what has no cached
vector, ``item_types.py`` tells requests, problems, questions and praise apart from those vectors.
"""

from feedback_pipeline._exports import lazy

__all__ = ["Embedder", "OnnxEmbedder", "SentenceTransformerEmbedder", "classify_pending",
           "embed_pending", "get_embedder"]
__getattr__ = lazy(__name__, {
    "Embedder": "embedder", "OnnxEmbedder": "embedder", "SentenceTransformerEmbedder": "embedder",
    "get_embedder": "embedder", "embed_pending": "stage",
    "classify_pending": "item_types"})
