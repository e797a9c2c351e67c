"""The web side: controllers, template contexts, responses."""
