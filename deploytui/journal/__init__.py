from .redact import Redactor
from .store import Chunk, Journal, RunRow, RunWriter, default_path, new_run_id

__all__ = ["Chunk", "Journal", "Redactor", "RunRow", "RunWriter", "default_path", "new_run_id"]
