"""The project's own pages: the home page at /, the API's root at /api/, the favicon and the API docs' assets."""
