"""Online collection: the rapid-categorization experiment and the ClickMe game in the browser.

``clickme serve`` (:mod:`~experiments.online.cli`) runs a FastAPI application
(:mod:`~experiments.online.app`: routers :mod:`~experiments.online.pages`,
:mod:`~experiments.online.participants`, :mod:`~experiments.online.admin`; request models
:mod:`~experiments.online.schemas`; body limits, timeouts and headers
:mod:`~experiments.online.guard`) over the lab versions' configurations
(:mod:`~experiments.online.tasks`), storing each post in SQLite or PostgreSQL
(:mod:`~experiments.online.storage`); ``clickme serve export`` writes the PsychoPy versions'
files (:mod:`~experiments.online.export`). The pages and their jsPsych plugins are in ``web/``.
FastAPI, SQLAlchemy and uvicorn are imported inside the functions that need them, or by the
modules of the running server only.
"""
