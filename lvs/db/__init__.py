"""Database models and engine configuration."""
