from ..errors import RunbookError
from .loader import load, parse
from .model import Decide, Header, NotBefore, Option, Pane, Runbook, Schedule, Section, Step, Var

__all__ = ["Decide", "Header", "NotBefore", "Option", "Pane", "Runbook", "RunbookError", "Schedule", "Section",
           "Step", "Var", "load", "parse"]
