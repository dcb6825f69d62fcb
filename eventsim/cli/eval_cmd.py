"""``eventsim eval``: accuracy and per-sample counts of a model over a labelled dataset."""

from __future__ import annotations

import os
import sys
import time
from contextlib import closing
from dataclasses import dataclass

import click
from tqdm import tqdm

from ..energy.plots import check_plot_path
from ..energy.tables import CostTable, get_table
from ..errors import InputFormatError
from ..eval.dataset import Dataset, discover
from ..eval.render import format_csv, format_sweep_csv, format_text, save_plot
from ..eval.results import ResultsHeader, ResultsWriter, check_results_file
from ..eval.runner import EvalJob, evaluate_all
from ..eval.summary import sorted_records, summarize, throughput
from ..eval.sweep import check_sweep_binning, format_sweep, results_path_for, save_sweep_plot, sweep_document
from ..files import refuse_overwriting_inputs, resolve_output, sha256_file, write_text_atomic
from ..inputs import InputOptions
from ..jit import threads_per_worker
from ..network.loading import load_network
from .base import EventsimCommand, InputPath, OutputPath, emit_json, interruption, say_written
from .options import input_options, precision_option, sweep_binning_options, threads_option


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
@sweep_binning_options
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
                   "interrupted run can be resumed. A sweep (-T 1,2,4) keeps one file per T, named "
                   "by inserting .T<k> before the suffix (r.jsonl -> r.T1.jsonl, r.T2.jsonl, "
                   "r.T4.jsonl): each is the results file of `eval -T k`.")
@click.option("--resume", is_flag=True,
              help="Continue the evaluation in --results FILE: skip the samples already in it "
                   "(refused if the model, samples or options differ). A sweep continues every T's "
                   "file (a missing one starts).")
@click.option("--json", "json_out", type=OutputPath(), metavar="PATH|-",
              help="Write the summary and every sample's result as JSON ('-' = stdout, no text). A "
                   "sweep writes the table's rows and, per T, the document of `eval -T k --json`.")
@click.option("--csv", "csv_out", type=OutputPath(), metavar="PATH|-",
              help="Write one CSV row per sample ('-' = stdout); a sweep writes every T's rows, "
                   "each led by a column T.")
@click.option("--plot", type=OutputPath(), metavar="PATH",
              help="Save a figure (confusion matrix, SOPs per sample, decision steps; a sweep: "
                   "accuracy, SOPs and energy per sample against T); .png, .svg or .pdf.")
@click.option("--slowest", type=click.IntRange(min=0), default=5, show_default=True,
              help="How many of the slowest samples to list.")
@click.option("-q", "--quiet", is_flag=True, help="No warnings (e.g. T differs from the model's trained T).")
def eval_cmd(model, dataset, timesteps, bin_us, method, keep_partial, polarity, crop, downscale,
             precision, energy_table, limit, classes, workers, isolate, threads, scheduler,
             results_path, resume, json_out, csv_out, plot, slowest, quiet) -> None:
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
    and SOPs per layer and of energy per sample, the latency (decision step: the first step after
    which the prediction no longer changes; for spike-count outputs the first output spike) as
    statistics and a histogram per step, the throughput (samples per second of wall time) and
    the slowest samples. Results per sample are identical whatever --workers / --threads /
    --scheduler, and always listed in sample order.

    Sweep of T: -T 1,2,4,8 evaluates the dataset at every T, each exactly as `eval -T k` alone,
    and prints one table (accuracy, SOPs and energy per sample, mean decision step, samples/s
    per T). With --bin-us N every T is a number of N-microsecond windows (the first T*N us of
    each recording); a sweep refuses --binning time/count with --bin-us (N would be ignored) and
    --binning window without it. --results FILE keeps one file per T (see --results); the
    samples/s of every T include starting its workers.

    Threads: each of the --workers processes runs the engine on cores // workers threads (at
    least 1) unless --threads is given; workers x threads may not exceed the cores. On a Dask
    cluster every task runs on --threads threads (default 1: Dask runs one task per worker thread).
    """
    values: tuple[int | None, ...] = tuple(timesteps) if timesteps else (None,)
    sweep = len(values) > 1
    if resume and not results_path:
        raise click.UsageError("--resume needs --results FILE")
    if scheduler is not None and workers != 1:
        raise click.UsageError("give --workers or --scheduler, not both (Dask sizes its own workers)")
    if json_out == "-" and csv_out == "-":
        raise click.UsageError("--json - and --csv - both write to stdout; give a file to one")
    if sweep and results_path == "-":
        raise click.UsageError("a sweep of T writes one --results file per T; give a file name")
    if sweep:
        check_sweep_binning(tuple(t for t in values if t is not None), bin_us, method)
    if plot:
        check_plot_path(plot)  # before hours of work, not after
    try:
        threads = threads if scheduler is not None else threads_per_worker(workers, threads)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if scheduler is not None and threads is None:
        threads = 1
    table = get_table(energy_table)  # a bad table fails before the run
    net = load_network(model)  # a bad model fails here, not in every worker
    other_t = [t for t in values if t is not None and t != net.timesteps]
    if other_t and net.input.kind == "events" and not quiet:
        click.echo(f"warning: T={','.join(map(str, other_t))}; the model was trained with T={net.timesteps} "
                   "(outputs scale with the number of steps)", err=True)
    n_outputs = net.output_population.size
    data = discover(dataset, limit=limit, classes=_classes(classes), n_outputs=n_outputs)
    ev = _Evaluation(model=model, dataset=dataset, data=data, n_outputs=n_outputs, precision=precision,
                     table=table, energy_table=energy_table, model_sha256=sha256_file(model),
                     workers=workers, threads=threads, scheduler=scheduler, isolate=isolate,
                     slowest=slowest, resume=resume)
    runs = [(input_options(t, bin_us, method, keep_partial, polarity, crop, downscale),
             results_path_for(results_path, t) if sweep and results_path and t else results_path)
            for t in values]
    sweep_files = runs if sweep and results_path else []
    for _, path in sweep_files:  # the option's own name was checked by click, these are derived
        resolve_output(path)
    # the derived results files of a sweep were not seen by EventsimCommand: model and dataset too
    refuse_overwriting_inputs([path for _, path in runs] + [json_out, csv_out, plot],
                              [model, dataset] + [s.path for s in data.samples])
    for options, path in sweep_files:  # every T's file, before the first T runs
        check_results_file(path, ev.header(options), resume)
    head = {"model": model, "model_name": net.name, "model_sha256": ev.model_sha256, "dataset": dataset,
            "precision": precision, "energy_table": table.name}
    docs = []
    for options, path in runs:
        doc = {**head, "options": options.to_dict(), "labels": data.label_rule,
               "skipped": list(data.skipped), **ev.run(options, path)}
        docs.append(doc)
    if sweep:
        _write_sweep(head, docs, net, json_out, csv_out, plot)
    else:
        _write(docs[0], net, json_out, csv_out, plot)
    for _, path in runs:
        say_written(path)
    if "-" not in (json_out, csv_out):
        click.echo(format_sweep(head, docs) if sweep else format_text(docs[0]))
    if not any(doc["evaluated"] for doc in docs):
        failed = docs[0]["failed"][0]
        raise InputFormatError(f"{dataset}: no sample could be evaluated (first: "
                               f"{failed['path']}: {failed['error']})")


def _write(doc: dict, net, json_out, csv_out, plot) -> None:
    """The outputs of one evaluation (``doc["results"]``: its records)."""
    records = doc["results"]
    if json_out:
        emit_json(doc, json_out)
    if csv_out:
        write_text_atomic(csv_out, format_csv(records, list(net.order)))
        say_written(csv_out)
    if plot:
        save_plot(doc, records, plot)
        say_written(plot)


def _write_sweep(head: dict, docs: list[dict], net, json_out, csv_out, plot) -> None:
    """The outputs of a sweep: every T's document, every T's rows, the figure against T."""
    if json_out:
        emit_json(sweep_document(head, docs), json_out)
    if csv_out:
        groups = [(doc["options"]["timesteps"], doc["results"]) for doc in docs]
        write_text_atomic(csv_out, format_sweep_csv(groups, list(net.order)))
        say_written(csv_out)
    if plot:
        save_sweep_plot(docs, plot)
        say_written(plot)


@dataclass(frozen=True)
class _Evaluation:
    """What every T of an evaluation shares: the model, the samples and where they run."""

    model: str
    dataset: str
    data: Dataset
    n_outputs: int
    precision: str
    table: CostTable
    energy_table: str | None
    model_sha256: str
    workers: int
    threads: int | None
    scheduler: str | None
    isolate: bool
    slowest: int
    resume: bool

    def header(self, options: InputOptions) -> ResultsHeader:
        return ResultsHeader(model=self.model, model_sha256=self.model_sha256, dataset=self.dataset,
                             dataset_sha256=self.data.digest(), samples=len(self.data.samples),
                             options={**options.to_dict(), "precision": self.precision,
                                      "energy_table": self.table.name})

    @property
    def mode(self) -> str:
        if self.scheduler is not None:
            return "dask"
        return "in-process" if not self.isolate and self.workers <= 1 else "processes"

    def run(self, options: InputOptions, results_path: str | None) -> dict:
        """Evaluate every sample with ``options``: the summary, its throughput and the records
        (``results``), continuing ``results_path`` on --resume."""
        samples = self.data.samples
        job = EvalJob(model=os.path.abspath(self.model), precision=self.precision, options=options,
                      energy_table=self.energy_table, threads=self.threads)
        writer = ResultsWriter(results_path, self.header(options), self.resume) if results_path else None
        if writer and writer.dropped:
            click.echo(f"warning: {results_path}: dropped torn line(s) {', '.join(map(str, writer.dropped))} "
                       "(left by a killed run); those samples run again", err=True)
        records = list(writer.done.values()) if writer else []
        todo = [s for s in samples if not writer or s.index not in writer.done]
        start = time.perf_counter()
        try:
            _run(job, todo, records, writer, len(samples), self.workers, self.scheduler, self.isolate)
        except KeyboardInterrupt as exc:  # SIGINT or SIGTERM: say where the finished samples are
            where = (f"; {len(records):,} of {len(samples):,} samples are in {results_path}, "
                     "rerun with --resume to continue") if writer else ""
            raise interruption(exc, where) from None
        finally:
            if writer:
                writer.close()
        seconds = time.perf_counter() - start
        records = sorted_records(records)
        return {**summarize(records, self.data.classes, self.n_outputs, self.slowest),
                "throughput": throughput(len(todo), seconds, self.mode, self.workers, self.threads),
                "results": records}


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
