"""The ``fingerspell`` command: a thin layer over the Python API (same names, same defaults)."""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._native import keep_python_stderr
from ._version import __version__
from .choices import RUNTIMES
from .errors import FingerspellError
from .training.options import positive_int

if TYPE_CHECKING:  # the CLI imports nothing heavy before a command runs
    from PIL import Image

    from .live.decoder import DecoderSettings


def _add_inference_options(parser: argparse.ArgumentParser) -> None:
    """Options of every command that runs a saved model."""
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, mps")
    parser.add_argument("--runtime", choices=RUNTIMES, default="auto",
                        help="auto: ONNX Runtime when there is a graph of the backbone (the "
                             "model's model.onnx, or the cache's graph of the packaged weights it "
                             "refers to), else PyTorch; int8: the quantised graph")
    _add_adapter_option(parser)


def _add_adapter_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--adapter", default=None, metavar="FILE",
                        help="answer with one person's adapted head: an adapter file made for "
                             "MODEL (the on-device page's Teach mode, Model.save_adapter)")


MODEL_HELP = "a model folder, or a built-in model's name ('fingerspell models' lists them)"
DEFAULT_MODEL = "asl-alphabet"  # infer.builtin.DEFAULT_MODEL, named here without importing it


def _add_decoder_options(parser: argparse.ArgumentParser) -> None:
    """The spelling decoder's options (live and serve). Unset, they keep DecoderSettings'
    defaults (the numbers in the help texts), which live in that one place."""
    parser.add_argument("--hold", type=float, default=None,
                        help="seconds a letter must be held to count (0.5)")
    parser.add_argument("--min-confidence", type=float, default=None,
                        help="frames below this calibrated confidence count only towards the "
                             "long hold (0.5)")
    parser.add_argument("--long-hold", type=float, default=None, metavar="SECONDS",
                        help="a letter under --min-confidence (at 0.2 or more) counts when held "
                             "this long in 80%% of the frames (1.5; 0: never)")
    parser.add_argument("--words", type=Path, default=None, metavar="FILE",
                        help="complete each finished word (space, or the hand lowered for a "
                             "second) to the nearest word of FILE, one word per line")


def _decoder_settings(args: argparse.Namespace) -> DecoderSettings:
    from .live.decoder import DecoderSettings
    from .live.words import WordList
    given = {"hold_seconds": args.hold, "min_confidence": args.min_confidence,
             "long_hold_seconds": args.long_hold,
             "words": WordList.load(args.words) if args.words is not None else None}
    return DecoderSettings(**{k: v for k, v in given.items() if v is not None})


def _add_model(parser: argparse.ArgumentParser, *, optional: bool = False) -> None:
    """The MODEL argument; commands with no other positional argument may leave it out."""
    if optional:
        parser.add_argument("model_dir", metavar="MODEL", nargs="?", default=DEFAULT_MODEL,
                            help=f"{MODEL_HELP} (default: the built-in {DEFAULT_MODEL})")
    else:
        parser.add_argument("model_dir", metavar="MODEL", help=MODEL_HELP)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fingerspell", description=(
        "Recognise the ASL manual alphabet from photos by transfer learning."))
    parser.add_argument("--version", action="version", version=f"fingerspell {__version__}")
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bars")
    parser.add_argument("--cache-dir", type=Path, default=None,
                        help="feature cache folder (default: $FINGERSPELL_CACHE or ~/.cache/fingerspell)")
    parser.add_argument("--threads", type=positive_int, default=None, metavar="N",
                        help="threads for a backbone over batches of photos (default: "
                             "$FINGERSPELL_THREADS, else every core), and for live and serve "
                             "(default one per frame or request); heads always use one")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_train_arguments, _evaluate_arguments, _predict_arguments, _adapt_arguments,
                _inspect_arguments, _live_arguments, _serve_arguments, _export_arguments,
                _tune_arguments, _backbones_arguments, _models_arguments, _data_arguments):
        add(commands)
    return parser


def _train_arguments(commands: Any) -> None:
    """``fingerspell train``'s arguments."""
    from .training.options import TrainOptions
    p = commands.add_parser("train", help="train a recognizer on folders of labelled photos")
    p.add_argument("data_dirs", nargs="+", metavar="DATA_DIR",
                   help="one or more data folders; classes are merged by name")
    p.add_argument("--out", default=None, metavar="RUN_DIR",
                   help="run folder to write (default: a new runs/train, runs/train2, ...)")
    TrainOptions.add_arguments(p)  # every training option, from its typed field
    p.add_argument("--workers", type=positive_int, default=None, help="image decoding processes")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted run in RUN_DIR (written where RUN_DIR is)")
    p.add_argument("--force", action="store_true",
                   help="replace the fingerspell run in RUN_DIR, once the new one has succeeded "
                        "(folders holding anything else are never touched)")
    p.add_argument("--dry-run", action="store_true", help="print the resolved configuration and exit")


def _evaluate_arguments(commands: Any) -> None:
    """``fingerspell evaluate``'s arguments."""
    p = commands.add_parser("evaluate", help="score a model on a labelled folder")
    _add_model(p)
    p.add_argument("data_dir", metavar="DATA_DIR")
    p.add_argument("--json", dest="json_path", default=None, metavar="FILE",
                   help="write the metrics as JSON (pictures go next to it)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="folder for confusion_matrix.png, errors.png, report.html")
    _add_inference_options(p)


def _predict_arguments(commands: Any) -> None:
    """``fingerspell predict``'s arguments."""
    p = commands.add_parser("predict", help="predict the letter in images")
    _add_model(p)
    p.add_argument("paths", nargs="+", metavar="PATH", help="image files or folders")
    p.add_argument("--top-k", type=positive_int, default=5)
    p.add_argument("--json", action="store_true", help="print a JSON list")
    p.add_argument("--save", default=None, metavar="DIR",
                   help="also write each photo with its hand and answer drawn (DIR/<name>.png) "
                        "and DIR/predictions.json; existing files are never overwritten")
    _add_inference_options(p)


def _adapt_arguments(commands: Any) -> None:
    """``fingerspell adapt``'s arguments."""
    p = commands.add_parser("adapt", help="adapt a model to one person from a few labelled photos")
    _add_model(p)
    p.add_argument("data_dir", metavar="DATA_DIR",
                   help="the person's photos, <CLASS>/<image> (some letters only is fine)")
    p.add_argument("--out", default=None, metavar="RUN_DIR",
                   help="a new folder; the adapted model goes to RUN_DIR/model "
                        "(default: runs/adapt, numbered)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, mps")


def _inspect_arguments(commands: Any) -> None:
    """``fingerspell inspect``'s arguments."""
    p = commands.add_parser("inspect", help="draw why a model chose a letter (PNG)")
    _add_model(p)
    p.add_argument("image", metavar="IMAGE")
    p.add_argument("--out", default=None, metavar="PNG",
                   help="picture to write (default: <IMAGE name>.inspect.png here)")
    p.add_argument("--top-k", type=positive_int, default=5)
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, mps")


def _live_arguments(commands: Any) -> None:
    """``fingerspell live``'s arguments."""
    p = commands.add_parser("live", help="spell text from a camera, a video or a folder of frames")
    _add_model(p, optional=True)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--camera", type=int, default=None, metavar="N", help="camera index")
    source.add_argument("--video", default=None, metavar="FILE", help="a video file")
    source.add_argument("--frames", default=None, metavar="DIR",
                        help="a folder of frames, played in name order at --fps")
    p.add_argument("--fps", type=float, default=15.0, help="frame rate of --frames (15)")
    _add_decoder_options(p)
    p.add_argument("--seconds", type=float, default=None, help="stop after this much stream time")
    p.add_argument("--json", action="store_true",
                   help="JSON lines: one timed event per line, then the final text")
    p.add_argument("--tracking", action="store_true",
                   help="MediaPipe's VIDEO mode: track the hand between frames instead of "
                        "detecting it in each (measured no better on the shared clips)")
    p.add_argument("--annotate", default=None, metavar="OUT.mp4",
                   help="also write the input with the skeleton, letter, confidence and text "
                        "drawn on each frame (.mp4, .avi)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda, mps")
    _add_adapter_option(p)


def _serve_arguments(commands: Any) -> None:
    """``fingerspell serve``'s arguments."""
    p = commands.add_parser("serve", help="HTTP API and live web page for a model")
    _add_model(p, optional=True)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1: this machine)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--max-upload-mb", type=float, default=5.0,
                   help="larger uploads get HTTP 413 (5)")
    p.add_argument("--max-pixels", type=positive_int, default=4096 * 4096,
                   help="larger images (by their header, before decoding) get HTTP 413 "
                        "(4096x4096)")
    p.add_argument("--max-streams", type=positive_int, default=4,
                   help="concurrent camera streams (4)")
    p.add_argument("--stream-idle-seconds", type=float, default=30.0,
                   help="close a stream that sends no frame for this long (30)")
    p.add_argument("--allow-origin", action="append", default=[], metavar="URL",
                   help="a web origin (https://host[:port]) that may call the API and open "
                        "streams besides the server's own; repeatable")
    _add_decoder_options(p)
    p.add_argument("--profiles", default=None, metavar="DIR",
                   help="the page's Teach mode keeps its profiles here (default: "
                        "$FINGERSPELL_PROFILES or ~/.local/share/fingerspell/profiles)")
    p.add_argument("--profile", default=None, metavar="NAME",
                   help="serve this profile's adapted model (Teach mode adapts MODEL again)")
    p.add_argument("--no-device-page", action="store_true",
                   help="do not serve the on-device page at /device/ (by default it is built once "
                        "per model into the cache, and / sends browsers that can run it there)")
    _add_inference_options(p)


def _export_arguments(commands: Any) -> None:
    """``fingerspell export``'s arguments."""
    p = commands.add_parser("export", help="export a model for fast inference")
    _add_model(p)
    p.add_argument("--format", dest="fmt", choices=["onnx", "web"], default="onnx",
                   help="onnx: graphs for fast inference in Python; web: the on-device page as a "
                        "static site (docs: On the device)")
    p.add_argument("--int8", action="store_true",
                   help="also write a statically quantised model.int8.onnx (use: --runtime int8); "
                        "--format web: the site's crop graph in int8 (needs --calibration)")
    p.add_argument("--calibration", default=None, metavar="DIR",
                   help="images for int8 calibration, half of them to check it (default: the "
                        "run's training images and validation split)")
    p.add_argument("--out", default=None, metavar="DIR",
                   help="write a copy of the model with its graph here instead of adding the graph "
                        "to MODEL (built-in models: default runs/export/NAME; --format web: the "
                        "site, default runs/export/NAME-web)")


def _tune_arguments(commands: Any) -> None:
    """``fingerspell tune``'s arguments: the run's options are ``train``'s (``TUNE_OPTIONS``)."""
    from .training.options import TUNE_OPTIONS, TrainOptions
    p = commands.add_parser("tune", help="search head hyper-parameters on cached features")
    p.add_argument("data_dirs", nargs="+", metavar="DATA_DIR",
                   help="labelled image folder(s), as for train")
    p.add_argument("--out", default="runs/tune", metavar="DIR", help="output folder (runs/tune)")
    p.add_argument("--trials", type=positive_int, default=50)
    p.add_argument("--backbones", default=None, metavar="A,B",
                   help="comma-separated backbones to search over (default: the recipe's)")
    p.add_argument("--timeout", type=float, default=None, help="stop after this many seconds")
    TrainOptions.add_arguments(p, TUNE_OPTIONS)


def _backbones_arguments(commands: Any) -> None:
    """``fingerspell backbones``'s arguments."""
    commands.add_parser("backbones", help="list the available backbones")


def _models_arguments(commands: Any) -> None:
    """``fingerspell models``'s arguments."""
    p = commands.add_parser("models", help="list the built-in models, or show one's model card")
    p.add_argument("name", nargs="?", default=None, metavar="NAME")


def _data_arguments(commands: Any) -> None:
    """``fingerspell data``'s arguments."""
    p = commands.add_parser("data", help="get the Kaggle ASL Alphabet data set")
    data_commands = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    d = data_commands.add_parser("download", help="download with the Kaggle API (needs a token)")
    d.add_argument("--dest", type=Path, default=Path("data"), help="target folder (./data)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    keep_python_stderr()  # the log stays visible while MediaPipe is silenced on other threads
    try:
        with _sigterm_as_interrupt():
            return _dispatch(args)
    except FingerspellError as exc:
        print(f"fingerspell: error: {exc}", file=sys.stderr)
        return 2
    except Terminated:
        print("fingerspell: terminated", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("fingerspell: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        if exc.errno not in _STORAGE_ERRORS:
            raise
        # files are written to a temp file and renamed: what was there before is intact
        where = exc.filename or "writing"
        print(f"fingerspell: error: {where}: {exc.strerror or exc}; free space or fix "
              f"permissions and run again (train: add --resume)", file=sys.stderr)
        return 2


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is, so that it ends as after Ctrl-C: partial files
    removed or finished (``live --annotate``), a training run resumable."""


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread
        return

    def terminate(_signum: int, _frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# disk full, over quota, read-only, no permission: the user's to fix, not a bug to trace
_STORAGE_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM}


def _dispatch(args: argparse.Namespace) -> int:
    from .threads import bulk_threads, per_request, set_bulk_threads
    show_progress = not args.quiet
    set_bulk_threads(args.threads)
    bulk_threads()  # a bad $FINGERSPELL_THREADS fails now, in one line
    if args.command in ("live", "serve"):
        per_request()  # one thread per frame or request, before a model is loaded (threads.py)
    if args.command == "train":
        return _train(args, show_progress)
    if args.command == "evaluate":
        return _evaluate(args, show_progress)
    if args.command == "predict":
        return _predict(args)
    if args.command == "tune":
        return _tune(args, show_progress)
    if args.command == "backbones":
        return _backbones()
    if args.command == "models":
        return _models(args.name)
    if args.command == "inspect":
        return _inspect(args)
    if args.command == "adapt":
        return _adapt(args, show_progress)
    if args.command == "live":
        return _live(args)
    if args.command == "serve":
        return _serve(args)
    if args.command == "export":
        from .infer import Model
        model = Model.load(args.model_dir, runtime="torch")
        written = model.export(args.fmt, int8=args.int8, calibration=args.calibration,
                               out=args.out)
        if args.fmt == "web":
            site = next(p.parent for p in written if p.name == "index.html")
            size = sum(p.stat().st_size for p in written) / 1e6
            print(f"wrote the on-device page to {site} ({len(written)} files, {size:.1f} MB); "
                  f"try it: python -m http.server -d {site} 8000, then open "
                  f"http://localhost:8000")
            return 0
        for path in written:
            if path.suffix == ".json":  # the int8 check
                check = json.loads(path.read_text())
                print(f"int8 agrees with the float model on {check['agree']} of "
                      f"{check['photos']} held-out photos ({path.name})")
            else:
                print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
        return 0
    if args.command == "data":
        from .data.download import download_kaggle
        folder = download_kaggle(args.dest)
        print(f"data ready: {folder}")
        return 0
    raise AssertionError(args.command)


def _train(args: argparse.Namespace, show_progress: bool) -> int:
    from .training import TrainOptions, resolve_config, train
    from .training.run_folder import numbered_run_dir
    options = TrainOptions.from_arguments(args)
    if args.dry_run:
        out = args.out or numbered_run_dir()
        print(json.dumps(resolve_config(args.data_dirs, out, options).to_dict(), indent=2))
        return 0
    result = train(args.data_dirs, args.out, options, resume=args.resume, force=args.force,
                   cache_dir=args.cache_dir, workers=args.workers, show_progress=show_progress)
    if not result.is_main:
        return 0  # under torchrun, rank 0 reports
    print(result.summary())
    return 0


def _tune(args: argparse.Namespace, show_progress: bool) -> int:
    from .training.options import TrainOptions
    from .training.tune import tune
    options = TrainOptions.from_arguments(args)
    result = tune(args.data_dirs, args.out, options, trials=args.trials,
                  backbones=args.backbones.split(",") if args.backbones else None,
                  timeout=args.timeout, cache_dir=args.cache_dir, show_progress=show_progress)
    recipe = result.best_recipe
    print(f"best       {result.best_val_acc:.2%} validation accuracy after {result.n_trials} trials "
          f"({result.n_pruned} pruned)")
    print(f"recipe     {recipe.backbone}, head {list(recipe.hidden) or 'linear'}, lr {recipe.lr:.2g}, "
          f"batch {recipe.batch_size}, {recipe.epochs} epochs")
    print(f"config     {result.out / 'best_config.json'} (train ... --features {recipe.features} "
          f"--config it)")
    print(f"plot       {result.out / 'study.png'}")
    return 0


def _evaluate(args: argparse.Namespace, show_progress: bool) -> int:
    from .evaluation import format_table
    from .infer import Model
    from .paths import RUNS, numbered_dir
    model = Model.load(args.model_dir, device=args.device, runtime=args.runtime,
                       adapter=args.adapter)
    out = args.out if args.out or args.json_path else \
        numbered_dir(RUNS / "eval" / Path(args.data_dir).resolve().name)
    result = model.evaluate(args.data_dir, json_path=args.json_path, out_dir=out,
                            cache_dir=args.cache_dir, show_progress=show_progress)
    print(format_table(result.report))
    if result.missing_classes:
        print(f"classes missing from the data: {', '.join(result.missing_classes)}")
    for path, reason in result.skipped.items():
        print(f"skipped {path}: {reason}", file=sys.stderr)
    print(f"accuracy {result.accuracy:.2%} on {result.report['n']} images; pictures in "
          f"{result.out_dir}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from .infer import Model
    model = Model.load(args.model_dir, device=args.device, runtime=args.runtime,
                       adapter=args.adapter)
    predictions = model.predict(args.paths, top_k=args.top_k)
    failed = predictions.failed
    if args.save:
        predictions.save(args.save)
    if args.json:
        print(json.dumps([p.to_dict() for p in predictions], indent=2))
    else:
        for p in predictions:
            hand = ""
            if p.hand is not None and p.hand.n_hands > 1:
                hand = f" ({p.hand.n_hands} hands in view: the {p.hand.handedness.lower()} one)"
            route = "" if p.route in ("image", "hand") else f"\t[{p.route}]"
            unsure = "\t[unsure]" if p.unsure else ""
            print(f"{p.path}\t{p.label}\t{p.confidence:.3f}{unsure}{route}{hand}")
    for path, reason in failed.items():
        print(f"fingerspell: error: {path}: {reason}", file=sys.stderr)
    return 1 if failed else 0


def _adapt(args: argparse.Namespace, show_progress: bool) -> int:
    from .infer import Model
    from .infer.adapt import adapt_folder
    from .infer.builtin import is_builtin, resolve_model
    source = resolve_model(args.model_dir)
    base_name = str(args.model_dir) if is_builtin(source) else str(source.resolve())
    result, out = adapt_folder(Model.load(source, device=args.device), base_name, args.data_dir,
                               args.out, show_progress=show_progress)
    letters = ", ".join(f"{letter} {n}" for letter, n in result.examples.items())
    print(f"adapted    {args.model_dir} with {sum(result.examples.values())} photos of "
          f"{len(result.examples)} letters in {result.seconds:.1f} s ({letters})")
    for path, reason in result.skipped.items():
        print(f"skipped    {path}: {reason}", file=sys.stderr)
    print(f"model      {out / 'model'}  (fingerspell predict {out / 'model'} photo.jpg)")
    print(f"adapter    {out / 'adapter.fsadapter'}  (the same head for {args.model_dir}: the "
          f"on-device page's Import, or --adapter)")
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from .infer import Model
    from .infer.inspect import inspect_image
    model = Model.load(args.model_dir, device=args.device, runtime="torch")
    out = Path(args.out) if args.out else Path(f"{Path(args.image).stem}.inspect.png")
    result = inspect_image(model, args.image, out, top_k=args.top_k)
    p = result.prediction
    print(f"{args.image}\t{p.label}\t{p.confidence:.3f}\t{p.route}")
    print("top " + ", ".join(f"{label} {prob:.2f}" for label, prob in p.top_k))
    print(f"picture {result.picture}" + ("" if result.grad_cam else " (no Grad-CAM for this model)"))
    return 0


def _print_events(events: list, as_json: bool) -> None:
    for event in events:
        if as_json:
            print(json.dumps(event.to_dict()), flush=True)
        else:
            what = event.letter or event.event
            print(f"{event.t:7.2f} s  {what:<7} {event.text}", flush=True)


def _live(args: argparse.Namespace) -> int:
    from .infer import Model
    from .live.annotate import Annotator
    from .live.stream import MAX_VIDEO_FPS, FrameResult, LiveSession, frames_from, video_fps
    annotator = None
    if args.annotate:  # checked before the model loads: a bad name fails at once
        fps = min(video_fps(args.video), MAX_VIDEO_FPS) if args.video else args.fps
        annotator = Annotator(args.annotate, fps)
    settings = _decoder_settings(args)  # a bad --words file fails before the model loads
    model = Model.load(args.model_dir, device=args.device, adapter=args.adapter)
    frames = frames_from(camera=args.camera, video=args.video, frames=args.frames, fps=args.fps,
                         max_seconds=args.seconds)

    printed = 0

    def on_frame(frame: Image.Image, result: FrameResult) -> None:  # as it happens
        nonlocal printed
        if annotator is not None:
            annotator.write(frame, result)
        _print_events(result.events, args.json)
        printed += len(result.events)

    with LiveSession(model, settings, tracking=args.tracking) as session, \
            annotator or contextlib.nullcontext():
        run = session.run(frames, on_frame)
    _print_events(run.events[printed:], args.json)  # the stream's end (a word completed)
    if args.json:
        print(json.dumps({"t": round(run.end_t, 3), "event": "end", "text": run.text}))
    else:
        print(f"text: {run.text}")
        print(f"{run.frames} frames in {run.seconds:.1f} s ({run.frames_per_second:.1f} "
              f"frames/s)", file=sys.stderr)
    if annotator is not None and annotator.frames:
        print(f"annotated video: {annotator.path} ({annotator.frames} frames)", file=sys.stderr)
    return 0


def _device_page(model: Any) -> Path | None:
    """The model's on-device site (built once into the cache), or None with a line saying why:
    the server then serves only the page that streams frames to it."""
    from .infer.web import cached_site
    from .infer.web_runtime import WEB_RUNTIME_ENV, installed_runtime
    if installed_runtime() is None and not os.environ.get(WEB_RUNTIME_ENV):
        print("fingerspell: installing the on-device page's browser libraries with npm (once)",
              file=sys.stderr, flush=True)
    try:
        return cached_site(model)
    except Exception as exc:  # noqa: BLE001 - an optional page never keeps the server from starting
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        print(f"fingerspell: no on-device page ({reason}); the page at / streams frames to this "
              f"server", file=sys.stderr)
        return None


def _serve(args: argparse.Namespace) -> int:
    import faulthandler
    import logging

    import uvicorn

    from .infer import Model
    from .serve.app import STREAM_QUEUE_FRAMES, create_app
    from .serve.memory import limit_malloc_arenas
    from .serve.profiles import Profiles, default_profiles_dir
    from .serve.state import Limits
    limit_malloc_arenas()  # before the worker threads exist: memory stays flat under load
    model = Model.load(args.model_dir, device=args.device, runtime=args.runtime,
                       adapter=args.adapter)
    profiles = Profiles(args.profiles or default_profiles_dir(), model, base_name=args.model_dir)
    if args.profile:
        model = profiles.load(args.profile)
    limits = Limits(max_upload_bytes=int(args.max_upload_mb * 1024 * 1024),
                    max_pixels=args.max_pixels, max_streams=args.max_streams,
                    stream_idle_seconds=args.stream_idle_seconds)
    device_page = None if args.no_device_page else _device_page(model)
    app = create_app(model, profiles=profiles, profile=args.profile, limits=limits,
                     bind=args.host, allow_origins=args.allow_origin,
                     decoder_settings=_decoder_settings(args), device_page=device_page)
    # a crash in native code (MediaPipe, ONNX Runtime) leaves the Python stacks in the log
    faulthandler.enable(file=sys.stderr)
    # refused requests are logged one line each on stderr
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("fingerspell: %(message)s"))
    logger = logging.getLogger("fingerspell")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    print(f"fingerspell: serving {args.model_dir} ({model.mode.name} features) on "
          f"http://{args.host}:{args.port}/ (API docs: /docs)", file=sys.stderr, flush=True)
    if device_page is not None:
        print(f"fingerspell: the on-device page (no frame leaves the browser) at "
              f"http://{args.host}:{args.port}/device/; / sends browsers that can run it there, "
              f"/?server streams frames here", file=sys.stderr, flush=True)
    # WebSocket messages over the upload limit are refused by the protocol layer itself, and
    # a stream's unread frames are bounded (STREAM_QUEUE_FRAMES)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning",
                ws_max_size=limits.max_upload_bytes + 1024, ws_max_queue=STREAM_QUEUE_FRAMES)
    return 0


def _backbones() -> int:
    from .features import list_backbones
    from .features.backbones import measured_speed
    speed = measured_speed()
    print(f"{'name':<22}{'input':>6}{'features':>9}{'params':>8}{'torch':>7}{'onnx':>6}  "
          f"{'weights here':<13}source")
    for spec in list_backbones():
        row = speed.get(spec.name, {})
        params = f"{row['params_m']:.1f}M" if row else "?"
        torch_ips = f"{row['torch_images_per_s']:.0f}" if row else "?"
        onnx_ips = f"{row['onnx_images_per_s']:.0f}" if row else "?"
        print(f"{spec.name:<22}{spec.preprocessing.size:>6}{spec.feature_dim:>9}{params:>8}"
              f"{torch_ips:>7}{onnx_ips:>6}  {'yes' if spec.weights_cached() else 'no':<13}"
              f"{spec.weights_source}")
    print("torch/onnx: images/s of the network alone on this project's 2-core CPU "
          "(benchmarks/backbone_speed.py); any timm model name works too")
    return 0


def _models(name: str | None) -> int:
    from .infer.builtin import builtin_models
    models = builtin_models()
    if name is not None:
        if name not in models:
            raise FingerspellError(f"{name}: not a built-in model (built-in: "
                                   f"{', '.join(models) or 'none installed'})")
        print(models[name].card())
        return 0
    if not models:
        print("no built-in models in this installation")
        return 0
    print(f"{'name':<16}{'size':>8}{'classes':>9}  {'features':<10}headline")
    for model in models.values():
        headline = model.headline
        figures = "; ".join(f"{k} {v}" for k, v in headline.items()) or "not measured"
        print(f"{model.name:<16}{model.size_bytes() / 1e6:>6.1f}MB{len(model.classes):>9}  "
              f"{model.features:<10}{figures}")
    print("size: the model's own files (an installed built-in's include its backbone as an ONNX "
          "graph, model.onnx); 'fingerspell models NAME' shows a model's card")
    return 0


def entry_point() -> None:
    if "PYTHONWARNINGS" not in os.environ:  # a library's warning is no message for a user
        os.environ["PYTHONWARNINGS"] = "ignore"  # (for child processes)
        warnings.simplefilter("ignore")  # (for this one: Pillow's on a corrupt upload)
    sys.exit(main())
