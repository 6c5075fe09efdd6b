"""Start the workbench and the REST API: ``streamlit run app/asgi.py`` with the settings of ``streamlit_config/``.

``app/asgi.py`` is an ``st.App`` (the workbench's ``app/main.py`` plus the API mounted at
``/api/v1``); ``streamlit run`` finds it and serves both with uvicorn in one process on one port,
under every option below (port, address, upload cap, secrets and their login).

Streamlit looks for its settings only in ``.streamlit/`` (and the home folder); Doppel keeps
them in ``streamlit_config/`` beside the code, so this launcher turns every option of
``streamlit_config/config.toml`` into a ``--section.option=value`` flag and hands
``streamlit_config/secrets.toml``, when there is one, to ``--secrets.files``.

Precedence, highest first: flags given to the launcher (``python -m app --server.port 8600``),
``STREAMLIT_*`` environment variables (``STREAMLIT_SERVER_PORT=8600``,
``STREAMLIT_SECRETS_FILES=/run/secrets/doppel.toml``), ``streamlit_config/``, Streamlit's
own defaults. The secrets file may configure OIDC login (``[auth]``, Streamlit's own
section, and ``[access]``, Doppel's rules from claims to tenants): the launcher checks both
before start-up, whichever file is used. ``server.maxUploadSize`` is the exception among the file's options: it is
derived from ``DOPPEL_MAX_UPLOAD_BYTES`` so that the browser and the engine agree on the cap.
"""

from __future__ import annotations

import math
import os
import re
import sys
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO_ROOT / "streamlit_config"
CONFIG_FILE = CONFIG_DIR / "config.toml"
SECRETS_FILE = CONFIG_DIR / "secrets.toml"
MAIN_SCRIPT = Path(__file__).resolve().parent / "asgi.py"
"""The script ``streamlit run`` starts: the ASGI app of the workbench (``app/main.py``) and the API."""

UPLOAD_SIZE_OPTION = "server.maxUploadSize"
SECRETS_OPTION = "secrets.files"
_MIB = 1024 * 1024


class LauncherError(RuntimeError):
    """The workbench cannot start: a configuration file is missing or malformed."""


def read_config(path: Path = CONFIG_FILE) -> dict[str, Any]:
    """The options of a Streamlit config.toml as ``{"section.option": value}``.

    Nested tables (``[theme.sidebar]``) become dotted keys (``theme.sidebar.primaryColor``),
    which is how Streamlit names them on its command line.
    """
    try:
        with path.open("rb") as fh:
            document = tomllib.load(fh)
    except FileNotFoundError as err:
        raise LauncherError(f"Streamlit config not found: {path}") from err
    except tomllib.TOMLDecodeError as err:
        raise LauncherError(f"{path} is not valid TOML: {err}") from err
    options: dict[str, Any] = {}
    _flatten(document, prefix="", into=options, source=path)
    return options


def _flatten(table: Mapping[str, Any], *, prefix: str, into: dict[str, Any], source: Path) -> None:
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _flatten(value, prefix=f"{dotted}.", into=into, source=source)
        elif "." not in dotted:
            raise LauncherError(f"{source}: option {key!r} must sit inside a [section] table")
        else:
            into[dotted] = value


def check_secrets(path: Path) -> None:
    """Fail before start-up when the secrets file is not valid TOML, or its login is unusable.

    Streamlit would otherwise treat a broken file like a missing one, and the workbench would
    fall back to single-user local mode instead of the login the file configures. An
    ``[auth]`` section must name at least one complete provider, a redirect URI ending in
    /oauth2callback and a long cookie secret; ``[access]`` rules must parse (``auth.rules``).
    """
    try:
        with path.open("rb") as fh:
            document = tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise LauncherError(f"{path} is not valid TOML: {err}") from err
    if "auth" in document or "access" in document:
        from auth.providers import AuthConfigError, configured_providers
        from auth.rules import AccessRules, AccessRulesError

        try:
            if "auth" in document:
                configured_providers(document["auth"])
            AccessRules.from_mapping(document.get("access"))
        except (AuthConfigError, AccessRulesError) as err:
            raise LauncherError(f"{path}: {err}") from None


def env_var_for(option: str) -> str:
    """The environment variable Streamlit reads for an option (server.maxUploadSize ->
    STREAMLIT_SERVER_MAX_UPLOAD_SIZE)."""
    name = option.replace(".", "_")
    name = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    name = re.sub(r"(?<=[A-Z])(?=[A-Z][a-z])", "_", name)
    return f"STREAMLIT_{name.upper()}"


def options_named_in(args: Sequence[str]) -> set[str]:
    """The ``section.option`` keys that command-line arguments set (``--a.b=1`` or ``--a.b 1``)."""
    named = set()
    for arg in args:
        if arg.startswith("--") and "." in arg.split("=", 1)[0]:
            named.add(arg[2:].split("=", 1)[0])
    return named


def upload_size_mb(max_upload_bytes: int) -> int:
    """DOPPEL_MAX_UPLOAD_BYTES as Streamlit's whole megabytes (MiB), rounded up."""
    return max(1, math.ceil(max_upload_bytes / _MIB))


def format_flags(option: str, value: Any) -> list[str]:
    """``--option=value`` flags for one option; lists repeat the flag, booleans are lowercase."""
    if isinstance(value, list):
        return [flag for item in value for flag in format_flags(option, item)]
    if isinstance(value, bool):
        value = "true" if value else "false"
    return [f"--{option}={value}"]


def streamlit_command(
    extra_args: Sequence[str],
    *,
    environ: Mapping[str, str],
    max_upload_bytes: int,
    config_file: Path = CONFIG_FILE,
    secrets_file: Path = SECRETS_FILE,
    main_script: Path = MAIN_SCRIPT,
) -> list[str]:
    """The argv that starts the workbench; ``extra_args`` are passed through last."""
    options = read_config(config_file)
    options[UPLOAD_SIZE_OPTION] = upload_size_mb(max_upload_bytes)
    if secrets_file.is_file():
        check_secrets(secrets_file)
        options[SECRETS_OPTION] = [str(secrets_file)]
    for named in filter(None, re.split(r"[\s,]+", environ.get(env_var_for(SECRETS_OPTION), ""))):
        if Path(named).is_file():
            check_secrets(Path(named))
    overridden = options_named_in(extra_args)
    flags: list[str] = []
    for option, value in options.items():
        if option in overridden or env_var_for(option) in environ:
            continue
        flags.extend(format_flags(option, value))
    return [sys.executable, "-m", "streamlit", "run", str(main_script), *flags, *extra_args]


def child_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment of the Streamlit process: ours, with the repository importable.

    Streamlit puts the script's folder (``app/``) on ``sys.path``, not the repository root
    that ``app``, ``infra`` and ``engine`` live in; an editable install covers that, and so
    does this for a plain checkout.
    """
    env = dict(environ)
    paths = [str(REPO_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def main(argv: Sequence[str] | None = None) -> int:
    """Replace this process with Streamlit serving the workbench and the API (returns only on error)."""
    from infra.settings import get_settings

    extra_args = list(sys.argv[1:] if argv is None else argv)
    try:
        command = streamlit_command(
            extra_args, environ=os.environ, max_upload_bytes=get_settings().max_upload_bytes
        )
    except LauncherError as err:
        sys.stderr.write(f"doppel: {err}\n")
        return 2
    env = child_environment(os.environ)
    if os.name == "posix":
        # exec, not a child process: signals (Ctrl-C, a supervisor's SIGTERM) reach Streamlit.
        os.execve(sys.executable, command, env)
    import subprocess

    return subprocess.call(command, env=env)
