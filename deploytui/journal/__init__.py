"""The journal: SQLite storage of runs, events and output. No Textual here."""
from .store import Chunk, Journal, RunRow, RunWriter, default_path, new_run_id

__all__ = ["Chunk", "Journal", "RunRow", "RunWriter", "default_path", "new_run_id"]
