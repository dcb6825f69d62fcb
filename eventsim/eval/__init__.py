"""Dataset evaluation: find labelled samples, run them (locally, in processes or on Dask), summarise.

``dataset`` finds the samples, ``sample`` runs one file and makes its record, ``runner`` executes
many, ``results`` keeps them in a resumable JSON-lines file, ``summary`` computes the statistics
and ``render`` prints them. ``eventsim eval`` (``cli/eval_cmd.py``) strings them together.
``stream`` classifies one long recording or live stream over time (``eventsim run --window-us`` /
``--continuous``): windows, continuous state, timelines, real-time pacing.
"""
