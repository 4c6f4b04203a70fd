"""For the advisor's maintainers: the query log and what is read from it.

- :mod:`advisor.maintainers.querylog`: every question, search and explanation with its
  outcome and feedback, in SQLite (optionally synced to a Hub dataset).
- :mod:`advisor.maintainers.insights`: aggregations over the log (categories over time,
  recurring questions, disliked answers, coverage gaps with a suggested fix).
- :mod:`advisor.maintainers.trends`: the SANER 2024 study's own trend tables.

The Insights tab (:mod:`advisor.app.layout`) shows them; nothing here answers questions.
"""
