"""``clickme configs``: the configuration files that ship with the toolkit.

A user who installed the wheel has no checkout: ``clickme configs list`` names the bundled
files (the paper's training recipes, one per row of Table 3 and the ILSVRC12 + ClickMe run, and
the lab experiment configuration), and ``clickme configs show NAME > my.toml`` writes one out to
edit and pass to ``--config``.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable

from clickme_analysis.errors import InputError

#: Where bundled configurations live: (name prefix, package, folder or file inside it).
#: Files below a folder are named by their path without ``.toml``: ``clickme/gala_clickme``.
SOURCES = (("", "models", "configs"), ("experiment/", "experiments", "lab_config.toml"))


def _toml_files(node: Traversable, prefix: str) -> dict[str, Traversable]:
    found: dict[str, Traversable] = {}
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.is_dir():
            found.update(_toml_files(child, f"{prefix}{child.name}/"))
        elif child.name.endswith(".toml"):
            found[prefix + child.name.removesuffix(".toml")] = child
    return found


def bundled_configs() -> dict[str, Traversable]:
    """Name -> bundled configuration file, sorted by name.

    Returns
    -------
    dict of str to importlib.resources.abc.Traversable
        ``clickme/<row>`` for the paper's Table 3 recipes, ``ilsvrc12/gala_clickme`` for the
        ILSVRC12 + ClickMe run, ``experiment/lab_config`` for the lab experiment.

    Examples
    --------
    >>> configs = bundled_configs()
    >>> "clickme/gala_clickme" in configs and "experiment/lab_config" in configs
    True
    >>> configs["clickme/gala_clickme"].read_text(encoding="utf-8").startswith("# Paper Table 3")
    True
    """
    found: dict[str, Traversable] = {}
    for prefix, package, inner in SOURCES:
        node = files(package).joinpath(inner)
        if node.is_file():
            found[prefix + node.name.removesuffix(".toml")] = node
        elif node.is_dir():
            found.update(_toml_files(node, prefix))
    return dict(sorted(found.items()))


def describe(text: str) -> str:
    """The first comment line of a configuration file, without its ``#`` (``""`` when none).

    Examples
    --------
    >>> describe("# Paper Table 3 row: the model.\\n# more\\n[model]\\n")
    'Paper Table 3 row: the model.'
    >>> describe("[model]\\n")
    ''
    """
    for line in text.splitlines():
        stripped = line.strip()
        if stripped:
            return stripped.lstrip("#").strip() if stripped.startswith("#") else ""
    return ""


def config_text(name: str) -> str:
    """The text of the bundled configuration ``name``; InputError listing the names when unknown.

    Examples
    --------
    >>> "[optim]" in config_text("clickme/resnet50")
    True
    >>> config_text("clickme/nope")
    Traceback (most recent call last):
    ...
    clickme_analysis.errors.InputError: field 'NAME': expected one of the bundled configurations ...
    """
    configs = bundled_configs()
    if name.removesuffix(".toml") not in configs:
        raise InputError(
            f"expected one of the bundled configurations ({', '.join(configs)}), got {name!r}; "
            "`clickme configs list` describes them",
            field="NAME",
        )
    return configs[name.removesuffix(".toml")].read_text(encoding="utf-8")


def register(subparsers) -> None:
    """Add ``configs list`` and ``configs show NAME``."""
    configs = subparsers.add_parser(
        "configs",
        help="list or print the configuration files that ship with the toolkit",
        description="The paper's training recipes and the lab experiment configuration, bundled with the "
        "package: `clickme configs list`; `clickme configs show NAME > my.toml` writes one out "
        "to edit and pass to --config.",
    )
    actions = configs.add_subparsers(dest="configs_command", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="name and describe every bundled configuration")
    listing.set_defaults(func=_list)
    show = actions.add_parser("show", help="print one bundled configuration (redirect it to a file to edit)")
    show.add_argument("name", metavar="NAME", help="a name from `clickme configs list`, e.g. clickme/gala_clickme")
    show.set_defaults(func=_show)


def _list(args) -> int:
    configs = bundled_configs()
    width = max(map(len, configs))
    for name, node in configs.items():
        print(f"{name:<{width}}  {describe(node.read_text(encoding='utf-8'))}")
    return 0


def _show(args) -> int:
    print(config_text(args.name), end="")
    return 0
