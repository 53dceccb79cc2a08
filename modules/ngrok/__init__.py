"""ngrok: runserver_ngrok puts the development server behind a public HTTPS URL; public_url() and
webhook_base_url() (in modules.ngrok.tunnel) give apps that URL, or SITE_URL when no tunnel is open."""
