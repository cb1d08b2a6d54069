"""The status server: a FastAPI app over the trade book (and, beside a running node, its
live state), the web dashboard it serves, and the token that guards both."""
