"""Widgets of the run screen, driven by a `RunView` (see ..view), never by a `Run` directly."""
