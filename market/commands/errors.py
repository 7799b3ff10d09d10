"""How a failed ``flexmarket`` command ends: one line on stderr naming the setting and the fix.

Why: a user who mistyped a setting or forgot to start a chain should read what to change, not
a framed traceback. ``flexmarket --debug ...`` (or ``FLEXMARKET_DEBUG=1``) re-raises instead,
so the traceback is one flag away for a bug report.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn

import typer
from typer.exceptions import Abort, TyperException

DEBUG_ENV = "FLEXMARKET_DEBUG"
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


class _State:
    debug = False


STATE = _State()


def debug_enabled() -> bool:
    return STATE.debug or os.environ.get(DEBUG_ENV, "").lower() in ("1", "true", "yes")


def env_name(field: str) -> str:
    """``settings.rpc_url`` or ``rpc_url`` -> ``FLEXMARKET_RPC_URL``."""
    return "FLEXMARKET_" + field.removeprefix("settings.").upper()


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    if not lines:
        return ""
    return lines[0] + (" (more with --debug)" if len(lines) > 1 else "")


def describe(exc: BaseException) -> str:
    """The one line a user sees for ``exc`` (without the ``flexmarket: error:`` prefix)."""
    from pydantic import ValidationError
    from sqlalchemy.exc import ArgumentError, OperationalError

    from adapters.chain.anvil import AnvilError
    from adapters.chain.revert import ChainError
    from adapters.chain.toolchain import ToolchainError
    from market.admin_roles import RoleCommandError
    from market.errors import FlexMarketError
    from market.settings import SettingError

    if isinstance(exc, (SettingError, RoleCommandError)):
        return str(exc)
    if isinstance(exc, FlexMarketError):
        field = exc.field or ""
        if field == "settings" or field.startswith("settings."):
            where = env_name(field) if field != "settings" else "settings"
            return f"{where}: {_first_line(exc.reason)}"
        return _first_line(str(exc))
    if isinstance(exc, ValidationError):  # Settings(): a FLEXMARKET_* value of the wrong type
        parts = [
            f"{env_name(str(e['loc'][0]))}: {e['msg']} (got {e.get('input')!r})"
            if e.get("loc")
            else e["msg"]
            for e in exc.errors()
        ]
        return "; ".join(parts)
    if isinstance(exc, (OperationalError, ArgumentError)):
        detail = _first_line(str(getattr(exc, "orig", None) or exc))
        return (
            f"FLEXMARKET_DATABASE_URL (or --db/--url): cannot open the database ({detail}); "
            "check the URL and that the server is running"
        )
    if isinstance(exc, ChainError) and "node unreachable" in str(exc):
        head = str(exc).split(" (", 1)[0]  # the transport's cause adds nothing to act on
        return (
            f"FLEXMARKET_RPC_URL (or --rpc): {head}; point it at a running node, start one with "
            "`flexmarket chain up`, or unset it (`flexmarket serve` then embeds a chain)"
        )
    if isinstance(exc, FileNotFoundError) and str(exc).startswith("deployment:"):
        return f"{exc!s} (or set FLEXMARKET_DEPLOYMENT_FILE)"
    if isinstance(exc, (ChainError, AnvilError, ToolchainError, FileNotFoundError)):
        return _first_line(str(exc))
    return (
        f"internal error {type(exc).__name__}: {_first_line(str(exc))} "
        "(run with --debug for the traceback, and please report it)"
    )


def fail(exc: BaseException) -> NoReturn:
    """Print ``exc`` as one line on stderr and exit non-zero."""
    if isinstance(exc, KeyboardInterrupt):
        sys.stderr.write("flexmarket: interrupted\n")
        raise SystemExit(EXIT_INTERRUPTED)
    line = " ".join(describe(exc).split())  # exactly one line, whatever the message held
    sys.stderr.write(f"flexmarket: error: {line}\n")
    raise SystemExit(EXIT_ERROR)


def guarded(call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run the CLI; any exception, a usage error too, becomes one line unless debugging.

    Click runs without its standalone mode, so its usage errors reach us instead of being
    drawn as a framed panel; ``--help`` and ``typer.Exit`` come back as exit codes.
    """
    try:
        code = call(*args, standalone_mode=False, **kwargs)
    except SystemExit:
        raise
    except TyperException as exc:  # Typer's (vendored click's) usage and parameter errors
        kinds = {c.__name__ for c in type(exc).__mro__}
        if "NoArgsIsHelpError" in kinds:  # a bare group: its help, as before
            exc.show()  # type: ignore[attr-defined]
        else:
            hint = " (see --help)" if "UsageError" in kinds else ""
            line = " ".join(exc.format_message().split())
            sys.stderr.write(f"flexmarket: error: {line}{hint}\n")
        raise SystemExit(exc.exit_code) from None
    except Abort:
        sys.stderr.write("flexmarket: interrupted\n")
        raise SystemExit(EXIT_INTERRUPTED) from None
    except BaseException as exc:
        if debug_enabled():
            raise
        fail(exc)
    raise SystemExit(code if isinstance(code, int) else 0)


def debug_option(
    debug: bool = typer.Option(
        False, "--debug", help="Show the full traceback when a command fails."
    ),
) -> None:
    """Local flexibility marketplace and clearing house for the distribution grid."""
    STATE.debug = debug
