"""Memoturn: memory for AI agents."""
