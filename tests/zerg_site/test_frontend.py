"""The SPA: index.html on every page path, hashed assets cached forever by whitenoise."""

from __future__ import annotations

import re

from django.test import Client


def test_it_serves_index_for_deep_links_with_a_csrf_cookie(db):
    for path in ("/", "/commis", "/timeline/some/session"):
        response = Client().get(path)
        assert response.status_code == 200
        assert b'<div id="app"' in response.content or b"<div id=" in response.content
        assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
        assert "csrftoken" in response.cookies


def test_it_serves_hashed_assets_with_far_future_caching(db):
    html = Client().get("/").content.decode()
    assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', html)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        response = Client().get(asset)
        assert response.status_code == 200
        assert "immutable" in response["Cache-Control"] and "max-age=315360000" in response["Cache-Control"]


def test_it_serves_the_pwa_manifest_and_icons(db):
    manifest = Client().get("/manifest.webmanifest")
    assert manifest.status_code == 200
    body = b"".join(manifest.streaming_content) if manifest.streaming else manifest.content
    assert b'"start_url"' in body and b"icon-512.png" in body
    icon = Client().get("/icon-192.png")
    assert icon.status_code == 200 and icon["Content-Type"] == "image/png"
    assert "immutable" not in icon["Cache-Control"]  # unhashed names must be revalidated


def test_it_does_not_swallow_api_paths(db):
    assert Client().get("/api/nope").status_code in (401, 404)
    assert Client().get("/admin/").status_code == 302
