"""Thin FastAPI routes: authenticate, parse, call the engine, render."""
