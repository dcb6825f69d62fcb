"""``eventsim eval``: accuracy and per-sample counts of a model over a labelled dataset."""

from __future__ import annotations

import os
import sys
from contextlib import closing

import click
from tqdm import tqdm

from ..energy.plots import check_plot_path
from ..energy.tables import get_table
from ..errors import InputFormatError
from ..eval.dataset import discover
from ..eval.render import format_csv, format_text, save_plot
from ..eval.results import ResultsHeader, ResultsWriter
from ..eval.runner import EvalJob, evaluate_all
from ..eval.summary import sorted_records, summarize
from ..files import refuse_overwriting_inputs, sha256_file, write_text_atomic
from ..jit import threads_per_worker
from ..network.loading import load_network
from .base import EventsimCommand, InputPath, Interrupted, OutputPath, emit_json, say_written
from .options import binning_options, input_options, precision_option, threads_option


def _classes(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [c.strip() for c in text.split(",") if c.strip()]
    if not names:
        raise click.BadParameter("expected class names separated by commas", param_hint="--classes")
    return names


@click.command("eval", cls=EventsimCommand)
@click.argument("model", type=InputPath(dir_okay=False))
@click.argument("dataset", type=InputPath())
@binning_options
@precision_option
@click.option("--energy-table", "energy_table", type=InputPath(dir_okay=False), metavar="NAME|FILE",
              help="Cost table for the energy per sample (see `eventsim energy`; default horowitz45-fp32).")
@click.option("--limit", type=click.IntRange(min=1), metavar="N",
              help="Evaluate only the first N samples of every class (in file name order).")
@click.option("--classes", metavar="A,B,...", help="Evaluate only these classes (folder names or "
              "manifest labels); labels keep their index among all classes.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes on this machine (each loads the model once).")
@click.option("--isolate/--no-isolate", default=True, show_default=True,
              help="Run samples in worker processes, also with one worker: a sample that crashes "
                   "its process (segfault, abort, out-of-memory kill) is recorded as failed and "
                   "a new worker goes on. --no-isolate runs one worker in this process (for "
                   "debugging and profiling).")
@threads_option
@click.option("--scheduler", metavar="ADDRESS",
              help="Run on an existing Dask distributed cluster (e.g. tcp://host:8786); the "
                   "workers must see MODEL and the samples at the same paths. Needs eventsim[dask].")
@click.option("--results", "results_path", type=OutputPath(), metavar="FILE.jsonl",
              help="Append every sample's result to this JSON-lines file as it completes, so an "
                   "interrupted run can be resumed.")
@click.option("--resume", is_flag=True,
              help="Continue the evaluation in --results FILE: skip the samples already in it "
                   "(refused if the model, samples or options differ).")
@click.option("--json", "json_out", type=OutputPath(), metavar="PATH|-",
              help="Write the summary and every sample's result as JSON ('-' = stdout, no text).")
@click.option("--csv", "csv_out", type=OutputPath(), metavar="PATH|-",
              help="Write one CSV row per sample ('-' = stdout).")
@click.option("--plot", type=OutputPath(), metavar="PATH",
              help="Save a figure (confusion matrix, SOPs per sample); .png, .svg or .pdf.")
@click.option("--slowest", type=click.IntRange(min=0), default=5, show_default=True,
              help="How many of the slowest samples to list.")
def eval_cmd(model, dataset, timesteps, bin_us, method, keep_partial, polarity, crop, downscale,
             precision, energy_table, limit, classes, workers, isolate, threads, scheduler,
             results_path, resume, json_out, csv_out, plot, slowest) -> None:
    """Evaluate MODEL on every sample of DATASET: accuracy, spikes, SOPs and energy per sample.

    DATASET is a folder with one sub-folder per class (N-MNIST / N-Caltech101 layout) or a
    .csv/.json manifest of path,label (relative paths are relative to the manifest). Labels of
    class folders: when every folder name is an integer, that integer is the label (folders 0
    and 4 are classes 0 and 4); otherwise class k is the k-th folder in sorted name order. The
    summary prints the mapping. Samples are event files in any supported format or .npy/.png
    frames for frame-input models; files with other extensions whose content is not recognised
    (notes.txt, .DS_Store) are skipped and counted. One unreadable sample is reported and
    counted, never fatal.

    Prints the accuracy, per-class accuracy, the confusion matrix, mean/std/percentiles of spikes
    and SOPs per layer and of energy per sample, and the slowest samples. Results per sample are
    identical whatever --workers / --threads / --scheduler, and always listed in sample order.

    Threads: each of the --workers processes runs the engine on cores // workers threads (at
    least 1) unless --threads is given; workers x threads may not exceed the cores. On a Dask
    cluster every task runs on --threads threads (default 1: Dask runs one task per worker thread).
    """
    if resume and not results_path:
        raise click.UsageError("--resume needs --results FILE")
    if scheduler is not None and workers != 1:
        raise click.UsageError("give --workers or --scheduler, not both (Dask sizes its own workers)")
    if json_out == "-" and csv_out == "-":
        raise click.UsageError("--json - and --csv - both write to stdout; give a file to one")
    if plot:
        check_plot_path(plot)  # before hours of work, not after
    try:
        threads = threads if scheduler is not None else threads_per_worker(workers, threads)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if scheduler is not None and threads is None:
        threads = 1
    options = input_options(timesteps, bin_us, method, keep_partial, polarity, crop, downscale)
    table = get_table(energy_table)  # a bad table fails before the run
    net = load_network(model)  # a bad model fails here, not in every worker
    n_outputs = net.output_population.size
    data = discover(dataset, limit=limit, classes=_classes(classes), n_outputs=n_outputs)
    refuse_overwriting_inputs([results_path, json_out, csv_out, plot], [s.path for s in data.samples])
    header = ResultsHeader(model=model, model_sha256=sha256_file(model), dataset=dataset,
                           dataset_sha256=data.digest(), samples=len(data.samples),
                           options={**options.to_dict(), "precision": precision, "energy_table": table.name})
    job = EvalJob(model=os.path.abspath(model), precision=precision, options=options,
                  energy_table=energy_table, threads=threads)
    writer = ResultsWriter(results_path, header, resume) if results_path else None
    if writer and writer.dropped:
        click.echo(f"warning: {results_path}: dropped torn line(s) {', '.join(map(str, writer.dropped))} "
                   "(left by a killed run); those samples run again", err=True)
    records = list(writer.done.values()) if writer else []
    todo = [s for s in data.samples if not writer or s.index not in writer.done]
    try:
        _run(job, todo, records, writer, len(data.samples), workers, scheduler, isolate)
    except KeyboardInterrupt as exc:  # SIGINT or SIGTERM: say where the finished samples are
        where = (f"; {len(records):,} of {len(data.samples):,} samples are in {results_path}, "
                 "rerun with --resume to continue") if writer else ""
        raise Interrupted(exc, where) from None
    finally:
        if writer:
            writer.close()
    records = sorted_records(records)
    doc = {"model": model, "model_name": net.name, "model_sha256": header.model_sha256,
           "dataset": dataset, "precision": precision, "energy_table": table.name,
           "options": options.to_dict(), "labels": data.label_rule, "skipped": list(data.skipped),
           **summarize(records, data.classes, n_outputs, slowest)}
    if json_out:
        emit_json({**doc, "results": records}, json_out)
    if csv_out:
        write_text_atomic(csv_out, format_csv(records, list(net.order)))
        say_written(csv_out)
    if plot:
        save_plot(doc, records, plot)
        say_written(plot)
    say_written(results_path)
    if "-" not in (json_out, csv_out):
        click.echo(format_text(doc))
    if not doc["evaluated"]:
        raise InputFormatError(f"{dataset}: no sample could be evaluated (first: "
                               f"{doc['failed'][0]['path']}: {doc['failed'][0]['error']})")


def _run(job, todo, records, writer, total, workers, scheduler, isolate) -> None:
    """Evaluate ``todo``, appending each record to ``records`` (and ``writer``) as it arrives."""
    bar = tqdm(total=total, initial=total - len(todo), desc="evaluating", unit="sample", file=sys.stderr,
               disable=not sys.stderr.isatty() or not todo, dynamic_ncols=True)
    correct = sum(1 for r in records if r.get("correct"))
    errors = sum(1 for r in records if "error" in r)
    # closing: the workers stop here, also when this loop is left by an exception
    with bar, closing(evaluate_all(job, todo, workers=workers, scheduler=scheduler, isolate=isolate)) as recs:
        for rec in recs:
            if writer:
                writer.append(rec)
            records.append(rec)
            correct += bool(rec.get("correct"))
            errors += "error" in rec
            done = len(records) - errors
            bar.set_postfix(acc=f"{correct / done:.3f}" if done else "-", errors=errors, refresh=False)
            bar.update(1)
