from apps.newsletter.admin import audience, campaigns  # noqa: F401  (each registers its models)
