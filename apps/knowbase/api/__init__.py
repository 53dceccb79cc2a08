"""The knowbase API by resource: documents (submit, read, change, reprocess, delete, chunks), categories, search and
ask (an answer with citations, as JSON or as Server-Sent Events). apps/knowbase/urls.py routes them."""
