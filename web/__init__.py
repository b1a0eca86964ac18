"""The web app shell: URLs, the admin site, templates."""
