"""Templated email: DjangoEmailService and send_email(), sent through Django's MAILERS."""
