"""Ingest: bytes to normalized text, transcript formats, speaker turns, segments, participants."""
