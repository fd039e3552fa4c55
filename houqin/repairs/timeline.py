"""A work order's log as a timeline for its pages (one query)."""

from __future__ import annotations

from houqin.repairs.models import EventAction, WorkOrder

ICONS = {
    EventAction.REPORT: "ti ti-speakerphone", EventAction.MERGE: "ti ti-link", EventAction.DISPATCH: "ti ti-user-share",
    EventAction.TAKE: "ti ti-hand-grab", EventAction.ACCEPT: "ti ti-check", EventAction.START: "ti ti-tool",
    EventAction.WAIT_PARTS: "ti ti-package", EventAction.RESUME: "ti ti-player-play",
    EventAction.OUTSIDE: "ti ti-building-store", EventAction.OUTSIDE_APPROVED: "ti ti-circle-check",
    EventAction.OUTSIDE_REFUSED: "ti ti-circle-x", EventAction.COMPLETE: "ti ti-circle-check",
    EventAction.SIGN_OFF: "ti ti-star", EventAction.COMPLAIN: "ti ti-mood-sad", EventAction.VISIT: "ti ti-phone-call",
    EventAction.REJECT: "ti ti-ban", EventAction.CANCEL: "ti ti-x", EventAction.HAND_BACK: "ti ti-arrow-back-up",
    EventAction.CLASSIFY: "ti ti-adjustments", EventAction.NOTE: "ti ti-note",
}
LIMIT = 200


def timeline(order: WorkOrder, *, newest_first: bool = False) -> list[dict]:
    events = order.events.order_by("time", "pk")
    rows = []
    for event in events[:LIMIT]:
        detail = ""
        data = event.data or {}
        if event.action == EventAction.DISPATCH and data.get("assignee"):
            detail = f"派给 {data['assignee']}"
        elif event.action == EventAction.SIGN_OFF and data.get("rating"):
            detail = "★" * int(data["rating"])
        elif event.action == EventAction.OUTSIDE and data.get("contractor"):
            detail = f"{data['contractor']}，报价 {data.get('quote', '')} 元，审批单 {data.get('approval', '')}"
        elif event.action == EventAction.CLASSIFY:
            detail = "；".join(f"{k}：{v[0]} → {v[1]}" for k, v in data.items() if isinstance(v, list) and len(v) == 2)
        rows.append({
            "time": event.time, "label": event.get_action_display(), "icon": ICONS.get(event.action, "ti ti-point"),
            "actor": event.actor_name, "reason": event.reason, "detail": detail,
            "state": event.get_to_state_display() if event.to_state and event.to_state != event.from_state else "",
        })
    return list(reversed(rows)) if newest_first else rows
