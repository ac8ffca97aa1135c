"""``clickme game`` (play a session) and ``clickme game-stats`` (statistics of game logs)."""

from __future__ import annotations

from pathlib import Path

from clickme_analysis.cliargs import add_progress, nonnegative_int, positive_float, positive_int, probability, seed
from clickme_analysis.errors import InputError
from clickme_analysis.game_stats import game_statistics, learning_check, read_game_log
from experiments.game.config import load_game_config


def register(subparsers) -> None:
    """Add ``game`` and ``game-stats``."""
    game = subparsers.add_parser(
        "game",
        help="play the ClickMe game with a model partner (PsychoPy); writes a click log",
        description="One participant's ClickMe game session: paint what matters in each image while a partner "
        "network tries to recognize it. Rounds are appended to OUT/game_log.jsonl (read it with "
        "`clickme maps`), the session to OUT/session.json.",
    )
    game.add_argument("--images", type=Path, required=True, help="folder of <image_id>.png")
    game.add_argument("--labels", type=Path, required=True, help="labels.csv (image_id, label[, category])")
    game.add_argument("--participant", required=True, help="participant ID")
    game.add_argument("--partner", type=Path, help="checkpoint written by `clickme train` (default: the stand-in)")
    game.add_argument(
        "--classes",
        type=Path,
        help="class names of the checkpoint, one per line in output order (default: the sorted "
        "labels of --labels, as `models` numbers them)",
    )
    game.add_argument("--device", default="cpu", help="torch device of the partner network")
    game.add_argument(
        "--standin-threshold",
        type=probability,
        default=0.2,
        help="stand-in partner: share of its reference map that must be revealed",
    )
    game.add_argument("--config", type=Path, help="game TOML (docs/game.md); flags below override it")
    game.add_argument("--out", type=Path, default=Path("game_data"), help="output folder")
    game.add_argument(
        "--n-rounds", type=nonnegative_int, help="rounds in this session (default: every image not yet played)"
    )
    game.add_argument("--round-seconds", type=positive_float, help="longest round (default 7 s, as the paper)")
    game.add_argument("--seed", type=seed, help="image order, query intervals, noise (default 0)")
    game.add_argument("--windowed", action="store_true", help="a window instead of full screen")
    game.add_argument(
        "--simulate", action="store_true", help="a simulated player drives the window (PsychoPy's mouse and key hooks)"
    )
    game.add_argument("--no-window", action="store_true", help="with --simulate: window-free, on a virtual clock")
    add_progress(game)
    game.set_defaults(func=_game)

    stats = subparsers.add_parser(
        "game-stats",
        help="statistics of ClickMe game logs (per image, per player, learning check)",
        description="Rounds, bubbles and participants per image, partner success, points per participant, and "
        "the paired t-test of success on each player's first vs second half of rounds.",
    )
    stats.add_argument("log", type=Path, help="game_log.jsonl")
    stats.add_argument("--out", type=Path, required=True, help="folder for game_statistics.csv, learning_check.csv")
    stats.add_argument(
        "--min-rounds", type=positive_int, default=2, help="learning check: players with at least this many rounds"
    )
    stats.set_defaults(func=_stats)


def _partner(args, images, labels, config):
    from experiments.game.partner import ModelPartner, StandInPartner, read_classes

    if args.partner is None:
        return StandInPartner.from_images(
            images, labels, threshold=args.standin_threshold, top_k=config.top_k, seed=config.seed
        )
    classes = read_classes(args.classes) if args.classes else labels
    return ModelPartner(args.partner, classes, config.top_k, args.device)


def _game(args) -> int:
    from experiments.game.play import run_game
    from experiments.game.player import SimulatedPlayer
    from experiments.game.task import load_images

    if args.no_window and not args.simulate:
        raise InputError("--no-window needs --simulate", field="no-window")
    config = load_game_config(
        args.config,
        n_rounds=args.n_rounds,
        round_seconds=args.round_seconds,
        seed=args.seed,
        fullscreen=False if args.windowed or args.simulate else None,
    )
    images, labels = load_images(args.images, args.labels, config.image_size)
    partner = _partner(args, images, labels, config)
    path = run_game(
        images,
        args.participant,
        args.out,
        config,
        partner,
        player=SimulatedPlayer() if args.simulate else None,
        window="none" if args.no_window else "psychopy",
        pace_fps=60.0 if args.simulate else None,
        progress=not args.no_progress,
    )
    print(path)
    return 0


def _stats(args) -> int:

    rounds = read_game_log(args.log)
    args.out.mkdir(parents=True, exist_ok=True)
    game_statistics(rounds).to_csv(args.out / "game_statistics.csv", index=False)
    check = learning_check(rounds, args.min_rounds)
    check.to_csv(args.out / "learning_check.csv", index=False)
    print(check.to_string(index=False))
    return 0
