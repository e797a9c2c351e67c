"""The things that can go wrong in a service, as exceptions a controller never catches.

The web side turns each kind into an answer in one place (``lvs.web.errors``): JSON for the API,
the form's own widget (or a flash message) for htmx, a page otherwise. Services raise them; no
HTTP is imported here."""

from __future__ import annotations

__all__ = ["DatabaseBusy", "InvalidInput", "UnknownMedia", "UnknownPlaylist"]


class UnknownMedia(LookupError):
    """No present video has this id or fingerprint (nothing was written)."""

    def __init__(self, key: object) -> None:
        super().__init__(f"No video with {'id' if isinstance(key, int) else 'fingerprint'} {key!r}")
        self.key = key


class UnknownPlaylist(LookupError):
    """No playlist (or item of one, or list to play) by this id for this person: another
    person's playlist is unknown too (nothing was written)."""

    def __init__(self, message: str = "No such playlist") -> None:
        super().__init__(message)


class DatabaseBusy(Exception):
    """The database stayed locked through every retry (nothing was written); try again after
    ``retry_after`` seconds."""

    def __init__(self, retry_after: int = 2) -> None:
        super().__init__("the database is busy")
        self.retry_after = retry_after


class InvalidInput(ValueError):
    """A value a person sent cannot be used. ``field`` names it (as the form and the JSON body
    call it), ``message`` says why, ``label`` is how a sentence names it ("Rating", "Tag"), and
    ``value`` is what was sent (text put back into the form so it can be corrected)."""

    field: str = "body"
    label: str = ""

    def __init__(
        self, message: str, *, field: str | None = None, label: str | None = None, value: str = ""
    ) -> None:
        super().__init__(message)
        self.message = message
        if field is not None:
            self.field = field
        if label is not None:
            self.label = label
        self.value = value

    @property
    def sentence(self) -> str:
        """``Rating must be between 1 and 5.``: the message as a person reads it on a page."""
        return f"{self.label or self.field.capitalize()} {self.message}."
