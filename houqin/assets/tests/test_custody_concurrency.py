"""Two keepers moving the same card at the same moment, on real transactions and separate connections: exactly one
succeeds, the other is refused with a reason, and the card ends up where the winner put it (SQLite and PostgreSQL).
"""

from __future__ import annotations

import datetime
import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from houqin.assets import custody, services
from houqin.assets.categories import national
from houqin.assets.choices import AssetEventCode, AssetStatus
from houqin.assets.models import Asset, AssetEvent, AssetLoan, AssetTransfer, TransferStatus
from houqin.assets.tests.factories_custody import keeper_of
from houqin.core.testing import factories as f

pytestmark = [pytest.mark.concurrency, pytest.mark.django_db(transaction=True)]


def race(jobs) -> list[str]:
    """Run each job in its own thread (its own connection), all released at once; "ok" or the refusal text."""
    results: list[str] = []
    lock = threading.Lock()
    ready = threading.Barrier(len(jobs))

    def run(job):
        try:
            asset = Asset.objects.get(pk=job["pk"])  # each keeper's own page load
            ready.wait(timeout=30)
            job["run"](asset)
            outcome = "ok"
        except ValidationError as exc:
            outcome = " ".join(exc.messages)
        except Exception as exc:  # noqa: BLE001 — reported by the assertions
            outcome = f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.fixture
def setup(world):
    keeper = keeper_of(world.a.org)
    second = f.make_user("keeper_two", full_name="甲校第二资产管理员", org=world.a.org, roles=("asset_keeper",))
    asset = services.register_asset(Asset(
        org=world.a.org, category=national("2010100"), name="争用的笔记本", unit_price=Decimal("5600.00"),
        acquired_on=datetime.date(2024, 9, 1), room=world.a.rooms[0], department=world.a.department,
        custodian=world.a.staff))
    return world, keeper, second, asset


def test_two_keepers_transferring_the_same_card_within_the_department(setup):
    world, keeper, second, asset = setup
    results = race([
        {"pk": asset.pk, "run": lambda a: custody.transfer(a, keeper, room=world.a.rooms[1], custodian=keeper)},
        {"pk": asset.pk, "run": lambda a: custody.transfer(a, second, custodian=second, reason="换人保管")},
    ])
    assert results.count("ok") == 1, results
    [refusal] = [r for r in results if r != "ok"]
    assert "已被他人变更" in refusal, results
    assert AssetTransfer.objects.count() == 1
    assert AssetEvent.objects.filter(asset=asset, code=AssetEventCode.TRANSFER).count() == 1
    winner = AssetTransfer.objects.get()
    asset.refresh_from_db()
    assert (asset.room_id, asset.custodian_id) == (winner.to_room_id, winner.to_custodian_id)


def test_two_keepers_transferring_the_same_card_to_other_departments(setup):
    world, keeper, second, asset = setup
    teaching = f.make_department(world.a.org, "甲教务处")
    moral = f.make_department(world.a.org, "甲德育处")
    results = race([
        {"pk": asset.pk, "run": lambda a: custody.transfer(a, keeper, department=teaching, reason="调岗")},
        {"pk": asset.pk, "run": lambda a: custody.transfer(a, second, department=moral, reason="调岗")},
    ])
    assert results.count("ok") == 1, results
    [refusal] = [r for r in results if r != "ok"]
    pending = AssetTransfer.objects.get()
    assert pending.status == TransferStatus.PENDING
    assert pending.approval_number in refusal and "审批" in refusal, results
    asset.refresh_from_db()
    assert asset.department == world.a.department  # nothing moves before the approval


def test_lending_and_returning_to_store_at_once(setup):
    world, keeper, second, asset = setup
    due = datetime.date.today() + datetime.timedelta(days=5)
    results = race([
        {"pk": asset.pk, "run": lambda a: custody.lend(a, keeper, borrower=world.a.staff, purpose="录课", due_on=due,
                                                        signature_later=True)},
        {"pk": asset.pk, "run": lambda a: custody.return_to_store(a, second)},
    ])
    assert results.count("ok") == 1, results
    asset.refresh_from_db()
    lent = AssetLoan.objects.exists()
    assert asset.status == (AssetStatus.LENT if lent else AssetStatus.IDLE)
    assert AssetEvent.objects.filter(asset=asset).exclude(code=AssetEventCode.REGISTER).count() == 1
