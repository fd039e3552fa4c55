"""Background jobs of the repairs app (the worker imports every installed app's ``tasks`` module)."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from houqin.core.jobs import job, periodic
from houqin.repairs import sla


@periodic(timedelta(minutes=5))
@job("标记超时报修单")
def flag_overdue_orders(ctx) -> dict:
    """Every five minutes: set the late flags of open work orders whose running clock has passed its due time
    (the reminders themselves go out through core's reminder engine)."""
    flagged = sla.flag_overdue()
    return {"message": f"新标记超时报修单 {flagged} 次"}


# The inspection plans keep their periodic job in their own module: import it so that the worker registers it.
with contextlib.suppress(ImportError):
    from houqin.repairs import inspections  # noqa: F401
