"""Domain exceptions. The web and API layers turn them into pages and JSON bodies."""

from __future__ import annotations

from forum.i18n import _


class ForumError(Exception):
    status_code = 400
    error_type = "invalid_parameters"

    def __init__(self, *messages: str):
        super().__init__(*messages)
        self.messages = [m for m in messages if m] or [self.default_message]

    default_message = _("Something went wrong with that request.")

    def form_errors(self) -> dict[str, str]:
        """Errors keyed by form field, or under "_" for the form as a whole."""
        return dict(getattr(self, "fields", None) or {}) or {"_": self.messages[0]}


class NotFound(ForumError):
    """Missing, or hidden from this viewer: the two look the same on purpose."""

    status_code = 404
    error_type = "not_found"
    default_message = _("The requested URL or resource could not be found.")


class Forbidden(ForumError):
    """The viewer can see the thing but may not do this to it."""

    status_code = 403
    error_type = "invalid_access"
    default_message = _("You are not permitted to do that.")


class LoginRequired(ForumError):
    status_code = 403
    error_type = "not_logged_in"
    default_message = _("You need to be logged in to do that.")


class ValidationFailed(ForumError):
    status_code = 422
    error_type = "record_invalid"
    default_message = _("Some of what you entered is not valid.")

    def __init__(self, *messages: str, fields: dict[str, str] | None = None):
        self.fields = fields or {}
        super().__init__(*(list(messages) + list(self.fields.values())))


class Conflict(ForumError):
    status_code = 409
    error_type = "conflict"
    default_message = _("That has already been done.")


class RateLimited(ForumError):
    status_code = 429
    error_type = "rate_limit"

    def __init__(self, retry_after: int, message: str | None = None):
        self.retry_after = max(1, int(retry_after))
        super().__init__(
            message or _("You've performed this action too many times. Please wait %(n)s seconds before trying again.", n=self.retry_after)
        )


class Busy(ForumError):
    status_code = 503
    error_type = "busy"
    default_message = _("The forum is busy. Please try again in a moment.")
