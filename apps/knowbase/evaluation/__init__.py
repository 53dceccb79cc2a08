"""The retrieval quality set of the knowbase: a corpus of the project's own documents (corpus/), questions labelled
with the passage that answers each (questions.yaml), and the metrics (evaluate.py: recall@k and MRR@10)."""
