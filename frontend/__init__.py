"""The single-page app: its source (src/), its committed build (build/) and the view serving it."""
