from django.db import models


class DocumentSequence(models.Model):
    """The last number issued for one (organisation, document type, period). See houqin.core.numbering."""

    org = models.ForeignKey("core.Organization", on_delete=models.PROTECT, related_name="+")
    doc_type = models.CharField("单据类型", max_length=20)
    period = models.CharField("期间", max_length=8, help_text="年（2026）或日（20260301）")
    last_value = models.PositiveIntegerField("最后编号", default=0)

    class Meta:
        verbose_name = "单据编号序列"
        verbose_name_plural = "单据编号序列"
        constraints = [models.UniqueConstraint(fields=["org", "doc_type", "period"], name="docseq_unique")]

    def __str__(self):
        return f"{self.doc_type}-{self.period}: {self.last_value}"
