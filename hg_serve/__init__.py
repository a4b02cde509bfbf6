"""hg-serve: the web gallery (HTTP server, JSON API, web app) over hg-build's database."""
