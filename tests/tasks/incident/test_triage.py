"""Identification, categorization and prioritization with the shipped rules."""

from __future__ import annotations

import pytest

from problemflow.models.enums import IncidentSource, Level, Priority
from problemflow.models.incident import IncidentCreate
from problemflow.models.states import priority_for
from problemflow.tasks.incident import categorize, get_rules, identify, prioritize, triage
from problemflow.tasks.incident.rules import DEFAULT_RULES_FILE, Rules


def alert(alertname: str, severity: str = "warning", title: str | None = None, **labels) -> IncidentCreate:
    return IncidentCreate(
        title=title or alertname,
        source=IncidentSource.alertmanager,
        labels={"alertname": alertname, "severity": severity, **labels},
    )


@pytest.mark.parametrize(
    ("alertname", "category", "subcategory", "group"),
    [
        ("NodeFilesystemAlmostOutOfSpace", "Infrastructure", "Storage", "infrastructure"),
        ("HostOutOfMemory", "Infrastructure", "Memory", "infrastructure"),
        ("NodeCPUHighUsage", "Infrastructure", "CPU", "infrastructure"),
        ("InstanceDown", "Infrastructure", "Host availability", "infrastructure"),
        ("ApiHighErrorRate", "Application", "HTTP errors", "application-support"),
        ("CheckoutLatencyHigh", "Application", "Latency", "application-support"),
        ("PostgresqlReplicationLag", "Database", "Replication", "database"),
        ("PostgresqlTooManyConnections", "Database", "Connections", "database"),
        ("PostgresqlDown", "Database", "Availability", "database"),
        ("SSLCertExpiringSoon", "Security", "Certificate expiry", "security"),
        ("KubePodCrashLooping", "Kubernetes", "Pod crash looping", "platform"),
        ("KubernetesContainerOomKiller", "Kubernetes", "Out of memory", "platform"),
        ("VeleroBackupPartialFailures", "Backup", "Backup failure", "infrastructure"),
    ],
)
def test_common_alerts_are_categorized_and_routed(alertname, category, subcategory, group):
    result = triage(alert(alertname))
    assert (result.category, result.subcategory, result.assignment_group) == (category, subcategory, group)


def test_alertname_match_ignores_case_and_keywords_need_whole_words():
    assert triage(alert("kubepodcrashlooping")).subcategory == "Pod crash looping"
    desk = IncidentCreate(title="Printer in room 4 says the toner is low", source="service_desk")
    assert triage(desk).category is None  # "slow" must not match inside "low" and nothing else fits
    assert triage(IncidentCreate(title="Intranet is SLOW today")).subcategory == "Latency"
    assert triage(IncidentCreate(title="No  space\nleft on device /var")).subcategory == "Storage"


def test_service_and_configuration_item_come_from_labels():
    result = identify(alert("InstanceDown", instance="web-3:9100", job="node"))
    assert (result.service, result.configuration_item) == ("node", "web-3:9100")
    kept = identify(alert("InstanceDown", instance="web-3:9100").model_copy(update={"service": "shop"}))
    assert kept.service == "shop"


def test_team_and_owner_labels_route_the_incident():
    result = triage(alert("InstanceDown", team="payments", owner="ana"))
    assert (result.assignment_group, result.owner) == ("payments", "ana")
    db = triage(IncidentCreate(title="Something odd", service="orders-postgres"))
    assert db.assignment_group == "database"


def test_explicit_values_are_kept():
    given = IncidentCreate(
        title="Disk full on db1", category="Storage team issue", assignment_group="dba",
        impact=Level.low, urgency=Level.low, labels={"severity": "critical"},
    )
    result = triage(given)
    assert (result.category, result.assignment_group) == ("Storage team issue", "dba")
    assert (result.impact, result.urgency) == (Level.low, Level.low)


def test_given_category_only_takes_details_from_rules_of_that_category():
    result = categorize(IncidentCreate(title="replication lag on orders", category="database"))
    assert (result.category, result.subcategory) == ("database", "Replication")
    other = categorize(IncidentCreate(title="replication lag on orders", category="Network"))
    assert other.subcategory is None


@pytest.mark.parametrize(
    ("severity", "priority"),
    [
        ("critical", Priority.critical),
        ("CRITICAL", Priority.critical),
        ("page", Priority.critical),
        ("high", Priority.high),
        ("error", Priority.high),  # PagerDuty
        ("warning", Priority.moderate),
        ("info", Priority.low),
        ("low", Priority.low),
        ("none", Priority.planning),
        ("something-else", Priority.moderate),  # unknown: the defaults stay
    ],
)
def test_severity_gives_priority_by_the_matrix(severity, priority):
    result = prioritize(alert("SomethingOdd", severity=severity))
    assert priority_for(result.impact, result.urgency) == priority


def test_priority_rules_override_severity():
    staging = prioritize(alert("InstanceDown", severity="critical", environment="staging"))
    assert (staging.impact, staging.urgency) == (Level.low, Level.high)
    assert priority_for(staging.impact, staging.urgency) == Priority.moderate
    everyone = prioritize(IncidentCreate(title="Email down for everyone", source="service_desk"))
    assert everyone.impact == Level.high
    # the same words in an alert do not raise impact: that rule is for people
    assert prioritize(alert("MailDown", title="Email down for everyone")).impact == Level.medium


def test_explicit_impact_wins_but_urgency_still_follows_severity():
    given = IncidentCreate(title="x", impact=Level.low, labels={"severity": "critical"})
    result = prioritize(given)
    assert (result.impact, result.urgency) == (Level.low, Level.high)


def test_triage_does_not_change_its_input_and_is_repeatable():
    original = alert("NodeFilesystemAlmostOutOfSpace", severity="critical", instance="db1")
    snapshot = original.model_dump()
    first = triage(original)
    assert original.model_dump() == snapshot
    assert triage(first) == first


def test_custom_rules_in_memory():
    rules = Rules.from_toml(
        """
        [severity]
        sev-a = { impact = "high", urgency = "high" }
        [[category]]
        name = "payments"
        when.services = ["pay*"]
        when.labels = { region = "eu-.*" }
        category = "Payments"
        assignment_group = "payments-eu"
        """
    )
    hit = triage(IncidentCreate(title="x", service="payments", labels={"region": "eu-west", "severity": "SEV-A"}), rules)
    assert (hit.category, hit.assignment_group, hit.impact) == ("Payments", "payments-eu", Level.high)
    miss = triage(IncidentCreate(title="x", service="payments", labels={"region": "us-east"}), rules)
    assert miss.category is None


def test_shipped_rules_load_and_are_cached():
    rules = get_rules(DEFAULT_RULES_FILE)
    assert rules is get_rules(DEFAULT_RULES_FILE)
    assert rules.categories and rules.routes and rules.priorities and "critical" in rules.severity
