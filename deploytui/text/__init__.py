"""Text that crosses from commands and people into the journal and onto screens: cleaning and redaction."""
