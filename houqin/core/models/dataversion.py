"""The data version behind kept pages (houqin.core.pagecache)."""

from __future__ import annotations

from django.db import models


class DataVersion(models.Model):
    """One row (id 1): ``version`` goes up with every write to the database; ``epoch`` is drawn once per database,
    so a new or restored database never meets the pages kept for another."""

    version = models.BigIntegerField("数据版本", default=0)
    epoch = models.CharField("数据库标识", max_length=32)

    class Meta:
        verbose_name = "数据版本"
        verbose_name_plural = verbose_name
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.epoch}:{self.version}"
