"""Database backends: Django's own, with what this project changes in them."""
