"""Small built-in actions that need no outside service."""

from .registry import ActionContext, action


@action("core.echo")
def echo(ctx: ActionContext, message: str, **outputs) -> dict:
    """Print a message and return the given outputs (for examples and tests)."""
    ctx.log(message)
    return dict(outputs)
