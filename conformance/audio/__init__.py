"""Audio as bytes and time arithmetic (pure): sources converted to linear16, and the pacing schedule."""

from conformance.audio.pacing import Schedule
from conformance.audio.source import Pcm, load_source

__all__ = ["Pcm", "load_source", "Schedule"]
