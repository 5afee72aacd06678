"""Screens and dialogs. Dialogs are `ModalScreen[T]` that dismiss with their answer (None: cancelled)."""
