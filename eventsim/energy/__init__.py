"""SOP and energy reports: cost tables with citations, report building, rendering and plots.

Modules: ``tables`` (cost tables, user table files), ``compare`` (how other tools count),
``report`` (the report dict), ``render`` (text / JSON / CSV / Markdown), ``plots`` (matplotlib,
optional).
"""
