"""Chat and embeddings behind one small interface: get_embedder(), get_chat_model() (modules.llm.providers)."""
