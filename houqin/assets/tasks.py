"""Background jobs of the assets app (the worker imports every installed app's ``tasks`` module)."""

from __future__ import annotations

from houqin.core.jobs import job, periodic


@periodic("daily at 00:30")
@job("更新资产分析统计")
def rebuild_asset_analytics(ctx) -> dict:
    """Every night, after the date changed: recompute every school's kept analytics figures (age bands, useful life
    and long idle depend on the day), so that the first county view of the day finds them current."""
    from houqin.assets import analytics_summary

    count = analytics_summary.rebuild_all(only_outdated=True)
    return {"message": f"已更新 {count} 所学校的资产分析统计"}
