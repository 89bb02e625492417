"""Open anomalies: incidents of the month nobody has marked yet (costlens's anomaly scan).

Each one unmarked costs 0.2 of the score: one is a B, three a D.

>>> KPI.name, KPI.score(0), round(KPI.score(3), 2)
('open_anomalies', 1.0, 0.4)
"""

from decimal import Decimal

from costlens.scorecards.model import Kpi

KPI = Kpi(
    "open_anomalies",
    "Open anomalies",
    "Incidents active in the month that are not marked yet.",
    unit="count",
    direction="lower",
    default_goal=Decimal("0"),
    group="governance",
    cid="costlens's own",
)
