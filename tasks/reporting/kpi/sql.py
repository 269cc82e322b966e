"""SQL building blocks shared by the KPI queries, portable to SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Float, String, and_, exists, literal, select, true
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased
from sqlalchemy.sql.functions import FunctionElement

from problemflow.models.base import UTCDateTime
from problemflow.models.incident import Incident
from problemflow.models.problem import Problem, ProblemIncident
from problemflow.tasks.reporting.kpi.schemas import Period, Scope

HOUR = 3600.0


class seconds_between(FunctionElement):
    """``end - start`` in seconds, as a float, for two timestamp expressions."""

    type = Float()
    name = "seconds_between"
    inherit_cache = True


@compiles(seconds_between)
def _seconds_between_default(element, compiler, **kw):
    end, start = list(element.clauses)
    return (
        f"EXTRACT(EPOCH FROM ({compiler.process(end, **kw)} - {compiler.process(start, **kw)}))"
    )


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element, compiler, **kw):
    end, start = list(element.clauses)
    return (
        f"((julianday({compiler.process(end, **kw)}) - "
        f"julianday({compiler.process(start, **kw)})) * 86400.0)"
    )


class utc_day(FunctionElement):
    """The UTC calendar day of a timestamp as ``YYYY-MM-DD`` text."""

    type = String()
    name = "utc_day"
    inherit_cache = True


@compiles(utc_day)
def _utc_day_default(element, compiler, **kw):
    (value,) = list(element.clauses)
    return f"to_char(({compiler.process(value, **kw)}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


@compiles(utc_day, "sqlite")
def _utc_day_sqlite(element, compiler, **kw):
    (value,) = list(element.clauses)
    return f"date({compiler.process(value, **kw)})"


def instant(value: datetime) -> ColumnElement:
    """A timestamp literal typed like our columns (UTC on both databases)."""
    return literal(value, type_=UTCDateTime())


def within(column, period: Period) -> ColumnElement[bool]:
    return and_(column >= period.start, column < period.end)


def hours(seconds: float | None) -> float | None:
    return None if seconds is None else float(seconds) / HOUR


def incident_scope(scope: Scope, incident=Incident) -> ColumnElement[bool]:
    """Conditions on an incident for the scope (true when the scope is empty)."""
    conditions = []
    if scope.service:
        conditions.append(incident.service == scope.service)
    if scope.category:
        conditions.append(incident.category == scope.category)
    if scope.team:
        conditions.append(incident.assignment_group == scope.team)
    return and_(true(), *conditions)


def problem_scope(scope: Scope, problem_id) -> ColumnElement[bool]:
    """Conditions on a problem id for the scope.

    The team is the problem's assignment group; a service or category matches
    when at least one linked incident has it.
    """
    conditions = []
    if scope.team:
        owner = aliased(Problem)
        conditions.append(
            exists().where(owner.id == problem_id, owner.assignment_group == scope.team)
        )
    if scope.service or scope.category:
        link, linked_incident = aliased(ProblemIncident), aliased(Incident)
        linked = (
            select(link.problem_id)
            .join(linked_incident, linked_incident.id == link.incident_id)
            .where(
                link.problem_id == problem_id,
                incident_scope(Scope(service=scope.service, category=scope.category), linked_incident),
            )
        )
        conditions.append(linked.exists())
    return and_(true(), *conditions)
