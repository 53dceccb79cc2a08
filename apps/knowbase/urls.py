from django.urls import path

from apps.knowbase.api import ask, categories, documents, search

app_name = "knowbase"

urlpatterns = [
    path("documents/", documents.DocumentListView.as_view(), name="documents"),
    path("documents/<int:document_id>/", documents.DocumentDetailView.as_view(), name="document"),
    path(
        "documents/<int:document_id>/reprocess/", documents.DocumentReprocessView.as_view(), name="document-reprocess"
    ),
    path("documents/<int:document_id>/chunks/", documents.DocumentChunksView.as_view(), name="document-chunks"),
    path("categories/", categories.CategoryListView.as_view(), name="categories"),
    path("search/", search.SearchView.as_view(), name="search"),
    path("ask/", ask.AskView.as_view(), name="ask"),
]
