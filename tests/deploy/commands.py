"""Check a container command the way the program itself would read it: gunicorn's own argument parser,
Celery's click commands, Django's management command parsers. What each parser made of the command
comes back, so the tests can compare ports and queue names with the rest of the deployment."""
from __future__ import annotations

import importlib
import importlib.util
import shlex
from dataclasses import dataclass, field

from celery.bin.base import CLIContext
from celery.bin.beat import beat
from celery.bin.control import inspect
from celery.bin.worker import worker
from celery.worker.control import Panel
from django.core.management import get_commands, load_command_class
from gunicorn.config import Config

from .deployment_files import REPOSITORY

CELERY_COMMANDS = {"worker": worker, "beat": beat, "inspect": inspect}
SHELL_SEPARATORS = {";", "&&", "||", "|", "&"}
SHELL_KEYWORDS = {"until", "while", "do", "done", "if", "then", "else", "fi", "exec"}
SHELL_REDIRECTIONS = {">", ">>", "<", ">&", "2>"}
PLAIN_TOOLS = {"sleep", "true", "curl"}  # not the platform's: nothing of ours to check


class InvalidCommand(AssertionError):
    pass


@dataclass
class ParsedCommand:
    program: str
    subcommand: str = ""
    params: dict = field(default_factory=dict)


def module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def parse_gunicorn(arguments: list[str]) -> ParsedCommand:
    try:
        namespace = Config().parser().parse_args(arguments)
    except SystemExit as exit_:
        raise InvalidCommand(f"gunicorn refuses {arguments}") from exit_
    config = namespace.config or ""
    if config.startswith("python:") and not module_exists(config.removeprefix("python:")):
        raise InvalidCommand(f"gunicorn config module {config} does not exist")
    if len(namespace.args) != 1 or not module_exists(namespace.args[0].split(":")[0]):
        raise InvalidCommand(f"gunicorn's application {namespace.args} is not a module of the project")
    return ParsedCommand("gunicorn", params={"bind": namespace.bind, "config": config, "app": namespace.args[0]})


def parse_celery(arguments: list[str]) -> ParsedCommand:
    if arguments[:1] not in (["-A"], ["--app"]) or len(arguments) < 3:
        raise InvalidCommand(f"celery without -A APP before its subcommand: {arguments}")
    app_module, subcommand, rest = arguments[1], arguments[2], arguments[3:]
    if not module_exists(f"{app_module}.celery"):
        raise InvalidCommand(f"-A {app_module}: there is no {app_module}.celery module holding the app")
    app = importlib.import_module(f"{app_module}.celery").app
    if subcommand not in CELERY_COMMANDS:
        raise InvalidCommand(f"celery {subcommand}: not a subcommand the deployment is expected to run")
    context = CELERY_COMMANDS[subcommand].make_context(
        subcommand, list(rest), obj=CLIContext(app=app, no_color=True, workdir=None, quiet=True))
    params = dict(context.params)
    if subcommand == "inspect" and Panel.meta.get(params["command"]) is None:
        raise InvalidCommand(f"celery inspect {params}: no such remote control command")
    return ParsedCommand("celery", subcommand, params)


def parse_manage(arguments: list[str]) -> ParsedCommand:
    if not arguments or arguments[0] != "manage.py" or not (REPOSITORY / "manage.py").exists():
        raise InvalidCommand(f"python {arguments}: only `python manage.py COMMAND` is expected")
    name, rest = arguments[1], arguments[2:]
    commands = get_commands()
    if name not in commands:
        raise InvalidCommand(f"manage.py {name}: no such management command")
    parser = load_command_class(commands[name], name).create_parser("manage.py", name)
    try:
        namespace = parser.parse_args(rest)
    except SystemExit as exit_:
        raise InvalidCommand(f"manage.py {name} refuses {rest}") from exit_
    return ParsedCommand("manage.py", name, vars(namespace))


def shell_commands(script: str) -> list[list[str]]:
    """The simple commands of a shell one-liner, without loop keywords and redirections."""
    lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands, current = [], []
    for token in [*lexer, ";"]:
        if token not in SHELL_SEPARATORS:
            current.append(token)
            continue
        while current and current[0] in SHELL_KEYWORDS:
            current = current[1:]
        for index, word in enumerate(current):
            if word in SHELL_REDIRECTIONS:
                current = current[:index]
                break
        if current:
            commands.append(current)
        current = []
    return commands


def parse_command(argv: list[str]) -> list[ParsedCommand]:
    """Every platform command in a container's command line (a shell one-liner may hold several)."""
    if not argv:
        raise InvalidCommand("empty command")
    program, arguments = argv[0], argv[1:]
    if program in {"sh", "bash"} and arguments[:1] == ["-c"]:
        return [parsed for command in shell_commands(arguments[1]) for parsed in parse_command(command)]
    if program == "gunicorn":
        return [parse_gunicorn(arguments)]
    if program == "celery":
        return [parse_celery(arguments)]
    if program in {"python", "python3"}:
        return [parse_manage(arguments)]
    if program in PLAIN_TOOLS:
        return []
    raise InvalidCommand(f"{program}: not a command of the platform image")
