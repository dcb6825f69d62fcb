"""SOP and energy reports: cost tables with citations, report building, rendering and plots.

Modules: ``tables`` (cost tables, user table files), ``compare`` (how other tools count),
``report`` (the report dict), ``memory`` (memory-aware energy, Lemaire et al. 2022),
``neurobench`` (NeuroBench's metrics), ``footprint`` (what a chip must hold), ``render`` (text /
JSON / CSV / Markdown), ``plots`` (matplotlib, optional).
"""
