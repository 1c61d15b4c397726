"""Docker's human-readable durations, in a module of its own (stdlib only): the agent's inspect and
the CLI's tables share it, and the CLI must not import the runtime's heavier modules to get it."""

from __future__ import annotations


def human_duration(seconds: float) -> str:
    """go-units HumanDuration (Docker's "Up 2 hours", "3 weeks ago"): "Less than a second", "About a
    minute", ...; hours round half up and years count whole hours, as go-units does."""
    secs = int(seconds)
    if secs < 1:
        return "Less than a second"
    if secs == 1:
        return "1 second"
    if secs < 60:
        return f"{secs} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"
