"""The Gradio app around the engine (imports gradio; the core in ``advisor/`` does not).

- :mod:`advisor.app.lifecycle`: :class:`EngineHolder`, loading the engine in the
  background and building a missing index.
- :mod:`advisor.app.process`: settings of the serving process (malloc arenas and trim,
  Gradio's per-event monitoring and matplotlib import).
- :mod:`advisor.app.handlers`: :class:`AdvisorApp`, one checked request in
  (:func:`advisor.request.make_request`), the engine's answer out, logged.
- :mod:`advisor.app.render`: the structured answers as chat markdown, API markdown and
  tables.
- :mod:`advisor.app.api`: the three public endpoints (``/ask``, ``/recommend``,
  ``/explain_output``) with the signatures and docs the API page and MCP show, and the
  Embed & API tab's snippets.
- :mod:`advisor.app.layout`: :func:`build_demo`, one builder function per tab, the
  widget page, :func:`launch_kwargs`.
"""
